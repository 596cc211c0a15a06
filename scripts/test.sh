#!/usr/bin/env bash
# Runs every check hotline's CI runs: formatting, lints, and the whole test suite (unit,
# property, simulation, and end-to-end tests that drive the real binary with sipp).
# Installs what the tests need on a fresh Debian machine (sipp from the sip-tester package,
# iproute2 and nftables for the network-namespace test, PostgreSQL and pg_auto_failover,
# Debian's chromium and a Chinese font for the browser tests of the agent desktop and the
# wallboard, the stock softphones baresip and linphonec that register as agents, espeak-ng
# and sox that speak and mix the answering-machine detection corpus, and pip with PyPI's
# smpp34 for the test SMSC of the SMPP link).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
[ -e /usr/share/sip-tester/dtmf_2833_1.pcap ] || missing+=(sip-tester)
# The network-namespace test (a carrier, a NATed phone, the centre on 0.0.0.0).
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || command -v iptables >/dev/null 2>&1 || missing+=(nftables)
command -v sysctl >/dev/null 2>&1 || missing+=(procps)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
command -v baresip >/dev/null 2>&1 || missing+=(baresip)
command -v linphonec >/dev/null 2>&1 || missing+=(linphone-cli)
# TLS and SRTP: a stock softphone, certificates made at test time (SIP and mail), a capture of
# what goes out.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
# PostgreSQL server binaries: the store tests run against a throwaway cluster too.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# pg_auto_failover (monitor, keeper, and the extension): a primary and its synchronous standby,
# failed over under live calls (crates/hotline/tests/database_failover.rs).
command -v pg_autoctl >/dev/null 2>&1 || missing+=(pg-auto-failover-cli)
ls /usr/lib/postgresql/*/lib/pgautofailover.so >/dev/null 2>&1 || missing+=(postgresql-15-auto-failover)
# Kamailio: the SIP proxy in front of a pair of nodes (crates/hotline/tests/proxy.rs).
[ -x /usr/sbin/kamailio ] || missing+=(kamailio)
# HAProxy: the pages and the API of a pair at one address (crates/hotline/tests/pair_network.rs).
[ -x /usr/sbin/haproxy ] || missing+=(haproxy)
# Answering-machine detection: greetings spoken and mixed with noise at test time.
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v sox >/dev/null 2>&1 || missing+=(sox)
# E-mail: Dovecot (IMAP, submission, LMTP) and an aiosmtpd relay, started unprivileged by
# tests/mail/start-mailserver.sh for crates/mail/tests/dovecot.rs.
[ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
[ -x /usr/lib/dovecot/submission ] || missing+=(dovecot-submissiond)
[ -x /usr/lib/dovecot/lmtp ] || missing+=(dovecot-lmtpd)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)
# SMPP: pip, to install the test SMSC's engine below.
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# SMPP: PyPI smpp34 1.5.0 (a Rust SMPP engine shipped as a Python wheel) runs the fake SMSC
# that crates/smpp/tests/link.rs drives; the test imports it from HOTLINE_SMPP34_DIR.
if [ -z "${HOTLINE_SMPP34_DIR:-}" ]; then
  mkdir -p "${CARGO_TARGET_DIR:-target}/smsc-py"
  HOTLINE_SMPP34_DIR="$(cd "${CARGO_TARGET_DIR:-target}/smsc-py" && pwd)"
fi
export HOTLINE_SMPP34_DIR
PYTHONPATH="$HOTLINE_SMPP34_DIR" python3 -c 'import smpp34' >/dev/null 2>&1 ||
  python3 -m pip install --quiet --disable-pip-version-check --upgrade \
    --target "$HOTLINE_SMPP34_DIR" 'smpp34==1.5.0'

# One build from a clean tree: incremental state would only double the disk it needs.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# The mail server is installed above: the e-mail tests must run, not skip.
export HOTLINE_EXPECT_MAIL_SERVER=1

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

# The pages in a real browser: playwright-core (pinned in tests/browser/package-lock.json, no
# browser download) drives Debian's headless chromium against `hotline demo` and sipp phones
# (and the mail server above, for the e-mail desk).
(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
cargo build -p hotline --locked
HOTLINE_BIN="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/hotline" \
  node --test --test-reporter=spec tests/browser/md.test.mjs tests/browser/admin-parts.test.mjs tests/browser/desk.test.mjs \
    tests/browser/recording.test.mjs tests/browser/admin.test.mjs tests/browser/admin-live.test.mjs \
    tests/browser/admin-edit.test.mjs tests/browser/campaigns.test.mjs tests/browser/workforce.test.mjs tests/browser/chat.test.mjs \
    tests/browser/chat-restart.test.mjs tests/browser/email.test.mjs tests/browser/monitor.test.mjs \
    tests/browser/phone.test.mjs tests/browser/supervisor-phone.test.mjs
