#!/usr/bin/env bash
# End-to-end smoke test of hotline-smpp against a real SMPP server (PyPI smpp34).
# Not part of CI. Needs python3 and pip; installs smpp34 into a scratch dir.
#   crates/smpp/tests/smsc/run_smoke.sh [port]
# Extra fake SMSC flags via FAKE_SMSC_ARGS, e.g. FAKE_SMSC_ARGS=--throttle-first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${1:-2775}"
deps="${SMPP34_DIR:-${TMPDIR:-/tmp}/hotline-smpp34}"
if ! PYTHONPATH="$deps" python3 -c 'import smpp34' 2>/dev/null; then
  pip install --quiet --target "$deps" 'smpp34==1.5.0'
fi
long_mo="$(python3 -c 'print("中" * 100)')"
PYTHONPATH="$deps" python3 "$here/fake_smsc.py" --port "$port" --seconds 30 ${FAKE_SMSC_ARGS:-} \
  --mo "Hi from the SMSC" --mo-ucs2 "$long_mo" > "${TMPDIR:-/tmp}/hotline-fake-smsc.log" 2>&1 &
smsc=$!
trap 'kill "$smsc" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  grep -q LISTENING "${TMPDIR:-/tmp}/hotline-fake-smsc.log" && break
  sleep 0.1
done
cargo run --quiet -p hotline-smpp --example smsc_smoke -- "127.0.0.1:$port"
echo "--- SMSC log"
cat "${TMPDIR:-/tmp}/hotline-fake-smsc.log"
