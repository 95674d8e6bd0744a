#!/usr/bin/env bash
# Runs HubSpot's official Node client (@hubspot/api-client, pinned in
# package.json / package-lock.json) unchanged against fakehub: builds
# clvsync, serves a small seeded portal on a free 127.0.0.1 port, and runs
# `node --test test.mjs` against it. Exits non-zero on any failure.
#
# Needs node and npm (the client is installed from the npm registry with
# `npm ci` when node_modules is missing). Without them it fails, unless
# CLVSYNC_SKIP_NODE_COMPAT=1, when it says so and exits 0.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "compat/hubspot-node: node and npm are needed to run HubSpot's Node client against fakehub, and are not installed." >&2
  if [ "${CLVSYNC_SKIP_NODE_COMPAT:-}" = "1" ]; then
    echo "compat/hubspot-node: SKIPPED (CLVSYNC_SKIP_NODE_COMPAT=1)." >&2
    exit 0
  fi
  echo "compat/hubspot-node: install Node.js 20+ (e.g. apt-get install nodejs npm), or set CLVSYNC_SKIP_NODE_COMPAT=1 to skip." >&2
  exit 1
fi

tmp="$(mktemp -d)"
fake_pid=""
cleanup() {
  if [ -n "$fake_pid" ] && kill -0 "$fake_pid" 2>/dev/null; then
    kill "$fake_pid" 2>/dev/null || true
    wait "$fake_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== compat/hubspot-node: building clvsync"
(cd "$root" && go build -o "$tmp/clvsync" ./cmd/clvsync)

# @hubspot/api-client 14 declares engines node>=22 but runs on Node 20 (this
# test is the proof); --loglevel=error keeps npm's EBADENGINE warning quiet.
if [ ! -d "$here/node_modules" ]; then
  echo "== compat/hubspot-node: npm ci"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "== compat/hubspot-node: @hubspot/api-client $(cd "$here" && node -p 'require("@hubspot/api-client/package.json").version'), node $(node --version)"

token="compat-token-$RANDOM$RANDOM"
# Port 0: the kernel picks a free port; fakehub prints the one it got.
"$tmp/clvsync" fakehub --listen 127.0.0.1:0 --contacts 300 --seed 7 --anchor 2026-11-01 \
  --token "$token" >"$tmp/fakehub.log" 2>&1 &
fake_pid=$!

url=""
for _ in $(seq 1 300); do # up to 30 s
  if line="$(grep -m1 'base URL' "$tmp/fakehub.log" 2>/dev/null)"; then
    url="$(sed -E 's/.*base URL: *(http:[^ ]+).*/\1/' <<<"$line")"
    break
  fi
  if ! kill -0 "$fake_pid" 2>/dev/null; then
    echo "compat/hubspot-node: fakehub exited early:" >&2
    cat "$tmp/fakehub.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "compat/hubspot-node: fakehub did not print its base URL within 30 s:" >&2
  cat "$tmp/fakehub.log" >&2
  exit 1
fi
echo "== compat/hubspot-node: fakehub at $url"

cd "$here"
status=0
FAKEHUB_URL="$url" FAKEHUB_TOKEN="$token" node --test --test-reporter=spec test.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "compat/hubspot-node: FAILED (node --test exit $status); fakehub log:" >&2
  tail -n 20 "$tmp/fakehub.log" >&2
fi
exit "$status"
