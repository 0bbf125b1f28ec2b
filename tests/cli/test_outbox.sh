#!/usr/bin/env bash
# test_outbox.sh - `loopgate outbox list|show|replay|events` end to end:
# offline (--data) on a store filled by outbox_fill (through store.h), the
# same through a running server (--url/--token), and the refusals: unknown
# job, job not dead, bad state name, missing arguments (exit 2), a data
# directory held by the server (exit 1, pointing to --url), a client that
# is not coordination staff (403).
# Usage: test_outbox.sh path/to/loopgate path/to/outbox_fill DEFS_DIR
#        (CTest: cli_outbox)
set -u
LG=${1:?usage: test_outbox.sh path/to/loopgate path/to/outbox_fill DEFS_DIR}
FILL=${2:?usage: test_outbox.sh path/to/loopgate path/to/outbox_fill DEFS_DIR}
DEFS=${3:?usage: test_outbox.sh path/to/loopgate path/to/outbox_fill DEFS_DIR}
TMP=$(mktemp -d /tmp/lg-cli-outbox-XXXXXX)
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then
        kill "$SERVER" 2>/dev/null
        wait "$SERVER" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
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
lines() { # NAME COUNT FILE (lines that start with a job id or seq)
    checks=$((checks + 1))
    local n
    n=$(grep -cE '^[0-9]+ ' "$3")
    [ "$n" = "$2" ] || { fail "$1: $n rows, expected $2"; sed 's/^/    /' "$3" | head -20; }
}

# --- no store yet: nothing is created ---
run no-store 1 outbox list --data "$D"
expect no-store-msg "no store in $D" "$TMP/err"
checks=$((checks + 1))
[ ! -e "$D/loopgate.db" ] || fail "no-store: list created a store"

"$FILL" "$D" || { echo "FAIL: outbox_fill"; exit 1; }

# --- list, offline ---
run list 0 outbox list --data "$D"
expect list-counts "pending 1, done 1, dead 2" "$TMP/out"
lines list-rows 4 "$TMP/out"
expect list-error "HTTP 500 from https://uu.example" "$TMP/out"
run list-dead 0 outbox list --data "$D" --state dead
lines list-dead-rows 2 "$TMP/out"
absent list-dead-no-pending " pending " "$TMP/out"
run list-fh 0 outbox list --data "$D" --platform fh
lines list-fh-rows 2 "$TMP/out"
absent list-fh-no-uu " uu " "$TMP/out"
run list-page 0 outbox list --data "$D" --count 3
lines list-page-rows 3 "$TMP/out"
expect list-page-more "(more: --after 3)" "$TMP/out"
run list-page2 0 outbox list --data "$D" --count 3 --after 3
lines list-page2-rows 1 "$TMP/out"
expect list-page2-id "t4" "$TMP/out"
run list-json 0 outbox list --data "$D" --state dead --json
expect list-json-counts '"counts":{"pending":1,"done":1,"dead":2}' "$TMP/out"
expect list-json-job '"id":2,"platform":"uu","kind":"create","task_id":"t2"' "$TMP/out"

# --- show ---
run show 0 outbox show --data "$D" 3
expect show-state "state        done" "$TMP/out"
expect show-remote "remote id    R-3" "$TMP/out"
expect show-task "Task/t3" "$TMP/out"
run show-json 0 outbox show --data "$D" 2 --json
expect show-json '"state":"dead","attempts":8' "$TMP/out"
run show-unknown 1 outbox show --data "$D" 99
expect show-unknown-msg "no outbox job 99" "$TMP/err"

# --- replay ---
run replay-pending 1 outbox replay --data "$D" 1
expect replay-pending-msg "job 1 is pending, not dead" "$TMP/err"
run replay-unknown 1 outbox replay --data "$D" 77
expect replay-unknown-msg "no outbox job 77" "$TMP/err"
run replay 0 outbox replay --data "$D" 2
expect replay-msg "replayed job 2 (uu create of Task/t2): dead -> pending" "$TMP/out"
run replay-stored 0 outbox show --data "$D" 2 --json
expect replay-stored-state '"state":"pending","attempts":0' "$TMP/out"
expect replay-error-kept '"last_error":"HTTP 500 from https://uu.example"' "$TMP/out"
run replay-again 1 outbox replay --data "$D" 2
expect replay-again-msg "job 2 is pending, not dead" "$TMP/err"
# several at once: one good, one bad -> 1, the good one done
run replay-mixed 1 outbox replay --data "$D" 4 3
expect replay-mixed-ok "replayed job 4" "$TMP/out"
expect replay-mixed-bad "job 3 is done, not dead" "$TMP/err"
run counts-after 0 outbox list --data "$D"
expect counts-after-msg "pending 3, done 1, dead 0" "$TMP/out"

