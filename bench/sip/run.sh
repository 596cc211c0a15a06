#!/usr/bin/env bash
# SIP edge benchmark: authenticated registrations/s and OPTIONS/s from sipp on loopback.
# Usage: bench/sip/run.sh [runs] [calls]   (defaults: 3 runs of 30000)
# Prints one line per run and the medians; any failed call is reported and fails the script.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
CALLS=${2:-30000}
RATE=${RATE:-20000}          # offered rate; sipp is the limit if hotline keeps up
command -v sipp >/dev/null || { echo "sipp missing: apt-get install -y sip-tester" >&2; exit 1; }
cargo build --release -q -p hotline
work=$(mktemp -d)
trap 'kill $HL 2>/dev/null; rm -rf "$work"' EXIT
./target/release/hotline demo --data "$work/data" --sip 127.0.0.1:0 --http 127.0.0.1:0 >"$work/out" 2>"$work/err" &
HL=$!
for _ in $(seq 100); do grep -q "hotline ready" "$work/out" 2>/dev/null && break; sleep 0.1; done
SIP=$(grep -o 'sip=[^ ]*' "$work/out" | cut -d= -f2)

run_sipp() { # name scenario extra-args...
  local name=$1 sc=$2; shift 2
  local start end rate failed
  (cd "$work" && rm -f ./*_stat.csv)
  start=$(date +%s.%N)
  (cd "$work" && sipp -sf "$OLDPWD/$sc" "$@" -m "$CALLS" -r "$RATE" -l 2000 -nostdin \
      -trace_stat -fd 3600 -timeout 120s -timeout_error "$SIP" >/dev/null 2>&1) || true
  end=$(date +%s.%N)
  failed=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="FailedCall(C)") c=i} END{print $c}' "$work"/*_stat.csv)
  ok=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++) if($i=="SuccessfulCall(C)") c=i} END{print $c}' "$work"/*_stat.csv)
  rate=$(echo "$ok / ($end - $start)" | bc -l)
  printf '%s run: %d ok, %d failed, %.0f/s\n' "$name" "$ok" "$failed" "$rate" >&2
  [ "$failed" = 0 ] || echo "FAILED CALLS in $name" >&2
  printf '%.0f\n' "$rate"
}
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

reg=(); opt=()
for _ in $(seq "$RUNS"); do
  reg+=("$(run_sipp register bench/sip/register.xml -inf "$PWD/bench/sip/users.csv")")
  opt+=("$(run_sipp options tests/sipp/options.xml)")
done
echo "registrations/s (digest, median of $RUNS): $(printf '%s\n' "${reg[@]}" | median)"
echo "OPTIONS/s (median of $RUNS): $(printf '%s\n' "${opt[@]}" | median)"
