#!/usr/bin/env bash
# Stops what start-mailserver.sh DIR started (by the pids it recorded).
set -uo pipefail
dir=${1:?usage: stop-mailserver.sh DIR}
for f in "$dir/run/master.pid" "$dir/relay.pid"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
done
exit 0
