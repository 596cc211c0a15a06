#!/usr/bin/env bash
# Web chat benchmark: concurrent conversations with messages flowing both ways, over the
# widget's and the desk's real WebSockets (bench/chat/src/main.rs is the load generator).
#
# One `hotline serve` (release) with the demo centre plus enough agents for the largest step
# (CHAT_CAPACITY chats each, default 3: 3,334 agents for 10,000 chats), each with an API
# user. The generator logs every agent in, opens its desk's feed and makes it available;
# then, step by step, opens customers' chats from the widget's WebSocket (each from a
# loopback address of its own), which the agents accept from their feeds. Once a step's
# chats are all answered, every conversation sends a message each way every 10-20 s
# (uniform), and a WINDOW-second window measures the delivery latency at the receiving
# socket, messages/s, hotline's CPU and memory. One JSON line per step and run, then the
# medians.
#
# Usage: bench/chat/run.sh [runs] [steps] [window-seconds]
#        (defaults: 3 runs, steps 1000,5000,10000, 60 s)
# HOTLINE_BIN uses that binary instead of building a release one; PERF=1 records a perf
# profile of hotline during each run's last window (perf-<run>.data in the current directory).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
STEPS=${2:-1000,5000,10000}
WINDOW=${3:-60}
CAP=${CHAT_CAPACITY:-3}
MAX=${STEPS##*,}
AGENTS=$(( (MAX + CAP - 1) / CAP ))
# Every chat is a socket on both sides: take all the descriptors allowed.
ulimit -n "$(ulimit -Hn)"
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p hotline-bench-chat
if [ -z "${HOTLINE_BIN:-}" ]; then
  cargo build --release -q -p hotline
  HOTLINE_BIN=$TARGET/release/hotline
fi
LOAD=$TARGET/release/chatload
# `password_hash = "$argon2id$…"`: the string alone.
HASH=$(echo bench | "$HOTLINE_BIN" hash-password | sed -n 's/^password_hash = "\(.*\)"$/\1/p')
out=$(mktemp)

for i in $(seq "$RUNS"); do
  echo "run $i (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  work=$(mktemp -d)
  "$LOAD" config --demo examples/demo.toml --agents "$AGENTS" --password-hash "$HASH" \
    --chat-capacity "$CAP" --out "$work/centre.toml"
  HOTLINE_LOG=warn "$HOTLINE_BIN" serve --config "$work/centre.toml" --data "$work/data" \
    --sip 127.0.0.1:0 --http 127.0.0.1:0 >"$work/out" 2>"$work/err" &
  HL=$!
  for _ in $(seq 600); do grep -q "hotline ready" "$work/out" 2>/dev/null && break; sleep 0.1; done
  HTTP=$(grep -o 'http=[^ ]*' "$work/out" | cut -d= -f2)
  [ -n "$HTTP" ] || { cat "$work/err" >&2; exit 1; }
  perf=()
  if [ "${PERF:-0}" = 1 ]; then perf=(--perf "$PWD/perf-$i.data"); fi
  "$LOAD" run --http "$HTTP" --pid "$HL" --agents "$AGENTS" --steps "$STEPS" --window "$WINDOW" \
    "${perf[@]}" | tee -a "$out" || true
  kill "$HL" 2>/dev/null || true
  wait "$HL" 2>/dev/null || true
  grep -v "^\s*$" "$work/err" | tail -5 >&2 || true
  rm -rf "$work"
done

python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
med = lambda xs: sorted(xs)[len(xs) // 2] if xs else None
steps = sorted({r["chats"] for r in rows if "chats" in r})
for n in steps:
    rs = [r for r in rows if r.get("chats") == n]
    get = lambda k, f: med([r[k][f] for r in rs if r.get(k)])
    print(f"{n} chats, median of {len(rs)}: customer->agent p50/p99/max "
          f"{get('customer_to_agent', 'p50_ms')}/{get('customer_to_agent', 'p99_ms')}/"
          f"{get('customer_to_agent', 'max_ms')} ms, agent->customer "
          f"{get('agent_to_customer', 'p50_ms')}/{get('agent_to_customer', 'p99_ms')}/"
          f"{get('agent_to_customer', 'max_ms')} ms, {med([r['messages_per_s'] for r in rs])} msg/s, "
          f"hotline {med([r['hotline_cpu_cores'] for r in rs])} cores, "
          f"{med([r['hotline_rss_mb'] for r in rs])} MB")
PY
rm -f "$out"
