#!/usr/bin/env bash
# Media load benchmark: N bridged, recorded calls with RTP both ways at
# 50 packets/s per direction from a generator process on loopback.
# Runs the harness RUNS times (default 3) in release and prints the medians.
#
#   bench/media/run.sh [CALLS] [SECS] [extra harness args...]
#   e.g. bench/media/run.sh 2000 20 --poll-ms 20
#   bench/media/run.sh 2000 20 --poll-ms 20 --bare   the physical limit: the same phones
#   relayed by a minimal recvmmsg/sendmmsg relay (no processing, no recording), to compare.
#   NICE=-10 bench/media/run.sh ...   runs the harness (and its phones) at a
#   higher priority, for a machine shared with other heavy jobs (needs root).
set -euo pipefail
cd "$(dirname "$0")/../.."
CALLS=${1:-2000}
SECS=${2:-20}
shift $(( $# > 2 ? 2 : $# )) || true
RUNS=${RUNS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -p hotline-media --example media_load >&2
BIN="$CARGO_TARGET_DIR/release/examples/media_load"
OUT=$(mktemp)
for i in $(seq 1 "$RUNS"); do
  nice -n "${NICE:-0}" "$BIN" --calls "$CALLS" --secs "$SECS" --warmup 3 "$@" | tee -a "$OUT"
done
python3 - "$OUT" <<'PY'
import statistics, sys
runs = []
for line in open(sys.argv[1]):
    if line.startswith("calls="):
        runs.append(dict(kv.split("=", 1) for kv in line.split()))
keys = ["rx_pps", "cpu_cores", "cores_at_nominal", "pps_per_core", "rss_per_call_kib",
        "rss_total_mib", "phones_sent", "hotline_relayed", "kernel_drops_on_hotline_sockets",
        "lost_inside_hotline", "reordered", "send_errors"]
print(f"median of {len(runs)} runs:", " ".join(
    f"{k}={statistics.median(float(r[k]) for r in runs):g}" for k in keys))
PY
rm -f "$OUT"
