#!/usr/bin/env bash
# test_client.sh - `loopgate client add|list|remove` and `loopgate audit
# export` end to end, offline: the token alone on stdout, only its hash in
# clients.json (mode 0600), refusals with exit status 2, and `serve`
# refusing to start without clients (or with --no-auth and --allow-remote).
# Usage: test_client.sh path/to/loopgate   (CTest: cli_client)
set -u
LG=${1:?usage: test_client.sh path/to/loopgate}
TMP=$(mktemp -d /tmp/lg-cli-client-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
D=$TMP/data
fails=0 checks=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# run NAME EXPECTED_RC ARGS... : keeps stdout in $TMP/out, stderr in $TMP/err
run() {
    local name=$1 want=$2
    shift 2
    checks=$((checks + 1))
    "$LG" "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ "$rc" != "$want" ]; then
        fail "$name: exit $rc, expected $want"
        sed 's/^/    /' "$TMP/out" "$TMP/err" | head -20
    fi
}
expect() { # NAME PATTERN FILE
    checks=$((checks + 1))
    grep -qF -- "$2" "$3" || { fail "$1: no '$2' in $3"; head -20 "$3" | sed 's/^/    /'; }
}
absent() { # NAME PATTERN FILE
    checks=$((checks + 1))
    ! grep -qF -- "$2" "$3" || fail "$1: '$2' should not be in $3"
}

# --- add: the data directory is created, the token is stdout's only line ---
run add 0 client add --data "$D" --id cbo-1 --role referral-recipient --org Organization/cbo-1
tok1=$(cat "$TMP/out")
checks=$((checks + 1))
[ "$(wc -l <"$TMP/out")" = 1 ] && [[ $tok1 =~ ^[A-Za-z0-9_-]{43}$ ]] || fail "add: stdout is not one token: $tok1"
expect add-msg "added client 'cbo-1'" "$TMP/err"
checks=$((checks + 1))
[ "$(stat -c %a "$D/clients.json")" = 600 ] || fail "clients.json mode $(stat -c %a "$D/clients.json")"
absent no-token-stored "$tok1" "$D/clients.json"
hash=$(printf %s "$tok1" | sha256sum | cut -d' ' -f1)
expect hash-stored "$hash" "$D/clients.json"

run add-two-refs 0 client add --data "$D" --id ehr-1 --role referral-source \
    --org Organization/ehr-1 --ref PractitionerRole/pr-2
tok2=$(cat "$TMP/out")
checks=$((checks + 1))
[ "$tok1" != "$tok2" ] || fail "two clients got the same token"

run add-unrestricted 0 client add --data "$D" --id migrate --role coordination \
    --org Organization/plan --unrestricted
expect unrestricted-stored '"unrestricted": true' "$D/clients.json"
run list-unrestricted 0 client list --data "$D"
expect list-unrestricted-shown "(unrestricted)" "$TMP/out"
run remove-unrestricted 0 client remove --data "$D" --id migrate

# --- refusals ---
run dup 2 client add --data "$D" --id cbo-1 --role reporting --org Organization/x
expect dup-msg "a client with id 'cbo-1' exists" "$TMP/err"
checks=$((checks + 1)); [ ! -s "$TMP/out" ] || fail "dup: printed a token"
run bad-role 2 client add --data "$D" --id x --role admin --org Organization/x
expect bad-role-msg "unknown role 'admin'" "$TMP/err"
run bad-ref 2 client add --data "$D" --id x --role reporting --org cbo-1
expect bad-ref-msg "'cbo-1' is not a reference Type/id" "$TMP/err"
run bad-ref2 2 client add --data "$D" --id x --role reporting --org Organization/a/b
run bad-id 2 client add --data "$D" --id "a b" --role reporting --org Organization/x
run no-org 2 client add --data "$D" --id x --role reporting
run no-data 2 client add --id x --role reporting --org Organization/x
run unknown-verb 2 client frob --data "$D"

# --- list: ids, roles, references, never hashes ---
run list 0 client list --data "$D"
expect list-1 "cbo-1" "$TMP/out"
expect list-2 "referral-source" "$TMP/out"
expect list-3 "PractitionerRole/pr-2" "$TMP/out"
absent list-hash "$hash" "$TMP/out"
checks=$((checks + 1))
[ "$(grep -c . "$TMP/out")" = 3 ] || fail "list: expected a header and 2 clients"

# --- remove ---
run remove 0 client remove --data "$D" --id ehr-1
run remove-again 1 client remove --data "$D" --id ehr-1
run list-after 0 client list --data "$D"
absent removed "ehr-1" "$TMP/out"
run list-missing 1 client list --data "$TMP/nowhere"
expect list-missing-msg "client add" "$TMP/err"

# --- a broken file is named with its problem ---
mkdir -p "$TMP/broken"
echo '{"clients":[{"id":"x","role":"boss","actsFor":["Organization/a"],"tokenSha256":"00"}]}' \
    >"$TMP/broken/clients.json"
run broken 1 client list --data "$TMP/broken"
expect broken-msg "clients.json: client 1 (x): unknown role 'boss'" "$TMP/err"

# --- serve refuses to start without clients, says how to add one ---
run serve-no-clients 2 serve --data "$TMP/empty" --listen 127.0.0.1:1
expect serve-msg "loopgate client add --data $TMP/empty" "$TMP/err"
expect serve-msg2 "--no-auth" "$TMP/err"
run serve-broken 2 serve --data "$TMP/broken" --listen 127.0.0.1:1
expect serve-broken-msg "unknown role 'boss'" "$TMP/err"
run serve-no-auth-remote 2 serve --data "$TMP/empty" --no-auth --allow-remote --listen 0.0.0.0:1
expect no-auth-remote-msg "--no-auth cannot be combined with --allow-remote" "$TMP/err"

# --- audit export of a log written by hand (the server's format) ---
cat >"$D/audit.log" <<'LOG'
{"time":"2026-11-30T10:00:00.000Z","client":"cbo-1","role":"referral-recipient","who":"Organization/cbo-1","method":"GET","path":"/Task/1","query":null,"status":200,"type":"Task","id":"1","ms":1.000}
{"time":"2026-11-30T11:00:00.000Z","client":null,"role":null,"who":null,"method":"GET","path":"/Task/2","query":null,"status":401,"type":"Task","id":"2","ms":0.100}
LOG
run export 0 audit export --data "$D"
expect export-type '"resourceType":"Bundle"' "$TMP/out"
expect export-who '"who":{"reference":"Organization/cbo-1"}' "$TMP/out"
checks=$((checks + 1))
first=$(grep -o '"reference":"Task/[0-9]"' "$TMP/out" | head -1)
[ "$first" = '"reference":"Task/2"' ] || fail "export: newest first, got $first"
run export-since 0 audit export --data "$D" --since 2026-11-30T10:30:00Z
absent export-since-old '"reference":"Task/1"' "$TMP/out"
expect export-since-new '"reference":"Task/2"' "$TMP/out"
run export-bad-since 2 audit export --data "$D" --since yesterday
run export-usage 2 audit

echo "cli_client: $checks checks, $fails failed"
echo "$((checks - fails)) passed, $fails failed"
[ "$fails" = 0 ]
