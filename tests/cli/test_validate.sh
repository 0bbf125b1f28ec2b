#!/usr/bin/env bash
# test_validate.sh - `loopgate validate` end to end: real R4 and SDOHCC
# examples must pass, mutated copies (written to a temp dir) must fail with
# the right location, and the exit status must be 0 / 1 / 2 as documented.
# Usage: test_validate.sh path/to/loopgate   (CTest: cli_validate)
set -u
LG=${1:?usage: test_validate.sh path/to/loopgate}
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${LG_SHARED_DIR:-$HERE/../../../shared}
EX=$SHARED/fhir/r4-examples
SDOH="$SHARED/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package"
TMP=$(mktemp -d /tmp/lg-cli-validate-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0 checks=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# run NAME EXPECTED_RC ARGS... : runs loopgate validate, keeps output in $TMP/out
run() {
    local name=$1 want=$2
    shift 2
    checks=$((checks + 1))
    "$LG" validate "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ "$rc" != "$want" ]; then
        fail "$name: exit $rc, expected $want"
        sed 's/^/    /' "$TMP/out" "$TMP/err" | head -20
    fi
}
# expect NAME PATTERN [FILE] : a fixed string must appear in the output
expect() {
    checks=$((checks + 1))
    grep -qF -- "$2" "${3:-$TMP/out}" || { fail "$1: no '$2' in output"; head -20 "${3:-$TMP/out}" | sed 's/^/    /'; }
}

[ -d "$EX" ] || { echo "FAIL: no R4 examples at $EX"; exit 1; }

# --- usage ---
run help 0 --help
expect help "Usage: loopgate validate"
run no-files 2
expect no-files "no files given" "$TMP/err"
run bad-option 2 --frobnicate "$EX/Patient-example.json"
run bad-defs 2 --defs "$TMP/nowhere" "$EX/Patient-example.json"
expect bad-defs "cannot load definitions" "$TMP/err"

# --- every official example but the one known-bad one passes ---
mapfile -t good < <(ls "$EX"/*.json | grep -v '/Questionnaire-qs1.json$')
[ "${#good[@]}" -ge 200 ] || fail "only ${#good[@]} R4 examples"
run r4-examples 0 "${good[@]}"
expect r4-examples "Done: ${#good[@]} files checked, 0 with errors, 0 unreadable"
n=$(grep -c '^Success: 0 errors' "$TMP/out")
[ "$n" = "${#good[@]}" ] || fail "r4-examples: $n Success lines for ${#good[@]} files"
checks=$((checks + 1))

# --- SDOHCC referral examples (ServiceRequest, Task) ---
mapfile -t sdoh < <(ls "$SDOH"/ServiceRequest-*.json "$SDOH"/Task-*.json)
[ "${#sdoh[@]}" -ge 10 ] || fail "only ${#sdoh[@]} SDOHCC examples"
run sdohcc 0 "${sdoh[@]}"
expect sdohcc "0 with errors"

# --- the official example that breaks Questionnaire.item.linkId 1..1 ---
run qs1 1 "$EX/Questionnaire-qs1.json"
expect qs1 "*FAILURE*: 32 errors, 0 warnings, 0 notes"
expect qs1 "  Error @ Questionnaire.item[0].item[0].linkId (line "

# --- mutated copies ---
P=$EX/Patient-example.json
sed 's/"birthDate": "1974-12-25"/"birthDate": "1974-02-30"/' "$P" >"$TMP/bad-date.json"
sed 's/"active": true/"active": "yes"/' "$P" >"$TMP/bad-bool.json"
sed 's/"gender": "male",/"gender": "male", "favouriteColour": "blue",/' "$P" >"$TMP/unknown.json"
sed 's/"gender": "male",/"gender": "mail",/' "$P" >"$TMP/bad-code.json"
head -c 300 "$P" >"$TMP/truncated.json"
for f in bad-date bad-bool unknown bad-code truncated; do
    cmp -s "$P" "$TMP/$f.json" && fail "mutation $f changed nothing"
done
run bad-date 1 "$TMP/bad-date.json"
expect bad-date "*FAILURE*: 1 errors"
expect bad-date "Error @ Patient.birthDate (line "
# the key's line and column in the file (Patient-example.json, line 83)
expect bad-date-pos "Error @ Patient.birthDate (line 83, col 3): "
run bad-bool 1 "$TMP/bad-bool.json"
expect bad-bool "Error @ Patient.active (line "
run unknown 1 "$TMP/unknown.json"
expect unknown "Error @ Patient.favouriteColour (line "
# gender is bound (required) to AdministrativeGender
run bad-code 1 "$TMP/bad-code.json"
expect bad-code "Error @ Patient.gender (line "
run bad-code-no-terminology 0 --no-terminology "$TMP/bad-code.json"
run truncated 1 "$TMP/truncated.json"
expect truncated "JSON syntax error"

# a Bundle whose entry is broken: the location goes through the entry
cat >"$TMP/bundle.json" <<'JSON'
{"resourceType":"Bundle","type":"transaction","entry":[
 {"resource":{"resourceType":"Patient","active":true},"request":{"method":"POST","url":"Patient"}},
 {"resource":{"resourceType":"Task","intent":"order"},"request":{"method":"POST","url":"Task"}}]}
JSON
run bundle 1 "$TMP/bundle.json"
expect bundle "Error @ Bundle.entry[1].resource.status (line "

# --- several files: one bad one makes the run fail, all are reported ---
run mixed 1 "$P" "$TMP/bad-date.json" "$EX/Task-example1.json"
expect mixed "Done: 3 files checked, 1 with errors, 0 unreadable"
[ "$(grep -c '^-- ' "$TMP/out")" = 3 ] || fail "mixed: not three file headers"
checks=$((checks + 1))

# --- an unreadable file is exit 2, the others are still checked ---
run missing 2 "$P" "$TMP/does-not-exist.json"
expect missing "cannot read $TMP/does-not-exist.json" "$TMP/err"
expect missing "Success: 0 errors, 0 warnings, 1 notes"
run directory 2 "$TMP"

# --- standard input ---
checks=$((checks + 1))
"$LG" validate - <"$TMP/bad-date.json" >"$TMP/out" 2>&1
[ $? = 1 ] || fail "stdin: expected exit 1"
expect stdin "Error @ Patient.birthDate (line "

# --- profiles and IG packages ---
USC="$SHARED/fhir/packages/hl7.fhir.us.core#7.0.0"
SDP="$SHARED/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0"
REFERRAL=http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-TaskForReferralManagement
# a profile that is not loaded is refused, never silently passed
run profile-not-loaded 2 --profile "$REFERRAL" "$P"
expect profile-not-loaded "is not loaded (add its --package)" "$TMP/err"
run bad-package 2 --package "$TMP" "$P"
expect bad-package "cannot load package" "$TMP/err"
# without the package the claimed profile is only a warning...
run sdohcc-claims 0 "${sdoh[@]}"
expect sdohcc-claims "is not known here"
# ...with it, the examples are checked against it and still pass
run sdohcc-profiles 0 --package "$USC" --package "$SDP" "${sdoh[@]}"
expect sdohcc-profiles "Done: ${#sdoh[@]} files checked, 0 with errors"
checks=$((checks + 1))
grep -q "is not known here" "$TMP/out" && fail "sdohcc-profiles: claimed profiles not loaded"
# Task.authoredOn is 0..1 in R4 but 1..1 in the referral Task profile
T="$SDOH/Task-SDOHCC-TaskReferralManagementOrderFulfillmentAcceptedExample.json"
grep -v '"authoredOn"' "$T" >"$TMP/task-no-authored.json"
cmp -s "$T" "$TMP/task-no-authored.json" && fail "authoredOn mutation changed nothing"
run task-base 0 "$TMP/task-no-authored.json"
run task-profile 1 --package "$USC" --package "$SDP" "$TMP/task-no-authored.json"
expect task-profile "Error @ Task.authoredOn (line "
# an R4 Task checked against the referral profile it does not claim
run explicit-profile 1 --package "$USC" --package "$SDP" --profile "$REFERRAL" "$EX/Task-example1.json"
expect explicit-profile "Error @ Task.code (line "
run explicit-profile-ok 0 --package "$USC" --package "$SDP" --profile "$REFERRAL" "$T"

echo "cli_validate: $checks checks, $fails failures"
[ "$fails" = 0 ]