# --- events ---
run events 0 outbox events --data "$D"
lines events-rows 3 "$TMP/out"
run events-parked 0 outbox events --data "$D" --outcome parked
lines events-parked-rows 1 "$TMP/out"
expect events-parked-detail "completed -> accepted is not allowed" "$TMP/out"
run events-json 0 outbox events --data "$D" --count 1 --json
expect events-json-next '"next_after":1' "$TMP/out"

# --- usage errors ---
run bad-state 2 outbox list --data "$D" --state lost
expect bad-state-msg "unknown state 'lost'" "$TMP/err"
run bad-verb 2 outbox purge --data "$D"
run no-where 2 outbox list
run both-where 2 outbox list --data "$D" --url http://127.0.0.1:1 --token x
run no-token 2 outbox list --url http://127.0.0.1:1
run show-no-id 2 outbox show --data "$D"
run replay-bad-id 2 outbox replay --data "$D" abc
run bad-count 2 outbox list --data "$D" --count 0
run state-on-events 2 outbox events --data "$D" --state dead

# --- a running server: the directory is held; the same through --url ---
run add-admin 0 client add --data "$D" --id ops --role coordination --org Organization/ops
TOKEN=$(cat "$TMP/out")
run add-cbo 0 client add --data "$D" --id cbo --role referral-recipient --org Organization/cbo-1
CBO=$(cat "$TMP/out")
URL=
for attempt in 1 2 3 4 5; do
    PORT=$((20000 + RANDOM % 40000))
    "$LG" serve --listen "127.0.0.1:$PORT" --data "$D" --defs "$DEFS" --threads 1 \
        >"$TMP/server.log" 2>&1 &
    SERVER=$!
    for i in $(seq 1 100); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/metadata" 2>/dev/null; then
            URL=http://127.0.0.1:$PORT
            break
        fi
        kill -0 "$SERVER" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$URL" ] && break
    kill "$SERVER" 2>/dev/null
    wait "$SERVER" 2>/dev/null
    SERVER=
done
if [ -z "$URL" ]; then
    fail "the server did not start"
    sed 's/^/    /' "$TMP/server.log" | tail -20
else
    run locked 1 outbox list --data "$D"
    expect locked-msg "a running server holds the data directory $D" "$TMP/err"
    expect locked-hint "loopgate outbox list --url" "$TMP/err"

    run online-list 0 outbox list --url "$URL" --token "$TOKEN"
    expect online-counts "pending 3, done 1, dead 0" "$TMP/out"
    lines online-rows 4 "$TMP/out"
    run online-list-json 0 outbox list --url "$URL/" --token "$TOKEN" --state done --json
    expect online-json '"state":"done"' "$TMP/out"
    expect online-json-one '"jobs":[{"id":3,' "$TMP/out"
    run online-platform 0 outbox list --url "$URL" --token "$TOKEN" --platform uu --count 1
    lines online-platform-rows 1 "$TMP/out"
    expect online-platform-more "(more: --after 1)" "$TMP/out"
    run online-show 0 outbox show --url "$URL" --token "$TOKEN" 3
    expect online-show-remote "remote id    R-3" "$TMP/out"
    run online-show-unknown 1 outbox show --url "$URL" --token "$TOKEN" 99
    expect online-show-unknown-msg "No outbox job 99" "$TMP/err"
    run online-replay-not-dead 1 outbox replay --url "$URL" --token "$TOKEN" 3
    expect online-replay-msg "is not dead" "$TMP/err"
    expect online-replay-409 "HTTP 409" "$TMP/err"
    run online-events 0 outbox events --url "$URL" --token "$TOKEN" --outcome parked
    lines online-events-rows 1 "$TMP/out"
    LOOPGATE_TOKEN=$TOKEN run online-env-token 0 outbox events --url "$URL"
    lines online-env-token-rows 3 "$TMP/out"
    run online-cbo 1 outbox list --url "$URL" --token "$CBO"
    expect online-cbo-403 "HTTP 403" "$TMP/err"
    run online-bad-token 1 outbox list --url "$URL" --token nope
    expect online-bad-token-401 "HTTP 401" "$TMP/err"
fi

echo "$checks checks, $fails failed"
[ "$fails" = 0 ]
