#!/usr/bin/env bash
# validate-diff.sh - dump every issue lg_validate_full reports on the
# validation corpus, to check that a speed-up checks exactly as much as
# before:
#   r4      every official R4 example, base definitions only
#   r4+IG   the same with the US Core and SDOHCC packages loaded
#   ig      every instance in the US Core and SDOHCC packages (and
#           Loopgate's own profiles/ examples), packages loaded
#   synthea the Synthea Bundles, packages loaded
#
#   scripts/bench/validate-diff.sh OUT            write the dump to OUT
#   scripts/bench/validate-diff.sh OUT BEFORE     ... and diff it with BEFORE
#
# Environment: BUILD (default build/), LG_SHARED_DIR (default ../shared).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${LG_SHARED_DIR:-$ROOT/../shared}
BUILD=${BUILD:-$ROOT/build}
OUT=${1:?usage: validate-diff.sh OUT [BEFORE]}
PK=$SHARED/fhir/packages
USC="$PK/hl7.fhir.us.core#7.0.0"
SDOH="$PK/hl7.fhir.us.sdoh-clinicalcare#3.0.0"

cmake --build "$BUILD" --target lg_bench_validate -j2 >/dev/null
LGB=$BUILD/lg_bench_validate
LISTS=$(mktemp -d "${TMPDIR:-/tmp}/lg-vdiff-XXXXXX")
trap 'rm -rf "$LISTS"' EXIT
ls "$SHARED"/fhir/r4-examples/*.json >"$LISTS/r4"
# package instances: everything but the conformance resources
for f in "$USC"/package/*.json "$SDOH"/package/*.json "$ROOT"/profiles/package/example/*.json; do
    case "$(basename "$f")" in
    package.json | .* | StructureDefinition-* | ValueSet-* | CodeSystem-* | \
        CapabilityStatement-* | SearchParameter-* | ImplementationGuide-* | \
        OperationDefinition-*) ;;
    *) echo "$f" ;;
    esac
done >"$LISTS/ig"
ls "$SHARED"/fhir/synthea/*.json >"$LISTS/synthea" 2>/dev/null || : >"$LISTS/synthea"
{
    "$LGB" --dump r4="$LISTS/r4"
    "$LGB" --dump --package "$USC" --package "$SDOH" --package "$ROOT/profiles/package" r4+IG="$LISTS/r4" ig="$LISTS/ig" \
        synthea="$LISTS/synthea"
} >"$OUT"
echo "validate-diff.sh: $(grep -c '^==' "$OUT") files, $(grep -vc '^==' "$OUT") issues -> $OUT" >&2
if [ $# -ge 2 ]; then
    diff -u "$2" "$OUT" && echo "validate-diff.sh: identical to $2" >&2
fi
