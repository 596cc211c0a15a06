#!/usr/bin/env bash
# Starts a pair of hotline nodes, one active and one hot standby, on one PostgreSQL log and
# behind Kamailio, on this machine, to try the topology of docs/high-availability.md: phones
# and callers use the proxy's address only.
#
#   Kamailio  udp 127.0.0.1:5070       (what phones register with and carriers call)
#   node A    SIP 127.0.0.1:5081, HTTP http://127.0.0.1:8081   (takes the routing lease first)
#   node B    SIP 127.0.0.1:5082, HTTP http://127.0.0.1:8082   (the standby: takes over)
#   HAProxy   http://127.0.0.1:8080    (the pages and the API of whichever node leads;
#                                       only when Debian's `haproxy` is installed)
#   PostgreSQL  $HOTLINE_DATABASE, or a primary and its synchronous standby under
#               pg_auto_failover, started by scripts/ha-database.sh in $HA_DIR/database
#
# Each node runs the demo centre with `[cluster]` (node `a` or `b`) and its own data
# directory (recordings) under $HA_DIR (default ./ha-pair). A node that loses the lease
# exits with status 75, a node killed by a signal with 128 + its number: either way the
# script starts it again (as a standby while the other leads), as a service manager would.
# A node that stopped cleanly, or failed with an error (a bad configuration, say), stays
# down and its log says why. Ctrl-C stops everything. Needs Debian's `kamailio`, a built `hotline` ($HOTLINE,
# else target/release/hotline, target/debug/hotline, or hotline on the PATH), and, without
# $HOTLINE_DATABASE, pg_auto_failover (see scripts/ha-database.sh). Of the two builds the
# newer is taken.
#
# Try: register a softphone as 1001 / pass1001 at 127.0.0.1:5070, log the agent in at
# http://127.0.0.1:8080 (or node A's http://127.0.0.1:8081 without HAProxy), call sip:95588@127.0.0.1:5070; then `kill -9` node A (its pid is
# printed) and call again: node B has taken over and rings the same phone.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
dir="${HA_DIR:-$PWD/ha-pair}"
proxy_port="${PROXY_PORT:-5070}"
domain="${HOTLINE_DOMAIN:-hotline.test}"

hotline="${HOTLINE:-}"
if [ -z "$hotline" ]; then
  # The newer of the release and debug builds (an old release build would hide today's
  # changes), else hotline on the PATH.
  for candidate in "$here/target/release/hotline" "$here/target/debug/hotline"; do
    [ -x "$candidate" ] || continue
    if [ -z "$hotline" ] || [ "$candidate" -nt "$hotline" ]; then
      hotline="$candidate"
    fi
  done
  [ -n "$hotline" ] || hotline="$(command -v hotline || true)"
fi
if [ -z "$hotline" ]; then
  echo "no hotline binary: build it (cargo build --release) or set HOTLINE" >&2
  exit 1
fi
kamailio="$(command -v kamailio || echo /usr/sbin/kamailio)"
if [ ! -x "$kamailio" ]; then
  echo "Kamailio is not installed: apt-get install kamailio" >&2
  exit 1
fi

mkdir -p "$dir/a" "$dir/b" "$dir/kamailio/run"
pids=()
stop() {
  trap - EXIT INT TERM
  # The nodes first (each drains and gives its lease up), then the database.
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ -z "${HOTLINE_DATABASE:-}" ]; then
    "$here/scripts/ha-database.sh" stop "$dir/database" >/dev/null 2>&1 || true
  fi
}
trap stop EXIT INT TERM

database="${HOTLINE_DATABASE:-}"
if [ -z "$database" ]; then
  echo "starting PostgreSQL with a synchronous standby under pg_auto_failover in $dir/database ..."
  database=$("$here/scripts/ha-database.sh" start "$dir/database" |
    sed -n 's/^storage.database = "\(.*\)"$/\1/p')
  [ -n "$database" ] || { echo "the database did not start" >&2; exit 1; }
fi
echo "database: $database"

