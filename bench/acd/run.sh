#!/usr/bin/env bash
# Routing-engine and simulator benchmarks: each run 3 times in release, medians printed.
#
#   bench/acd/run.sh            # full runs (about a minute)
#   RUNS=5 bench/acd/run.sh
#
# 1. ACD routing decisions per second and latency (10,000 agents, 200 skills, 500 queues,
#    50,000 waiting contacts): `cargo bench -p hotline-acd --bench routing`.
# 2. The simulator on a full bank day (70,000 calls, 600 agents in shifts):
#    crates/sim/scenarios/bank-day.toml through the hotline-sim library, as `hotline sim`.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
OUT=${CARGO_TARGET_DIR:-target}
cargo build --release -p hotline-sim --example sim >/dev/null
cargo bench -p hotline-acd --bench routing --no-run >/dev/null 2>&1
tmp=$(mktemp -d)
for i in $(seq 1 "$RUNS"); do
  cargo bench -q -p hotline-acd --bench routing 2>/dev/null | tee -a "$tmp/routing.txt"
  /usr/bin/time -f "%e s wall, %M KiB max RSS" -o "$tmp/time.$i" \
    "$OUT/release/examples/sim" crates/sim/scenarios/bank-day.toml >"$tmp/bank.$i.json"
  cat "$tmp/time.$i"
done
python3 - "$tmp" "$RUNS" <<'PY'
import json, re, statistics, sys
tmp, runs = sys.argv[1], int(sys.argv[2])
rows = {}
cpu = {}
section = None
last_cpu = None
for line in open(f"{tmp}/routing.txt"):
    if line.startswith("=="):
        section = line.strip("= \n")
    c = re.search(r"([\d.]+) decisions per CPU-second", line)
    if c:
        last_cpu = float(c.group(1))
    m = re.match(r"(saturated|idle agents) \(.*\): (\d+) decisions, (\d+) decisions/s, p50 ([\d.]+) µs, p99 ([\d.]+) µs", line)
    if m:
        rows.setdefault((section, m.group(1)), []).append(tuple(float(m.group(i)) for i in (3, 4, 5)))
        cpu.setdefault((section, m.group(1)), []).append(last_cpu or 0.0)
print("\nrouting (median of %d runs):" % runs)
for (section, name), vals in rows.items():
    med = [statistics.median(v[i] for v in vals) for i in range(3)]
    print(f"  {section} / {name}: {med[0]:,.0f} decisions/s, p50 {med[1]:.2f} µs, p99 {med[2]:.2f} µs   (runs: {', '.join(f'{v[0]:,.0f}' for v in vals)}); {statistics.median(cpu[(section, name)]):,.0f} decisions per CPU-second (lower bound)")
walls, eps = [], []
for i in range(1, runs + 1):
    r = json.load(open(f"{tmp}/bank.{i}.json"))
    walls.append(r["wall_seconds"]); eps.append(r["events_per_second"])
    contacts = r["contacts"]
print(f"\nbank day ({contacts} calls, {len(r['agents'])} agents), median of {runs} runs:")
print(f"  simulation {statistics.median(walls):.3f} s, {statistics.median(eps):,.0f} events/s, {contacts / statistics.median(walls):,.0f} simulated calls/s   (runs: {', '.join(f'{w:.3f}' for w in walls)})")
for q in r["queues"]:
    print(f"  {q['name']}: offered {q['offered']}, SL {q['service_level']:.3f}, ASA {q['asa']:.1f} s, abandoned {q['abandon_rate']:.3f}, wait estimate MAE {q['estimated_wait_mae']:.1f} s")
print(f"  estimated wait MAE over all: {r['estimated_wait_mae']:.1f} s over {r['estimated_wait_samples']} waiting callers")
PY
rm -rf "$tmp"
