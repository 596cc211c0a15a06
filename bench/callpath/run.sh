#!/usr/bin/env bash
# Call-path benchmark: whole calls per second with zero failed calls, sipp callers and sipp
# agent phones on loopback.
#
# One hotline (release build) serves the demo centre plus AGENTS agents with every skill and
# no wrap-up. A sipp phone answers for all of them (they register from its port); the
# supervisor makes them available. For each offered rate, sipp callers dial 95588 for SECS
# seconds: each presses 1 by RFC 4733 during the welcome, is queued for accounts, rings an
# agent (who answers at once), talks, and hangs up 2 s after hotline answered.
# A rate counts when sipp saw no failed call AND the event log shows every call answered by
# an agent and ended, and the calls arrived at 95 % of the offered rate or more (from the
# log's arrival times). The step
# prints the setup times from the event log (arrived -> offered: INVITE to the agent's phone
# being rung, including the 0.3 s the caller takes to press the key; queued -> offered: the
# routing decision and the dial), hotline's CPU and its peak memory, and memory per
# concurrent call ((peak RSS - idle RSS) / (rate x mean call length)).
#
# Usage: bench/callpath/run.sh [runs] [seconds-per-step]     (defaults: 3 runs, 10 s)
#
# SLOW_COMMIT_MS=15000 runs every step with a slow disk: hotline's test hook
# (HOTLINE_TEST_SLOW_COMMIT_FILE, see docs/durability.md) delays every commit of the event
# log by that many milliseconds while the step's callers arrive; the disk recovers when
# sipp is done. Each step then also prints the event log's peak backlog (events, age of the
# oldest) sampled from /metrics. HOTLINE_BIN uses that binary instead of building a
# release one.
#
# PROFILE=1 records hotline with perf over the middle half of every step and prints where
# its CPU went by part of the call (SIP, flow and DTMF detection, routing, media relay,
# recording, event log; bench/callpath/parts.py) and in milliseconds per call.
#
# A soak is one long step: RSS_EVERY=60 RATES=58 bench/callpath/run.sh 1 3600 prints, every
# RSS_EVERY seconds of every step, hotline's memory split as the kernel counts it (anonymous,
# file-backed, shared) and the SIP transactions it holds.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
SECS=${2:-10}
AGENTS=${AGENTS:-1500}
RATES=${RATES:-"50 100 200 300 400 500 700 1000"}
SLOW=${SLOW_COMMIT_MS:-0}
command -v sipp >/dev/null || { echo "sipp missing: apt-get install -y sip-tester" >&2; exit 1; }
if [ -z "${HOTLINE_BIN:-}" ]; then
  cargo build --release -q -p hotline
  HOTLINE_BIN=./target/release/hotline
fi
root=$PWD
HZ=$(getconf CLK_TCK)
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

