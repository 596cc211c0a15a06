#!/usr/bin/env bash
# SIP edge benchmark: authenticated registrations/s and OPTIONS/s, sipp on loopback.
#
# For each run, sipp offers rising rates (RATES); a rate counts when every call succeeded and
# the achieved rate was at least 95% of the offered one. The run's figure is the highest
# achieved rate that counted. The script prints each step and the median over the runs.
#
# Usage: bench/sip/run.sh [runs] [calls-per-step]     (defaults: 3 runs, 20000 calls a step)
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
CALLS=${2:-20000}
RATES=${RATES:-"2000 3000 4000 5000 6000 8000 10000"}
command -v sipp >/dev/null || { echo "sipp missing: apt-get install -y sip-tester" >&2; exit 1; }
cargo build --release -q -p hotline
work=$(mktemp -d)
HL=""
trap '[ -n "$HL" ] && kill $HL 2>/dev/null; rm -rf "$work"' EXIT
./target/release/hotline demo --data "$work/data" --sip 127.0.0.1:0 --http 127.0.0.1:0 \
  >"$work/out" 2>"$work/err" &
HL=$!
for _ in $(seq 300); do grep -q "hotline ready" "$work/out" 2>/dev/null && break; sleep 0.1; done
SIP=$(grep -o 'sip=[^ ]*' "$work/out" | cut -d= -f2)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$HL/stat"; }
HZ=$(getconf CLK_TCK)

step() { # scenario rate extra-args... -> prints "achieved failed hotline-cpu%"
  local sc=$1 rate=$2; shift 2
  local t0 c0 t1 c1
  t0=$(date +%s.%N); c0=$(cpu_ticks)
  (cd "$work" && timeout 300 sipp -sf "$OLDPWD/$sc" "$@" -m "$CALLS" -r "$rate" -l 5000 \
     -nostdin -timeout 120s -timeout_error "$SIP" >"$work/screen" 2>&1) || true
  t1=$(date +%s.%N); c1=$(cpu_ticks)
  local cpu
  cpu=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$HZ" 'BEGIN{printf "%.0f", 100*(b-a)/hz/(e-s)}')
  awk -F'|' -v cpu="$cpu" '/Call Rate/ {r=$3} /Failed call/ {f=$3}
             END {gsub(/[^0-9.]/,"",r); gsub(/[^0-9]/,"",f); print r+0, f+0, cpu}' "$work/screen"
}

best() { # name scenario extra-args...
  local name=$1 sc=$2; shift 2
  local top=0
  for rate in $RATES; do
    read -r got failed cpu < <(step "$sc" "$rate" "$@")
    echo "  $name offered $rate/s: achieved $got/s, $failed failed, hotline at $cpu% of one core" >&2
    if [ "$failed" = 0 ] && awk -v g="$got" -v r="$rate" 'BEGIN{exit !(g >= 0.95*r)}'; then
      top=$got
    else
      break
    fi
  done
  printf '%.0f\n' "$top"
}
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

reg=(); opt=()
for i in $(seq "$RUNS"); do
  echo "run $i" >&2
  reg+=("$(best register bench/sip/register.xml -s 1001 -au 1001 -ap pass1001)")
  opt+=("$(best options tests/sipp/options.xml)")
done
echo "registrations/s with digest auth, zero failures (runs: ${reg[*]}): median $(printf '%s\n' "${reg[@]}" | median)"
echo "OPTIONS/s, zero failures (runs: ${opt[*]}): median $(printf '%s\n' "${opt[@]}" | median)"
