#!/usr/bin/env bash
# Fuzzes arbor's HTTP API from its own OpenAPI document with schemathesis, against a live
# `arbor demo` (the simulated fleet: three clusters of simulated MySQL/MariaDB servers, with
# automated recovery on). Fails on any 5xx answer, any answer that does not match the schema
# (status, content type, body), or arbor exiting.
#
#   scripts/fuzz-api.sh            # the bounded run the test command does (50 examples per
#                                  # operation, about 8,000 requests, a minute)
#   scripts/fuzz-api.sh 2000       # a longer run: up to N examples per operation (200: 31,800
#                                  # requests in 4.5 minutes on 2 cores)
#
# schemathesis is installed from PyPI into target/fuzz-venv (pinned version) the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES="${1:-${ARBOR_FUZZ_EXAMPLES:-50}}"
SCHEMATHESIS_VERSION="3.39.16"
VENV="target/fuzz-venv"

if [[ "$("$VENV/bin/st" --version 2>/dev/null || true)" != *"$SCHEMATHESIS_VERSION"* ]]; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  # hypothesis pinned too: later ones break schemathesis 3 ("'many' object has no attribute 'more'").
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION" "hypothesis==6.131.0"
fi

cargo build --locked --bin arbor
ARBOR="$PWD/target/debug/arbor"

work="$(mktemp -d -t arbor-fuzz-XXXXXX)"
demo_pid=""
cleanup() {
  if [ -n "$demo_pid" ]; then kill "$demo_pid" 2>/dev/null || true; wait "$demo_pid" 2>/dev/null || true; fi
  if [ "${keep:-0}" = 1 ]; then
    echo "arbor's log kept in $work/demo.log"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$work/arbor.conf.json" <<EOF
{
  "ListenAddress": "127.0.0.1:$port",
  "SQLite3DataFile": "$work/arbor.sqlite3",
  "InstancePollSeconds": 1
}
EOF
"$ARBOR" demo --config "$work/arbor.conf.json" >"$work/demo.log" 2>&1 &
demo_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 150); do
  if curl -fsS "$base/api/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$demo_pid" 2>/dev/null; then keep=1; echo "arbor demo exited"; exit 1; fi
  sleep 0.2
done

echo "== schemathesis: $EXAMPLES examples per operation against $base"
status=0
"$VENV/bin/st" run "$base/api/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --hypothesis-max-examples "$EXAMPLES" \
  --hypothesis-seed 1 \
  --hypothesis-suppress-health-check all \
  --request-timeout 20000 \
  --workers 2 \
  --no-color || status=$?

if ! kill -0 "$demo_pid" 2>/dev/null; then
  keep=1
  echo "arbor exited during the fuzz run"
  exit 1
fi
if [ "$status" -ne 0 ]; then keep=1; fi
exit "$status"
