#!/usr/bin/env bash
# Soak test: the release build under ten minutes of mixed hostile traffic.
#
#   bench/soak.sh                 # 600 s
#   SOAK_SECONDS=60 bench/soak.sh # a shorter run
#
# Five wrk processes run at once, one traffic class each, so every response
# is judged against what its class must get:
#   valid      valid tokens by query, Bearer and cookie          -> 200
#   rejected   expired, forged, alg=none, wrong typ/aud,
#              malformed and 8 KiB tokens                        -> 401
#   oversized  60 KiB header , 9 KiB target, 64 KiB body         -> 431, 414, 413
#   login      the right password, over and over                 -> 200, 429
#   random     wrong passwords for fresh random usernames        -> 401, 429
# It prints the totals per class, every unexpected status (any 5xx fails
# the run), each class's latency (p50 / p99 / max: the login classes show
# what logins get beside the token floods), and the server's RSS at the
# start, each minute and the end.
# Traffic goes to 127.0.0.1 only; the server and wrk stop by themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TOTAL=${SOAK_SECONDS:-600}
BINARY=${SOAK_BINARY:-target/release/tokengate}

command -v wrk >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
}
[ -x "$BINARY" ] || cargo build --release --bin tokengate

work=$(mktemp -d)
server_pid=""
wrk_pids=()
cleanup() {
  for pid in "${wrk_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${SOAK_KEEP:-}" ]; then echo "soak: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
echo "$password" | "$BINARY" hash-password --user soak > "$work/users"

# Every client is 127.0.0.1, so the per-address limit is off (as if the
# traffic came from many addresses); the per-username limit stays as shipped.
RUST_LOG="warn,tokengate=info,tokengate::throttle=debug" \
TOKENGATE__SERVER__HOST=127.0.0.1 \
TOKENGATE__SERVER__PORT=0 \
TOKENGATE__JWT__SECRET="$secret" \
TOKENGATE__USERS__FILE="$work/users" \
TOKENGATE__JWT__TTL="$((SECONDS_TOTAL + 600))s" \
TOKENGATE__LIMITS__LOGIN_PER_IP_PER_MINUTE=0 \
  "$BINARY" serve --ready-file "$work/ready.json" 2> "$work/server.log" &
server_pid=$!

# The ready file appears whole (written beside, then renamed) once the
# listener is bound.
for _ in $(seq 100); do
  [ -f "$work/ready.json" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -f "$work/ready.json" ] || { cat "$work/server.log"; echo "soak: server did not start" >&2; exit 1; }
base="http://$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["address"])' "$work/ready.json")"

SOAK_SECRET="$secret" SOAK_PASSWORD="$password" SOAK_TTL=$((SECONDS_TOTAL + 600)) \
  python3 - "$work" "$base" <<'PY'
import base64, hashlib, hmac, json, os, sys, time, urllib.request
work, base = sys.argv[1], sys.argv[2]
secret = os.environ["SOAK_SECRET"].encode()
now = int(time.time())

def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

def token(claims=None, header=None, key=secret, **overrides):
    header = header or {"alg": "HS256", "typ": "at+jwt"}
    claims = dict(claims or {"sub": "soak", "iat": now, "nbf": now,
                  "exp": now + int(os.environ["SOAK_TTL"]), "jti": "soak",
                  "iss": "tokengate", "aud": "tokengate"}, **overrides)
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)

basic = base64.b64encode(f"soak:{os.environ['SOAK_PASSWORD']}".encode()).decode()
# A real login: access tokens name a live session (`sid`), which no token
# minted here could.
login = urllib.request.Request(f"{base}/login", headers={
    "Authorization": f"Basic {basic}", "Accept": "application/json"})
with urllib.request.urlopen(login, timeout=30) as answer:
    valid = json.load(answer)["access_token"]
classes = {
    "valid": [
        f"/access?token={valid}",
        f"/access\tAuthorization: Bearer {valid}",
        f"/access\tCookie: tokengate_token={valid}",
    ],
    "rejected": [
        f"/access\tAuthorization: Bearer {token(exp=now - 3600, iat=now - 7200, nbf=now - 7200)}",
        f"/access\tAuthorization: Bearer {token(key=b'a-forged-key-of-32-bytes-or-more!!')}",
        "/access\tAuthorization: Bearer " + token().rsplit(".", 1)[0].replace(
            b64(json.dumps({"alg": "HS256", "typ": "at+jwt"}).encode()),
            b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())) + ".",
        f"/access\tAuthorization: Bearer {token(header={'alg': 'HS256', 'typ': 'JWT'})}",
        f"/access\tAuthorization: Bearer {token(aud='someone-else')}",
        f"/access?token={token(iss='evil')}",
        "/access\tAuthorization: Bearer not.a.jwt",
        "/access\tAuthorization: Bearer",
        "/access?token=%FF%FE%00",
        "/access\tCookie: tokengate_token=" + "x" * 3000 + "." + "y" * 3000 + "." + "z" * 2000,
        "/access\tAuthorization: Bearer " + "e" * 8192,
        "/access",
    ],
    "oversized": [
        "/access\tX-Filler: " + "a" * 60 * 1024,
        "/access?token=" + "t" * 9 * 1024,
        "/login\tbody=65536",
    ],
    "login": [f"/login\tAuthorization: Basic {basic}\tAccept: application/json"],
    "random": ["@random-login"],
}
for name, lines in classes.items():
    with open(f"{work}/{name}.requests", "w") as f:
        f.write("\n".join(lines) + "\n")