one_run() {
  local work HL PHONE
  work=$(mktemp -d)
  python3 bench/callpath/setup.py config "$AGENTS" "$work/centre.toml"
  local hook=()
  if [ "$SLOW" -gt 0 ]; then hook=(HOTLINE_TEST_SLOW_COMMIT_FILE="$work/slow-commit"); fi
  env "${hook[@]}" HOTLINE_LOG=error "$HOTLINE_BIN" serve --config "$work/centre.toml" \
    --data "$work/data" --sip 127.0.0.1:0 --http 127.0.0.1:0 >"$work/out" 2>"$work/err" &
  HL=$!
  for _ in $(seq 300); do grep -q "hotline ready" "$work/out" 2>/dev/null && break; sleep 0.1; done
  local SIP HTTP APORT
  SIP=$(grep -o 'sip=[^ ]*' "$work/out" | cut -d= -f2)
  HTTP=$(grep -o 'http=[^ ]*' "$work/out" | cut -d= -f2)
  APORT=$(free_port)
  python3 bench/callpath/setup.py register "$SIP" "$APORT" "$AGENTS" >&2
  (cd "$work" && exec sipp -sf "$root/tests/sipp/agent-answers.xml" -p "$APORT" -i 127.0.0.1 \
     -mp 16000 -rtp_echo -nostdin -l 100000 -timeout $((RUNS * (SECS + 600) + 3600))s "$SIP" >"$work/phone" 2>&1) &
  PHONE=$!
  python3 bench/callpath/setup.py available "$HTTP" "$AGENTS" >&2
  local idle_kb top=0
  idle_kb=$(awk '/VmRSS/ {print $2}' "/proc/$HL/status")
  for rate in $RATES; do
    local since c0 t0 peak=0 sampler
    since=$(date +%s%N); c0=$(awk '{print $14 + $15}' "/proc/$HL/stat"); t0=$(date +%s.%N)
    ( while kill -0 "$HL" 2>/dev/null; do awk '/VmRSS/ {print $2}' "/proc/$HL/status"; sleep 0.2; done ) >"$work/rss" &
    sampler=$!
    if [ "$SLOW" -gt 0 ]; then echo "$SLOW" >"$work/slow-commit"; fi
    ( while kill -0 "$HL" 2>/dev/null; do
        python3 - "$HTTP" <<'PY' || true
import sys, urllib.request
text = urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=5).read().decode()
v = {l.split()[0]: l.split()[1] for l in text.splitlines() if l.startswith("hotline_log_backlog")}
print(v.get("hotline_log_backlog_events", "0"), v.get("hotline_log_backlog_age_seconds", "0"))
PY
        sleep 0.5; done ) >"$work/backlog" &
    local backlog_sampler=$!
    local minutes=""
    if [ "${RSS_EVERY:-0}" -gt 0 ]; then
      ( start=$(date +%s)
        while kill -0 "$HL" 2>/dev/null; do
          awk -v t=$(( $(date +%s) - start )) '/^(VmRSS|RssAnon|RssFile|RssShmem)/ {v[$1]=$2}
            END {printf "  rss t=%ds total=%d anon=%d file=%d shmem=%d kB", t, v["VmRSS:"], v["RssAnon:"], v["RssFile:"], v["RssShmem:"]}' "/proc/$HL/status" >&2
          curl -s "http://$HTTP/metrics" | awk '/^hotline_sip_transactions_(running|finished)/ {sub("hotline_sip_transactions_", "", $1); printf " sip_%s=%s", $1, $2} END {print ""}' >&2
          sleep "$RSS_EVERY"
        done ) &
      minutes=$!
    fi
    local profiler=""
    if [ -n "${PROFILE:-}" ]; then
      # The middle half of the step, when calls arrive, talk and end at the offered rate.
      ( sleep $((SECS / 4))
        perf record -q -F 499 --call-graph dwarf,16384 -p "$HL" -o "$work/perf.data" -- sleep $((SECS / 2)) 2>/dev/null
        perf script -i "$work/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null |
          python3 "$root/bench/callpath/parts.py" $((rate * SECS / 2)) | sed "s/^/  profile $rate\/s: /" >&2 ) &
      profiler=$!
    fi
    (cd "$work" && timeout $((SECS + 600)) sipp -sf "$root/bench/callpath/caller.xml" -i 127.0.0.1 -mp 18000 \
       -r "$rate" -m $((rate * SECS)) -l 100000 -nostdin -timeout $((SECS + 120))s -timeout_error \
       "$SIP" >"$work/screen" 2>&1) || true
    rm -f "$work/slow-commit"
    if [ -n "$profiler" ]; then wait "$profiler" || true; fi
    # Wait until every call of the step is in the log as ended (at most a minute).
    local rep
    for _ in $(seq 120); do
      rep=$(python3 bench/callpath/setup.py report "$work/data/hotline.db" "$since")
      python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r["ended"]==r["calls"]>=int(sys.argv[2]) else 1)' "$rep" "$((rate * SECS))" && break
      sleep 0.5
    done
    kill "$sampler" "$backlog_sampler" $minutes 2>/dev/null || true
    local backlog_peak age_peak
    backlog_peak=$(awk '{print $1}' "$work/backlog" | sort -n | tail -1)
    age_peak=$(awk '{print $2}' "$work/backlog" | sort -n | tail -1)
    local t1 c1 cpu failed
    t1=$(date +%s.%N); c1=$(awk '{print $14 + $15}' "/proc/$HL/stat")
    cpu=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$HZ" 'BEGIN{printf "%.0f", 100*(b-a)/hz/(e-s)}')
    peak=$(sort -n "$work/rss" | tail -1)
    failed=$(awk -F'|' '/Failed call/ {f=$3} END {gsub(/[^0-9]/,"",f); print f+0}' "$work/screen")
    local line
    line=$(python3 - "$rep" "$rate" "$failed" "$cpu" "$idle_kb" "$peak" "$SECS" "${backlog_peak:-0}" "${age_peak:-0}" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); rate, failed, cpu, idle, peak, secs, blog, bage = sys.argv[2:]
rate, failed, idle, peak, secs = int(rate), int(failed), int(idle), int(peak), int(secs)
concurrent = rate * r["mean_call_seconds"]
per_call = (peak - idle) / concurrent if concurrent else 0
got = r["arrivals_per_second"]
ok = failed == 0 and r["calls"] == rate * secs and r["answered"] == r["calls"] and got >= 0.95 * rate
print(("OK " if ok else "FAIL ") + json.dumps(dict(offered=rate, sipp_failed=failed,
      hotline_cpu_pct=int(cpu), peak_rss_mb=round(peak / 1024), kb_per_concurrent_call=round(per_call),
      concurrent_calls=round(concurrent), log_backlog_peak_events=int(float(blog)),
      log_backlog_peak_age_s=round(float(bage), 1), **r)))
PY
)
    echo "  $line" >&2
    case $line in
      OK*) top=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1][3:])["arrivals_per_second"])' "$line") ;;
      *) break ;;
    esac
  done
  kill "$PHONE" "$HL" 2>/dev/null || true
  wait "$HL" 2>/dev/null || true
  rm -rf "$work"
  echo "$top"
}

tops=()
for i in $(seq "$RUNS"); do
  echo "run $i" >&2
  tops+=("$(one_run)")
done
echo "whole calls per second with zero failed calls, median of $RUNS runs: $(printf '%s\n' "${tops[@]}" | median)"
