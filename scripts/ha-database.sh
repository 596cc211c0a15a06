#!/usr/bin/env bash
# A PostgreSQL primary with a synchronous hot standby on this machine, promoted automatically
# by pg_auto_failover (Debian: postgresql-15-auto-failover, pg-auto-failover-cli), for
# trying hotline's database failover and for its tests. Production runs the monitor and
# each node on hosts of their own, with authentication and TLS (this script uses
# `--auth trust --no-ssl`, fit for loopback only).
#
#   scripts/ha-database.sh start [DIR]   create (first time) and run monitor + two nodes;
#                                        prints the URL for hotline's storage.database;
#                                        run again after kill-primary, it brings the killed
#                                        node back as the new standby (rewound, caught up)
#   scripts/ha-database.sh state [DIR]   who is primary, who is standby
#   scripts/ha-database.sh kill-primary [DIR]
#                                        kill -9 the primary's server and its keeper, as a
#                                        crashed host would
#   scripts/ha-database.sh stop [DIR]    stop everything (the data stays in DIR)
#
# Ports: MONITOR_PORT (6000), NODE1_PORT (5501), NODE2_PORT (5502). DIR defaults to
# ./ha-database. Run as root (the servers then run as the `postgres` user) or as the user
# who should own them.
#
# pg_auto_failover keeps synchronous_standby_names at "ANY 1 (standby)" while the standby
# is healthy: a COMMIT returns only once the standby has the WAL, so a failover loses
# nothing committed. Its timeouts are shortened here (FAILOVER_SECONDS, 10) from the
# defaults (20 s to call a node unhealthy, then 30 s before the standby may take writes),
# so that a test does not wait a minute; a production monitor keeps safe values. Each
# node's own network-partition timeout is shortened to match: a primary cut off from the
# monitor and its standby stops taking writes as soon as the monitor may promote the
# standby (its commits would wait on the lost standby anyway, never diverge).
set -euo pipefail

cmd="${1:-start}"
dir="$(realpath -m "${2:-./ha-database}")"
monitor_port="${MONITOR_PORT:-6000}"
node1_port="${NODE1_PORT:-5501}"
node2_port="${NODE2_PORT:-5502}"
failover="${FAILOVER_SECONDS:-10}"

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
export bin
if [ -z "$bin" ] || ! command -v pg_autoctl >/dev/null; then
  echo "needs PostgreSQL and pg_auto_failover: apt-get install postgresql postgresql-15-auto-failover pg-auto-failover-cli" >&2
  exit 2
fi
export PATH="$bin:$PATH"

# pg_autoctl keeps each node's state and pid files under XDG directories keyed by its data
# directory: kept inside DIR, so that a removed DIR leaves nothing behind to confuse a new
# one, and so that two formations started at once do not race to create the shared
# /tmp/pg_autoctl (the loser fails with "File exists").
export XDG_CONFIG_HOME="$dir/.config" XDG_DATA_HOME="$dir/.local/share" XDG_RUNTIME_DIR="$dir/.run"

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- env PATH="$bin:/usr/bin:/bin" XDG_CONFIG_HOME="$XDG_CONFIG_HOME" \
      XDG_DATA_HOME="$XDG_DATA_HOME" XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" "$@"
  else
    "$@"
  fi
}

monitor_uri="postgres://autoctl_node@127.0.0.1:${monitor_port}/pg_auto_failover?sslmode=disable"

run_keeper() { # name: its own session, so that kill-primary can end it and its server at once
  # Already running (start run again to bring back a killed node): keep it, and its session.
  if [ -f "$dir/$1.session" ] && kill -0 -- "-$(cat "$dir/$1.session")" 2>/dev/null; then
    return 0
  fi
  setsid bash -c "$(declare -f as_owner); as_owner pg_autoctl run --pgdata '$dir/$1'" \
    >>"$dir/$1.log" 2>&1 &
  echo $! >"$dir/$1.session"
}

wait_for() { # what, command...
  local what="$1"; shift
  for _ in $(seq 1 240); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "timed out waiting for $what" >&2
  return 1
}

state() {
  as_owner pg_autoctl show state --pgdata "$dir/monitor"
}

primary_is_up() { # alone, the first node is "single"
  state | grep -Eq "\| +(single|primary) \| +(single|primary)$"
}

standby_is_up() {
  state | grep -Eq "\| +secondary \| +secondary$"
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -d "$dir/monitor" ]; then
      as_owner pg_autoctl create monitor --pgdata "$dir/monitor" --pgport "$monitor_port" \
        --hostname 127.0.0.1 --auth trust --no-ssl >"$dir/monitor-create.log" 2>&1
    fi
    run_keeper monitor
    wait_for "the monitor" as_owner psql -h 127.0.0.1 -p "$monitor_port" -U autoctl_node \
      -d pg_auto_failover -Atc "select 1"
    # How long a node may be silent before it is called unhealthy, and how long a primary
    # that cannot be reached is given to step down before its standby takes writes.
    for setting in "node_considered_unhealthy_timeout = '$((failover / 2))s'" \
      "primary_demote_timeout = '$((failover / 2))s'" "health_check_period = '1s'"; do
      as_owner psql -h 127.0.0.1 -p "$monitor_port" -d pg_auto_failover -qAtc \
        "alter system set pgautofailover.$setting" >/dev/null
    done
    as_owner psql -h 127.0.0.1 -p "$monitor_port" -d pg_auto_failover -qAtc \
      "select pg_reload_conf()" >/dev/null
    for n in 1 2; do
      port_var="node${n}_port"
      if [ ! -d "$dir/node$n" ]; then
        as_owner pg_autoctl create postgres --pgdata "$dir/node$n" --pgport "${!port_var}" \
          --monitor "$monitor_uri" --hostname 127.0.0.1 --auth trust --no-ssl \
          --dbname hotline --name "node$n" >"$dir/node$n-create.log" 2>&1
      fi
      as_owner pg_autoctl config set --pgdata "$dir/node$n" \
        timeout.network_partition_timeout "$((failover / 2))" >/dev/null
      run_keeper "node$n"
      if [ "$n" = 1 ]; then wait_for "a primary" primary_is_up; fi
    done
    wait_for "the synchronous standby" standby_is_up
    state
    echo
    echo "storage.database = \"postgres://postgres@127.0.0.1:${node1_port},127.0.0.1:${node2_port}/hotline\""
    ;;
  state)
    state
    ;;
  kill-primary)
    port=$(state | awk -F'|' '$6 ~ /primary/ && $7 ~ /primary/ {gsub(/ /,"",$3); print $3}' | cut -d: -f2)
    [ -n "$port" ] || { echo "no primary" >&2; exit 1; }
    node=$([ "$port" = "$node1_port" ] && echo node1 || echo node2)
    kill -9 -- "-$(cat "$dir/$node.session")"
    echo "killed $node (port $port) and its keeper"
    ;;
  stop)
    for d in node1 node2 monitor; do
      [ -d "$dir/$d" ] && as_owner pg_autoctl stop --pgdata "$dir/$d" >/dev/null 2>&1 || true
    done
    ;;
  *)
    echo "usage: $0 start|state|kill-primary|stop [DIR]" >&2
    exit 2
    ;;
esac
