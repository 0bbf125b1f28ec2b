#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer targets (tests/fuzz/) with clang into
# build-fuzz/ and run each one for a bounded time on a copy of its seed
# corpus, plus seeds made at run time from ../shared (R4 examples, the
# FHIRPath suite's expressions) when that folder is there.
#
# Usage: scripts/fuzz.sh [seconds-per-target] [target...]
#   seconds-per-target defaults to 30; targets default to every fuzz_* built.
#   LG_FUZZ_SEED (default 1; 0 = random) and LG_FUZZ_RUNS (default 1000000
#   inputs per target) make the run repeatable.
# Exits non-zero on any crash, leak, UB, timeout or out-of-memory, after
# printing the reproducer (its bytes, and the command that replays it).
# Nothing is written into the repository except build-fuzz/: corpora and
# artifacts live in a temporary folder that is removed at the end (kept,
# with its path printed, when something was found).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-30}
shift || true
[[ $secs =~ ^[0-9]+$ ]] || { echo "fuzz: seconds must be a number, not '$secs'" >&2; exit 2; }
max_len=${LG_FUZZ_MAX_LEN:-4096}

# clang and its runtime libraries (libFuzzer, ASan, UBSan). The compiler
# runtime is only a Recommends of clang, so it is named explicitly; a tiny
# fuzzer that links proves both are there.
probe() {
  command -v clang >/dev/null 2>&1 &&
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' |
      clang -x c -fsanitize=fuzzer,address,undefined -o /dev/null - >/dev/null 2>&1
}
if ! probe; then
  echo "fuzz: installing clang"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends clang libclang-rt-dev
  probe || { echo "fuzz: clang cannot build a libFuzzer target" >&2; exit 2; }
fi

echo "== fuzz: building build-fuzz/ (clang, libFuzzer + ASan + UBSan)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLG_FUZZ=ON -DLG_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target lg_fuzz_all

targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lg-fuzz.XXXXXX")
failed=0
cleanup() { if ((failed == 0)); then rm -rf "$work"; fi; }
trap cleanup EXIT

shared=../shared
# Seeds from the shared reference material: the smaller R4 examples for the
# body target, every single-line expression of the FHIRPath suite for the
# FHIRPath target. Generated here, never copied into the repository.
extra_seeds() {
  local t=$1 dir=$2 n=0 f
  case $t in
  fuzz_rest_resource)
    [ -d "$shared/fhir/r4-examples" ] || return 0
    for f in "$shared"/fhir/r4-examples/*.json; do
      [ "$(stat -c %s "$f")" -le "$max_len" ] || continue
      cp "$f" "$dir/shared-$(basename "$f")"
      n=$((n + 1)); ((n < 80)) || break
    done ;;
  fuzz_xml)
    # FHIR XML: the FHIRPath suite's inputs, and the smaller R4 examples
    # converted by build/loopgate (the ordinary build) when it is there.
    for f in "$shared"/fhir/fhirpath/input/*.xml; do
      [ -f "$f" ] && [ "$(stat -c %s "$f")" -le "$max_len" ] && cp "$f" "$dir/shared-$(basename "$f")"
    done
    if [ -x build/loopgate ] && [ -d "$shared/fhir/r4-examples" ]; then
      for f in "$shared"/fhir/r4-examples/*.json; do
        [ "$(stat -c %s "$f")" -le "$max_len" ] || continue
        build/loopgate convert --compact "$f" >"$dir/shared-$(basename "$f" .json).xml" 2>/dev/null ||
          rm -f "$dir/shared-$(basename "$f" .json).xml"
        n=$((n + 1)); ((n < 80)) || break
      done
    fi ;;
  fuzz_fhirpath_eval)
    [ -f "$shared/fhir/fhirpath/tests-fhir-r4.xml" ] || return 0
    # <expression ...>text</expression> on one line; XML entities undone.
    sed -n 's:.*<expression[^>]*>\(.*\)</expression>.*:\1:p' "$shared/fhir/fhirpath/tests-fhir-r4.xml" |
      sed -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&quot;/"/g' -e "s/&apos;/'/g" -e 's/&amp;/\&/g' |
      awk -v d="$dir" '{ f = sprintf("%s/suite-%04d", d, NR); printf "%s", $0 > f; close(f) }' ;;
  esac
}

for t in "${targets[@]}"; do
  bin=build-fuzz/fuzz/$t
  [ -x "$bin" ] || { echo "fuzz: no target $t" >&2; exit 2; }
  corpus=$work/$t/corpus
  art=$work/$t/artifacts/
  mkdir -p "$corpus" "$art"
  [ -d "tests/fuzz/corpus/$t" ] && cp tests/fuzz/corpus/"$t"/* "$corpus"/
  extra_seeds "$t" "$corpus"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  echo "== fuzz: $t for ${secs}s ($(ls "$corpus" | wc -l) seeds)"
  rc=0
  # -error_exitcode/-timeout_exitcode make every finding a non-zero exit;
  # leaks are found by LeakSanitizer at the end of each input (-detect_leaks).
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  # A fixed seed and a bounded number of inputs make a run repeatable: the
  # same inputs are tried here and in CI, so CI cannot turn red on an input
  # nobody has tried before (LG_FUZZ_SEED=0 picks a random seed for
  # exploring). The time limit only stops a slow machine earlier.
  "$bin" "${dict[@]}" -seed="${LG_FUZZ_SEED:-1}" -runs="${LG_FUZZ_RUNS:-1000000}" \
    -max_total_time="$secs" -max_len="$max_len" -rss_limit_mb=2048 \
    -timeout=10 -detect_leaks=1 -error_exitcode=77 -timeout_exitcode=78 \
    -print_final_stats=1 -artifact_prefix="$art" "$corpus" >"$work/$t/log" 2>&1 || rc=$?
  awk '/^stat::number_of_executed_units/ { n = $2 } /^stat::peak_rss_mb/ { r = $2 }
       END { if (n != "") printf "   %s inputs run, peak RSS %s MB\n", n, r }' "$work/$t/log"
  if ((rc != 0)) || compgen -G "$art*" >/dev/null; then
    failed=1
    echo "fuzz: $t FAILED (exit $rc); its log ends:" >&2
    tail -n 60 "$work/$t/log" >&2
    for a in "$art"*; do
      [ -f "$a" ] || continue
      echo "fuzz: reproducer $a ($(stat -c %s "$a") bytes), base64:" >&2
      base64 -w 76 "$a" | head -c 8192 >&2
      echo >&2
      echo "fuzz: replay with: $bin $a" >&2
    done
  fi
done

if ((failed)); then
  echo "fuzz: findings kept in $work" >&2
  exit 1
fi
echo "== fuzz: ${#targets[@]} targets, ${secs}s each, nothing found"
