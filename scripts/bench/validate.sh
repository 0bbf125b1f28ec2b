#!/usr/bin/env bash
# validate.sh - validation throughput (resources per second, one thread) of
# Loopgate's validator beside Medplum's validateResource and FHIR.js's
# validate, in one run, on the same files:
#   r4-served  the official R4 examples of the types Loopgate serves
#   r4-all     all the official R4 examples in ../shared/fhir/r4-examples
#   sdohcc     the SDOH Clinical Care ServiceRequest and Task examples
# Every validator parses each file once and times only validation (rounds of
# about ROUND_MS, median of ROUNDS). The JavaScript validators are installed
# here from scripts/bench/node/package-lock.json into a scratch directory.
# The machines are shared and noisy: compare ratios, and run it twice.
#
# Environment: BUILD (default build/), LG_SHARED_DIR (default ../shared),
# LG_BENCH_SCRATCH (default $TMPDIR/loopgate-bench-node), ROUNDS (7),
# ROUND_MS (300).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${LG_SHARED_DIR:-$ROOT/../shared}
BUILD=${BUILD:-$ROOT/build}
SCRATCH=${LG_BENCH_SCRATCH:-${TMPDIR:-/tmp}/loopgate-bench-node}
ROUNDS=${ROUNDS:-7}
ROUND_MS=${ROUND_MS:-300}
EX=$SHARED/fhir/r4-examples
SDOH="$SHARED/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0/package"

for tool in cmake node npm; do
    command -v "$tool" >/dev/null || { echo "validate.sh: $tool is required" >&2; exit 2; }
done
[ -d "$EX" ] || { echo "validate.sh: no R4 examples at $EX" >&2; exit 2; }

# 1. Loopgate's bench program (Release-like flags, as served).
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" --target lg_bench_validate -j2 >/dev/null
LGB=$BUILD/lg_bench_validate

# 2. The JavaScript validators, pinned by the lockfile; reinstalled only when
#    the lockfile changed.
mkdir -p "$SCRATCH"
if ! cmp -s "$ROOT/scripts/bench/node/package-lock.json" "$SCRATCH/package-lock.json" ||
   [ ! -d "$SCRATCH/node_modules/@medplum/core" ]; then
    cp "$ROOT/scripts/bench/node/package.json" "$ROOT/scripts/bench/node/package-lock.json" \
       "$SCRATCH/"
    (cd "$SCRATCH" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
cp "$ROOT/scripts/bench/node/bench.mjs" "$SCRATCH/"

# 3. The file lists, shared by both sides.
LISTS=$(mktemp -d "${TMPDIR:-/tmp}/lg-bench-lists-XXXXXX")
trap 'rm -rf "$LISTS"' EXIT
ls "$EX"/*.json >"$LISTS/r4-all"
ls "$SDOH"/ServiceRequest-*.json "$SDOH"/Task-*.json >"$LISTS/sdohcc"
"$LGB" --served-types >"$LISTS/served-types"
node -e '
const fs = require("fs");
const served = new Set(fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean));
for (const f of fs.readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean))
  if (served.has(JSON.parse(fs.readFileSync(f, "utf8")).resourceType)) console.log(f);
' "$LISTS/served-types" "$LISTS/r4-all" >"$LISTS/r4-served"
SETS=(r4-served="$LISTS/r4-served" r4-all="$LISTS/r4-all" sdohcc="$LISTS/sdohcc")

# 4. Measure: Loopgate, then the two JavaScript validators.
echo "validate.sh: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); rounds $ROUNDS x ~${ROUND_MS} ms" >&2
"$LGB" --rounds "$ROUNDS" --round-ms "$ROUND_MS" "${SETS[@]}" >"$LISTS/results"
# Stricter: Loopgate with the US Core and SDOHCC packages loaded checks the
# SDOHCC examples against the profiles they claim (the JavaScript validators
# cannot load those profiles, so this row has Loopgate alone).
"$LGB" --rounds "$ROUNDS" --round-ms "$ROUND_MS" --package "$SHARED/fhir/packages/hl7.fhir.us.core#7.0.0" \
    --package "$SHARED/fhir/packages/hl7.fhir.us.sdoh-clinicalcare#3.0.0" \
    sdohcc+IG="$LISTS/sdohcc" >>"$LISTS/results"
(cd "$SCRATCH" && node bench.mjs --rounds "$ROUNDS" --round-ms "$ROUND_MS" "${SETS[@]}") \
    >>"$LISTS/results"

# 5. One table: resources/s (median; files found invalid) and the ratios.
awk -F'\t' '
{ rps[$1, $2] = $5; inv[$1, $2] = $4; n[$2] = $3; if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 } }
function cell(v, s) { return sprintf("%9d (%3d)", rps[v, s], inv[v, s]) }
function ratio(a, b, s) { return rps[b, s] ? sprintf("%8.1fx", rps[a, s] / rps[b, s]) : "       -" }
END {
    printf "resources/s, median (files with errors)\n"
    printf "%-10s %5s  %15s  %15s  %15s  %15s  %9s  %9s\n", "set", "files", "Loopgate",
           "LG structure", "Medplum", "FHIR.js", "LG/Medpl", "LG/FHIRjs"
    for (i = 1; i <= k; i++) {
        s = order[i]
        printf "%-10s %5d  %15s  %15s  %15s  %15s  %9s  %9s\n", s, n[s], cell("loopgate", s),
               cell("loopgate-structure", s), cell("medplum", s), cell("fhirjs", s),
               ratio("loopgate", "medplum", s), ratio("loopgate", "fhirjs", s)
    }
    printf "Loopgate = lg_validate_full (structure, base invariants, bindings: as $validate);\n"
    printf "LG structure = lg_validate_resource alone. Ratios use the Loopgate column.\n"
}' "$LISTS/results"
