#!/usr/bin/env bash
# Starts a throwaway mail server on 127.0.0.1 for tests: Dovecot (IMAP,
# submission, LMTP) plus a small SMTP-to-LMTP relay (aiosmtpd) behind
# Dovecot's submission service, everything under DIR and owned by an
# unprivileged user. See crates/mail/TESTPEER.md.
#
# Usage: start-mailserver.sh DIR [IMAP_PORT [SUBMISSION_PORT [RELAY_PORT
#          [IMAPS_PORT [SUBMISSIONS_PORT]]]]]
#   A port left out or given as 0 is picked free. DIR must exist.
# Users: MAIL_USERS="user@domain:password ..." (default: agent@example.test
#   and customer@example.test, both with password "secret").
# TLS: MAIL_TLS=1 makes a self-signed certificate for "localhost"
#   (DIR/tls/cert.pem, which is also the CA a client must trust), requires
#   TLS on every port (STARTTLS on IMAP_PORT and SUBMISSION_PORT) and adds
#   implicit-TLS listeners on IMAPS_PORT and SUBMISSIONS_PORT.
# MAIL_IMAP_CAPABILITY="IMAP4rev1 ...": what the IMAP server advertises
#   instead of its own list (to test a client against a server without,
#   say, IDLE).
# Prints, and writes to DIR/ports.env: IMAP_PORT=, SUBMISSION_PORT=,
#   RELAY_PORT=, PIDS= (and DOVECOT_CONF=); with MAIL_TLS=1 also
#   IMAPS_PORT=, SUBMISSIONS_PORT= and TLS_CERT=. Stop with
#   stop-mailserver.sh DIR.
# Run as root, it hands DIR to "nobody" and runs everything as that user.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:?usage: start-mailserver.sh DIR [IMAP_PORT [SUBMISSION_PORT [RELAY_PORT [IMAPS_PORT [SUBMISSIONS_PORT]]]]]}
dir=$(cd "$dir" && pwd)
imap_port=${2:-0}
submission_port=${3:-0}
relay_port=${4:-0}
imaps_port=${5:-0}
submissions_port=${6:-0}
tls=${MAIL_TLS:-0}
capability=${MAIL_IMAP_CAPABILITY:-}
users=${MAIL_USERS:-"agent@example.test:secret customer@example.test:secret"}
python=${MAIL_PYTHON:-/usr/bin/python3}

# Exit status 3: something needed is not installed (tests skip on it).
die() { echo "start-mailserver: $*" >&2; exit 1; }
missing() { echo "start-mailserver: $*" >&2; exit 3; }
[ -x /usr/sbin/dovecot ] || missing "dovecot is not installed (apt-get install dovecot-imapd dovecot-submissiond dovecot-lmtpd)"
[ -x /usr/lib/dovecot/submission ] || missing "dovecot's submission service is not installed (dovecot-submissiond)"
[ -x /usr/lib/dovecot/lmtp ] || missing "dovecot's LMTP service is not installed (dovecot-lmtpd)"
"$python" -c 'import aiosmtpd' 2>/dev/null || missing "aiosmtpd is not importable by $python (apt-get install python3-aiosmtpd)"
[ "$tls" = 0 ] || command -v openssl >/dev/null || missing "openssl is not installed (apt-get install openssl)"

# Never run the servers as root: as root, hand the directory to nobody and
# start again as that user.
if [ "$(id -u)" = 0 ]; then
    chown -R nobody:nogroup "$dir"
    chmod 0755 "$dir"
    exec setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env \
        env PATH=/usr/sbin:/usr/bin:/sbin:/bin MAIL_USERS="$users" MAIL_PYTHON="$python" MAIL_TLS="$tls" \
        MAIL_IMAP_CAPABILITY="$capability" \
        bash "$here/start-mailserver.sh" "$dir" "$imap_port" "$submission_port" "$relay_port" \
        "$imaps_port" "$submissions_port"
fi

free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
[ "$imap_port" != 0 ] || imap_port=$(free_port)
[ "$submission_port" != 0 ] || submission_port=$(free_port)
[ "$relay_port" != 0 ] || relay_port=$(free_port)
if [ "$tls" != 0 ]; then
    [ "$imaps_port" != 0 ] || imaps_port=$(free_port)
    [ "$submissions_port" != 0 ] || submissions_port=$(free_port)
