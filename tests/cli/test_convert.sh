#!/usr/bin/env bash
# test_convert.sh - `loopgate convert` end to end: JSON -> XML -> JSON ->
# XML gives the same XML twice for official R4 examples, validate reads the
# XML, and the exit codes (1 for input that is not FHIR, 2 for usage).
# Usage: test_convert.sh path/to/loopgate
set -euo pipefail
LG=$1
SHARED=$(cd "$(dirname "$0")/../../.." && pwd)/shared
EX=$SHARED/fhir/r4-examples
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
n=0
# a handful of shapes (each run loads the definitions: keep it short)
for f in "$EX"/Patient-example.json "$EX"/Task-example1.json $(ls "$EX"/Bundle-*.json | head -2) \
         $(ls "$EX"/Questionnaire-*.json | head -2) $(ls "$EX"/Observation-*.json | head -2); do
    [ -f "$f" ] || continue
    b=$tmp/$(basename "$f" .json)
    "$LG" convert "$f" >"$b.1.xml"
    "$LG" convert "$b.1.xml" >"$b.json"
    "$LG" convert --to xml "$b.json" >"$b.2.xml"
    if ! cmp -s "$b.1.xml" "$b.2.xml"; then
        echo "FAIL: $f: XML differs after a round trip"; diff "$b.1.xml" "$b.2.xml" | head -5; fail=1
    fi
    n=$((n + 1))
done
[ "$n" -ge 5 ] || { echo "FAIL: only $n examples found under $EX"; exit 1; }
# validate accepts the XML and reports the same verdict as for the JSON
"$LG" convert "$EX/Patient-example.json" >"$tmp/p.xml"
"$LG" validate "$tmp/p.xml" >"$tmp/v.out" || { echo "FAIL: validate rejects converted XML"; cat "$tmp/v.out"; fail=1; }
grep -q '^Success' "$tmp/v.out" || { echo "FAIL: validate output"; fail=1; }
# input that is not FHIR XML: exit 1, with line and column
printf '<Patient xmlns="http://hl7.org/fhir">\n  <colour value="red"/>\n</Patient>\n' >"$tmp/bad.xml"
set +e
"$LG" convert "$tmp/bad.xml" >"$tmp/out" 2>"$tmp/err"; rc=$?
set -e
[ "$rc" -eq 1 ] || { echo "FAIL: bad XML exit $rc"; fail=1; }
grep -q 'bad.xml:2:3: Patient.colour' "$tmp/err" || { echo "FAIL: no position"; cat "$tmp/err"; fail=1; }
[ ! -s "$tmp/out" ] || { echo "FAIL: output written for bad input"; fail=1; }
set +e
"$LG" validate "$tmp/bad.xml" >"$tmp/v2" 2>&1; rc=$?
"$LG" convert --to yaml "$tmp/bad.xml" >/dev/null 2>&1; rc2=$?
"$LG" convert >/dev/null 2>&1; rc3=$?
set -e
[ "$rc" -eq 1 ] && grep -q 'line 2, col 3' "$tmp/v2" || { echo "FAIL: validate bad XML ($rc)"; cat "$tmp/v2"; fail=1; }
[ "$rc2" -eq 2 ] && [ "$rc3" -eq 2 ] || { echo "FAIL: usage exits $rc2 $rc3"; fail=1; }
[ "$fail" -eq 0 ] && echo "convert: $n examples round-trip, exit codes ok"
exit "$fail"
