#!/usr/bin/env bash
# WebRTC load benchmark: N calls, each a plain RTP caller bridged to a browser leg
# (ICE-lite, DTLS-SRTP, PCMU) and recorded; the browsers are str0m peers in a generator
# process on loopback. Runs the harness RUNS times (default 3) in release and prints the
# medians.
#
#   bench/webrtc/run.sh [CALLS] [SECS] [extra harness args...]
#   e.g. bench/webrtc/run.sh 500 20
#        bench/webrtc/run.sh 250 20 --no-record --no-analyse
#
#   NICE=-15       runs the harness (hotline) at that niceness; the generator runs
#                  GEN_NICE (default 0) above it. Needs root.
#   AUTOGROUP_NICE=-10
#                  on a kernel with autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled)
#                  nice values only order threads within one session: other sessions (other
#                  people's builds) get an equal share of the CPU whatever NICE says. This sets
#                  the niceness of this script's session against them. Needs root.
set -euo pipefail
cd "$(dirname "$0")/../.."
CALLS=${1:-500}
SECS=${2:-20}
shift $(( $# > 2 ? 2 : $# )) || true
RUNS=${RUNS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -p hotline-media --example webrtc_load >&2
BIN="$CARGO_TARGET_DIR/release/examples/webrtc_load"
if [ -n "${AUTOGROUP_NICE:-}" ]; then
  echo "$AUTOGROUP_NICE" > /proc/self/autogroup
fi
OUT=$(mktemp)
for i in $(seq 1 "$RUNS"); do
  nice -n "${NICE:-0}" "$BIN" --calls "$CALLS" --secs "$SECS" --warmup 3 \
    --gen-nice "${GEN_NICE:-0}" "$@" | tee -a "$OUT"
done
python3 - "$OUT" <<'PY'
import statistics, sys
runs = []
for line in open(sys.argv[1]):
    if line.startswith("calls="):
        runs.append(dict(kv.split("=", 1) for kv in line.split()))
keys = ["connected", "failed", "setup_p50_ms", "setup_p99_ms", "handshake_p50_ms",
        "setup_cpu_ms_per_leg", "setup_media_cpu_ms_per_leg", "rx_pps", "media_cores",
        "writer_cores", "process_cores", "media_us_per_leg_s", "media_sleeps_per_s", "gen_cores",
        "lost_to_browser", "lost_to_phone", "reordered", "delay_p50_ms", "delay_p99_ms", "delay_max_ms", "kernel_drops_hotline",
        "kernel_drops_generator"]
print(f"median of {len(runs)} runs:", " ".join(
    f"{k}={statistics.median(float(r[k]) for r in runs):g}" for k in keys))
nominal = float(runs[0]["nominal_rx_pps"]) if runs else 0
print("media cores at nominal rate:", " ".join(
    f"{float(r['media_cores']) * nominal / max(float(r['rx_pps']), 1):.3f}" for r in runs))
PY
rm -f "$OUT"