# Starts one node (again each time it exits other than cleanly: it lost the lease, or it
# was killed) and waits until it says it is ready (it leads) or a standby.
start_node() {
  local name="$1" sip="$2" http="$3"
  local log="$dir/$name.log" cfg="$dir/$name.toml"
  # The demo centre on the shared log, as node `name` of the pair, behind the proxy (whose
  # X-Hotline-Source it believes for per-source limits).
  awk -v db="$database" '{ print }
    /^\[storage\]$/ { printf "database = \"%s\"\n", db }
    /^\[sip\]$/ { print "proxies = [\"127.0.0.1/32\"]" }
    /^\[http\]$/ { print "proxies = [\"127.0.0.1/32\"]" }' \
    "$here/examples/demo.toml" >"$cfg"
  printf '\n[cluster]\nnode = "%s"\n' "$name" >>"$cfg"
  # A node that lost the lease exits 75, one killed 137: both are started again a second
  # later; SIGTERM to this loop is passed on to the node, which drains its calls before it
  # exits.
  (
    child=
    trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child"; exit 0' TERM INT
    quick=0
    while :; do
      began=$SECONDS
      "$hotline" serve --config "$cfg" --data "$dir/$name" --sip "$sip" --http "$http" &
      child=$!
      status=0
      wait "$child" || status=$?
      case "$status" in
        0) echo "node $name stopped" >&2; exit 0 ;;
        75) echo "node $name lost the routing lease: starting it again" >&2 ;;
        *)
          # Killed by a signal (128 + its number): started again. Any other status is
          # an error that a restart would only repeat (a bad configuration, a port in
          # use, a database of a newer schema): the node stays down, its log says why.
          if [ "$status" -lt 128 ]; then
            echo "node $name exited with status $status: not started again" >&2
            exit "$status"
          fi
          echo "node $name was killed (status $status): starting it again" >&2
          ;;
      esac
      # A node that keeps dying within seconds of its start is left down.
      if [ $((SECONDS - began)) -lt 10 ]; then quick=$((quick + 1)); else quick=0; fi
      if [ "$quick" -ge 5 ]; then
        echo "node $name stopped five times in a row within 10 s of starting: left down" >&2
        exit 1
      fi
      sleep 1
    done
  ) >>"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 300); do
    if grep -qE '^hotline (ready|standby)' "$log"; then
      local role=active
      grep -q '^hotline standby' "$log" && role=standby
      echo "node $name ($role): SIP $sip, HTTP http://$http, pid $(pgrep -P "$pid" -n) (log $log)"
      return
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "node $name did not start:" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "node $name not ready after 30 s (log $log)" >&2
  exit 1
}

: >"$dir/a.log"
: >"$dir/b.log"
start_node a 127.0.0.1:5081 127.0.0.1:8081
start_node b 127.0.0.1:5082 127.0.0.1:8082

sed -e "s/NODE_A/127.0.0.1:5081/" -e "s/NODE_B/127.0.0.1:5082/" \
  "$here/deploy/kamailio/dispatcher.list" >"$dir/kamailio/dispatcher.list"
# Carriers: anything on loopback, so that a softphone on this machine may call in as a
# carrier would (on a real site, only the carriers' addresses).
sed -e "s/CARRIER/127.0.0.1/" \
  "$here/deploy/kamailio/carriers.list" >"$dir/kamailio/carriers.list"
"$kamailio" -f "$here/deploy/kamailio/kamailio.cfg" -DD -E -n 2 -m 32 -M 4 \
  -Y "$dir/kamailio/run" -P "$dir/kamailio/run/kamailio.pid" \
  -A "LISTEN=udp:127.0.0.1:$proxy_port" \
  -A "DOMAIN=\"$domain\"" \
  -A "DISPATCHER_LIST=\"$dir/kamailio/dispatcher.list\"" \
  -A "CARRIER_LIST=\"$dir/kamailio/carriers.list\"" \
  2>"$dir/kamailio.log" &
pids+=("$!")
echo "Kamailio: pid $!, udp 127.0.0.1:$proxy_port, domain $domain (log $dir/kamailio.log)"
haproxy="$(command -v haproxy || echo /usr/sbin/haproxy)"
pages_port="${PAGES_PORT:-8080}"
if [ -x "$haproxy" ]; then
  LISTEN="127.0.0.1:$pages_port" NODE_A=127.0.0.1:8081 NODE_B=127.0.0.1:8082 \
    "$haproxy" -db -f "$here/deploy/haproxy/haproxy.cfg" 2>"$dir/haproxy.log" &
  pids+=("$!")
  echo "HAProxy: pid $!, the pages of the leading node at http://127.0.0.1:$pages_port (log $dir/haproxy.log)"
else
  echo "no HAProxy (apt-get install haproxy): each node's pages are at its own address"
fi
echo "Ctrl-C stops the pair."
wait