fi

user=$(id -un)
group=$(id -gn)
uid=$(id -u)
gid=$(id -g)
mkdir -p "$dir/run" "$dir/state" "$dir/home"

: > "$dir/users"
for entry in $users; do
    # passwd-file line: user:{PLAIN}password:uid:gid::home::
    printf '%s:{PLAIN}%s:%s:%s::%s::\n' "${entry%%:*}" "${entry#*:}" "$uid" "$gid" "$dir/home/${entry%%:*}" >> "$dir/users"
done
chmod 0600 "$dir/users"

# TLS: a self-signed certificate for "localhost" only (no IP address in
# it, so that a client that connects to 127.0.0.1 and checks the name
# fails), not a CA (rustls refuses a CA certificate as a server's).
ssl_conf="ssl = no"
imaps_listener="port = 0"
submissions_listener=""
if [ "$tls" != 0 ]; then
    mkdir -p "$dir/tls"
    if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" -days 2 \
        -subj "/CN=hotline test mail server" -addext "subjectAltName=DNS:localhost" \
        -addext "basicConstraints=critical,CA:FALSE" \
        -addext "keyUsage=critical,digitalSignature" \
        -addext "extendedKeyUsage=serverAuth" > "$dir/tls/openssl.log" 2>&1; then
        cat "$dir/tls/openssl.log" >&2
        die "openssl could not make the test certificate"
    fi
    chmod 0600 "$dir/tls/key.pem"
    ssl_conf="ssl = required
ssl_cert = <$dir/tls/cert.pem
ssl_key = <$dir/tls/key.pem"
    imaps_listener="address = 127.0.0.1
    port = $imaps_port
    ssl = yes"
    submissions_listener="inet_listener submissions {
    address = 127.0.0.1
    port = $submissions_port
    ssl = yes
  }"
fi

capability_conf=""
[ -z "$capability" ] || capability_conf="imap_capability = $capability"

conf="$dir/dovecot.conf"
cat > "$conf" <<CONF
# Throwaway test instance; nothing here is fit for a real server.
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
instance_name = hotline-test-$$
listen = 127.0.0.1
protocols = imap submission lmtp
hostname = mail.example.test
postmaster_address = postmaster@example.test
$ssl_conf
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = $user
default_internal_group = $group
default_login_user = $user
first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = $gid
last_valid_gid = $gid
mail_location = maildir:~/Maildir
$capability_conf
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/users
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    $imaps_listener
  }
}
service submission-login {
  chroot =
  inet_listener submission {
    address = 127.0.0.1
    port = $submission_port
  }
  $submissions_listener
}
service lmtp {
  unix_listener lmtp {
    mode = 0600
  }
}
submission_relay_host = 127.0.0.1
submission_relay_port = $relay_port
submission_relay_trusted = yes
CONF

# Detach the daemons from our stdout/stderr so that a caller reading our
# output sees its end when this script exits.
if ! /usr/sbin/dovecot -c "$conf" < /dev/null > "$dir/dovecot.out" 2>&1; then
    cat "$dir/dovecot.out" >&2
    die "dovecot did not start; see $dir/dovecot.log"
fi

nohup "$python" "$here/smtp-to-lmtp.py" "$relay_port" "$dir/run/lmtp" \
    > "$dir/relay.log" 2>&1 < /dev/null &
echo $! > "$dir/relay.pid"

wait_port() {
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "nothing listens on 127.0.0.1:$1 after 10 s; see $dir/dovecot.log and $dir/relay.log"
}
wait_port "$imap_port"
wait_port "$submission_port"
wait_port "$relay_port"
if [ "$tls" != 0 ]; then
    wait_port "$imaps_port"
    wait_port "$submissions_port"
fi

{
    echo "IMAP_PORT=$imap_port"
    echo "SUBMISSION_PORT=$submission_port"
    echo "RELAY_PORT=$relay_port"
    echo "PIDS=$(cat "$dir/run/master.pid") $(cat "$dir/relay.pid")"
    echo "DOVECOT_CONF=$conf"
    if [ "$tls" != 0 ]; then
        echo "IMAPS_PORT=$imaps_port"
        echo "SUBMISSIONS_PORT=$submissions_port"
        echo "TLS_CERT=$dir/tls/cert.pem"
    fi
} > "$dir/ports.env"
cat "$dir/ports.env"