PY

declare -A EXPECT=([valid]="200" [rejected]="401" [oversized]="413 414 431"
                   [login]="200 429" [random]="401 429")
declare -A CONNECTIONS=([valid]=64 [rejected]=64 [oversized]=8 [login]=8 [random]=32)

# Sanity check before the long run: every class answers as expected once.
curl -fsS -H "Authorization: Bearer $(sed -n '2s/.*Bearer //p' "$work/valid.requests")" \
  "$base/access" > /dev/null || { echo "soak: a valid token was refused" >&2; exit 1; }

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }
echo "soak: tokengate pid $server_pid on $base for ${SECONDS_TOTAL}s; RSS at start $(rss_kib) KiB"
echo "minute 0: RSS $(rss_kib) KiB" > "$work/rss"

for class in valid rejected oversized login random; do
  SOAK_REQUESTS="$work/$class.requests" SOAK_OUT="$work/$class.out" \
    wrk -t1 -c"${CONNECTIONS[$class]}" -d"${SECONDS_TOTAL}s" --timeout 10s \
        -s bench/soak.lua "$base" > "$work/$class.wrk" 2>&1 &
  wrk_pids+=($!)
done

minute=0
start=$(date +%s)
while [ $(( $(date +%s) - start )) -lt "$SECONDS_TOTAL" ]; do
  sleep 5
  kill -0 "$server_pid" 2>/dev/null || { echo "soak: the server died" >&2; tail "$work/server.log"; exit 1; }
  elapsed=$(( $(date +%s) - start ))
  if [ $(( elapsed / 60 )) -gt "$minute" ]; then
    minute=$(( elapsed / 60 ))
    echo "minute $minute: RSS $(rss_kib) KiB" | tee -a "$work/rss"
  fi
done
for pid in "${wrk_pids[@]}"; do
  wait "$pid" || echo "soak: a wrk process exited with status $?" >&2
done
wrk_pids=()
end_rss=$(rss_kib)

echo
echo "== soak results (${SECONDS_TOTAL}s, $(nproc) cores) =="
total=0; unexpected=0; server_errors=0
for class in valid rejected oversized login random; do
  [ -s "$work/$class.out" ] || { cat "$work/$class.wrk"; echo "soak: wrk $class wrote no results" >&2; exit 1; }
  class_total=0; line=""
  while read -r key value; do
    case "$key" in
      socket_errors|timeouts) line+=" $key=$value" ;;
      p50_ms|p99_ms|max_ms) ;;
      *)
        class_total=$((class_total + value))
        line+=" $key:$value"
        if [[ " ${EXPECT[$class]} " != *" $key "* ]]; then
          unexpected=$((unexpected + value))
          echo "UNEXPECTED: $class got $value x $key"
        fi
        [ "$key" -ge 500 ] && server_errors=$((server_errors + value))
        ;;
    esac
  done < <(sort "$work/$class.out")
  total=$((total + class_total))
  printf '%-9s %9d requests %7.0f/s |%s\n' "$class" "$class_total" \
    "$(awk -v n="$class_total" -v s="$SECONDS_TOTAL" 'BEGIN {print n / s}')" "$line"
done
echo "total     $total requests, $unexpected unexpected statuses, $server_errors 5xx"
# Per class, so both directions of a flood show: the token classes beside
# the logins, and the two login classes (right password, random usernames)
# beside the token floods (issue #18).
echo "latency   ms of the answered requests (timeouts above), p50 / p99 / max:"
for class in valid rejected oversized login random; do
  printf '          %-9s %s / %s / %s\n' "$class" \
    "$(awk '$1 == "p50_ms" {print $2}' "$work/$class.out")" \
    "$(awk '$1 == "p99_ms" {print $2}' "$work/$class.out")" \
    "$(awk '$1 == "max_ms" {print $2}' "$work/$class.out")"
done
echo "RSS       start $(sed -n '1s/.*RSS \([0-9]*\).*/\1/p' "$work/rss") KiB, end $end_rss KiB; per minute:"
sed 's/^/          /' "$work/rss"
echo "throttle  $(grep -c 'login throttle tracks' "$work/server.log") clean-ups; largest: $(
  grep -o 'tracks [0-9]* address(es) and [0-9]* username(s)' "$work/server.log" \
    | sort -t' ' -k5 -n | tail -1)"
echo "panics    $(grep -ci 'panick' "$work/server.log" || true)"
[ "$server_errors" -eq 0 ] && [ "$unexpected" -eq 0 ]
