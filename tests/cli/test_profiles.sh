#!/usr/bin/env bash
# test_profiles.sh - checks Loopgate's FHIR package (profiles/package/):
# regenerating it from scripts/profiles/content.js changes nothing, and
# check.js's consistency checks pass (JSON, unique and resolvable canonicals,
# snapshot ids, extension contexts, search parameters, examples conforming to
# their profiles and broken copies rejected). Then it proves the --check can
# fail: edited, missing and stray files in a scratch copy are all reported.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v node >/dev/null || { echo "test_profiles: node is required" >&2; exit 1; }

node scripts/profiles/build.js --check
node scripts/profiles/check.js

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
expect_stale() { # label: build.js --check on the scratch copy must fail
    if LG_PROFILES_PKG="$tmp/package" node scripts/profiles/build.js --check >"$tmp/out" 2>&1; then
        echo "test_profiles: build.js --check missed: $1" >&2
        exit 1
    fi
    grep -q "out of date\|not generated" "$tmp/out" || { cat "$tmp/out" >&2; exit 1; }
}
fresh() { rm -rf "$tmp/package"; cp -r profiles/package "$tmp/package"; }

fresh
LG_PROFILES_PKG="$tmp/package" node scripts/profiles/build.js --check >/dev/null
sed -i 's/"max": "1"/"max": "2"/' "$tmp/package/StructureDefinition-loopgate-patient.json"
expect_stale "an edited snapshot"
fresh
rm "$tmp/package/ValueSet-phm-tier.json"
expect_stale "a missing file"
fresh
echo '{}' >"$tmp/package/StructureDefinition-stray.json"
expect_stale "a stray file"
fresh
cp profiles/package/example/Task-loopgate-task-example.json "$tmp/package/example/Task-another.json"
expect_stale "an example missing from example/.index.json"
echo "test_profiles: ok"
