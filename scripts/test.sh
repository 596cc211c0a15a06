#!/usr/bin/env bash
# Runs every check hotline's CI runs: formatting, lints, and the whole test suite (unit,
# property, simulation, and end-to-end tests that drive the real binary with sipp).
# Installs what the tests need on a fresh Debian machine (sipp from the sip-tester package).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
[ -e /usr/share/sip-tester/dtmf_2833_1.pcap ] || missing+=(sip-tester)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
