#!/usr/bin/env bash
# xml.sh - FHIR XML beside FHIR JSON, one thread, on the same resources (the
# official R4 examples of the types Loopgate serves, and all of them): parse,
# parse + structure check, parse + full validation, resources per second and
# MB/s for each format, and the XML/JSON throughput ratio of each step.
# The XML is made from each JSON file by lg_json_to_xml outside the clock.
#
# Environment: BUILD (default build/), LG_SHARED_DIR (default ../shared),
# ROUNDS (7), ROUND_MS (300). The machines are shared: compare ratios.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${LG_SHARED_DIR:-$ROOT/../shared}
BUILD=${BUILD:-$ROOT/build}
EX=$SHARED/fhir/r4-examples
[ -d "$EX" ] || { echo "xml.sh: no R4 examples at $EX" >&2; exit 2; }
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" --target lg_bench_xml lg_bench_validate -j2 >/dev/null
served=$("$BUILD/lg_bench_validate" --served-types | tr '\n' ' ')
files=()
for f in "$EX"/*.json; do
    t=$(basename "$f" | cut -d- -f1)
    case " $served " in *" $t "*) files+=("$f") ;; esac
done
echo "== r4-served: ${#files[@]} official R4 examples of the served types"
"$BUILD/lg_bench_xml" --rounds "${ROUNDS:-7}" --round-ms "${ROUND_MS:-300}" "${files[@]}"
echo "== r4-all: every official R4 example"
"$BUILD/lg_bench_xml" --rounds "${ROUNDS:-7}" --round-ms "${ROUND_MS:-300}" "$EX"/*.json
