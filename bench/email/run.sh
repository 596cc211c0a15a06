#!/usr/bin/env bash
# E-mail benchmark: customers' e-mails fetched by IMAP and routed (an interaction `queued` in
# the event log) per minute, against the real Dovecot the tests use (tests/mail).
#
# Each run starts a throwaway Dovecot (IMAP, submission, LMTP) with the mailbox
# service@bank.test and one account per customer (so that the acknowledgements hotline sends
# by SMTP are delivered too), then:
#   1. backlog: delivers MESSAGES e-mails from as many customers into the mailbox through
#      Dovecot's LMTP, then starts `hotline serve` (release) with the demo centre plus that
#      mailbox feeding an e-mail queue, and times from the start until every message is an
#      interaction `queued` in the log (read from the log's SQLite file). Nobody is logged in,
#      so every e-mail waits in the queue.
#   2. steady: with hotline running, delivers RATE e-mails a second for SECS seconds and
#      times each from its delivery to its `queued` event.
# Prints one JSON line per phase (hotline's CPU from /proc/<pid>/stat), then the medians.
#
# Usage: bench/email/run.sh [runs] [messages] [rate-per-second] [seconds]
#        (defaults: 3 runs, 2000 messages, 5/s for 60 s)
# HOTLINE_BIN uses that binary instead of building a release one.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
N=${2:-2000}
RATE=${3:-5}
SECS=${4:-60}
STEADY=$(python3 -c "print(int($RATE * $SECS))")
if [ -z "${HOTLINE_BIN:-}" ]; then
  cargo build --release -q -p hotline
  HOTLINE_BIN=${CARGO_TARGET_DIR:-target}/release/hotline
fi
HZ=$(getconf CLK_TCK)
M=bench/email/mail.py
cpu_s() { awk -v hz="$HZ" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "/proc/$1/stat"; }
now_ns() { date +%s%N; }

one_run() {
  local work HL
  work=$(mktemp -d)
  # The mail server runs as nobody (when started as root): it must reach its directory.
  chmod 755 "$work"
  mkdir "$work/mail"
  MAIL_USERS="$(python3 $M users 0 $((N + STEADY)))" \
    bash tests/mail/start-mailserver.sh "$work/mail" >"$work/ports"
  local IMAP_PORT SUBMISSION_PORT
  IMAP_PORT=$(sed -n 's/^IMAP_PORT=//p' "$work/ports")
  SUBMISSION_PORT=$(sed -n 's/^SUBMISSION_PORT=//p' "$work/ports")
  local lmtp=$work/mail/run/lmtp
  echo "  delivering $N e-mails: $(python3 $M deliver "$lmtp" 0 "$N" 0 "$work/backlog.txt")" >&2
  python3 $M config examples/demo.toml "$IMAP_PORT" "$SUBMISSION_PORT" "$work/centre.toml"
  local load t0 t_ready t_done
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(now_ns)
  HOTLINE_LOG=warn "$HOTLINE_BIN" serve --config "$work/centre.toml" --data "$work/data" \
    --sip 127.0.0.1:0 --http 127.0.0.1:0 >"$work/out" 2>"$work/err" &
  HL=$!
  for _ in $(seq 600); do grep -q "hotline ready" "$work/out" 2>/dev/null && break; sleep 0.05; done
  t_ready=$(now_ns)
  local db=$work/data/hotline.db n=0
  for _ in $(seq 6000); do
    n=$(python3 $M count "$db")
    [ "$n" -ge "$N" ] && break
    sleep 0.1
  done
  t_done=$(now_ns)
  local cpu_backlog
  cpu_backlog=$(cpu_s "$HL")
  local rep
  rep=$(python3 $M report "$db" "$work/backlog.txt")
  python3 - "$rep" "$t0" "$t_ready" "$t_done" "$cpu_backlog" "$load" "$N" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); t0, ready, done = map(int, sys.argv[2:5]); cpu = float(sys.argv[5])
n = int(sys.argv[7])
whole = (done - t0) / 1e9
print(json.dumps({"phase": "backlog", "messages": n, "queued": r["queued"],
    "start_to_all_queued_s": round(whole, 2), "start_to_ready_s": round((ready - t0) / 1e9, 2),
    "per_minute_from_start": round(60 * r["queued"] / whole),
    "first_arrived_to_last_queued_s": r["first_arrived_to_last_queued_s"],
    "per_minute_fetching": r["per_minute"],
    "hotline_cpu_s": round(cpu, 2), "hotline_cpu_cores": round(cpu / whole, 2),
    "loadavg_before": sys.argv[6]}))
PY
  # Steady: RATE a second while hotline runs.
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  local c0 s0 c1 s1
  c0=$(cpu_s "$HL"); s0=$(now_ns)
  python3 $M deliver "$lmtp" "$N" "$STEADY" "$RATE" "$work/steady.txt" >/dev/null
  for _ in $(seq 600); do
    n=$(python3 $M count "$db")
    [ "$n" -ge $((N + STEADY)) ] && break
    sleep 0.1
  done
  c1=$(cpu_s "$HL"); s1=$(now_ns)
  rep=$(python3 $M report "$db" "$work/steady.txt")
  python3 - "$rep" "$c0" "$c1" "$s0" "$s1" "$RATE" "$load" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); c0, c1 = float(sys.argv[2]), float(sys.argv[3])
secs = (int(sys.argv[5]) - int(sys.argv[4])) / 1e9
print(json.dumps({"phase": "steady", "offered_per_second": float(sys.argv[6]),
    "messages": r["messages"], "queued": r["queued"],
    "delivered_to_queued_ms": r["delivered_to_queued_ms"],
    "delivered_to_arrived_ms": r["delivered_to_arrived_ms"],
    "hotline_cpu_cores": round((c1 - c0) / secs, 3), "loadavg_before": sys.argv[7]}))
PY
  kill "$HL" 2>/dev/null || true
  wait "$HL" 2>/dev/null || true
  bash tests/mail/stop-mailserver.sh "$work/mail" >/dev/null 2>&1 || true
  rm -rf "$work"
}

out=$(mktemp)
for i in $(seq "$RUNS"); do
  echo "run $i" >&2
  one_run | tee -a "$out"
done
python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = lambda xs: sorted(xs)[len(xs) // 2]
b = [r for r in rows if r["phase"] == "backlog"]
s = [r for r in rows if r["phase"] == "steady"]
print(f"backlog, median of {len(b)}: {med([r['per_minute_from_start'] for r in b])}/min from the start, "
      f"{med([r['per_minute_fetching'] for r in b])}/min while fetching; "
      f"hotline {med([r['hotline_cpu_cores'] for r in b])} cores")
print(f"steady, median of {len(s)}: delivered -> queued p50 "
      f"{med([r['delivered_to_queued_ms']['p50'] for r in s])} ms, p99 "
      f"{med([r['delivered_to_queued_ms']['p99'] for r in s])} ms; "
      f"hotline {med([r['hotline_cpu_cores'] for r in s])} cores")
PY
rm -f "$out"
