#!/usr/bin/env bash
# The OpenAPI contract: starts the debug binary, fetches its /openapi.json and
# lets schemathesis drive every operation with generated requests, checking
# that none answers 5xx and that every status, content type, header and body
# conforms to the document. Bounded (examples per operation) so CI stays
# short: about a minute on 2 cores. Usage: tests/contract/run.sh [max-examples]
set -euo pipefail
cd "$(dirname "$0")/../.."

BINARY=${TOKENGATE_BINARY:-target/debug/tokengate}
MAX_EXAMPLES=${1:-50}
work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

export CONTRACT_USER=contract CONTRACT_PASSWORD=contract-password-0123
echo "$CONTRACT_PASSWORD" | "$BINARY" hash-password --user "$CONTRACT_USER" > "$work/users"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TOKENGATE__SERVER__PORT=$port \
TOKENGATE__USERS__FILE="$work/users" \
TOKENGATE__JWT__TTL=1h \
RUST_LOG=warn \
  "$BINARY" serve 2> "$work/log" &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
CONTRACT_TOKEN=$(curl -fsS -u "$CONTRACT_USER:$CONTRACT_PASSWORD" -H 'Accept: application/json' \
  "$base/login" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
export CONTRACT_TOKEN

# Positive and negative examples; the checks are the contract's: no server
# error, and responses as documented. (`unsupported_method` is left out:
# actix answers 404, not 405, for a method a path does not route.)
# `POST /logout` ends the contract token's session, after which every
# token-protected operation could only answer 401: it runs last, alone.
contract() {
  timeout 600 schemathesis --config-file tests/contract/schemathesis.toml run "$base/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    --seed 15 \
    --generation-database none \
    --request-timeout 10 \
    --workers 1 \
    --no-color \
    "$@" \
    || { echo "--- tokengate log" >&2; tail -50 "$work/log" >&2; exit 1; }
}
contract --exclude-path /logout
contract --include-path /logout
