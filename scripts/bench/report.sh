#!/usr/bin/env bash
# report.sh - time the closed-loop report on N synthetic referrals (default
# 1,000,000; scripts/report/gen_referrals.c).
#
#   scripts/bench/report.sh [N [SEED]]          in memory: table fill, index,
#       compute per group-by combination, writers, peak RSS (lg_bench_report)
#   scripts/bench/report.sh --store [N [SEED]]  as GET /$closed-loop-report
#       computes it: the N referrals are loaded as fact rows into a real
#       SQLite store in a temporary directory, then a separate process times
#       the indexed scan of the store + compute + JSON writer and prints its
#       peak RSS (lg_bench_report_store)
set -euo pipefail
cd "$(dirname "$0")/../.."
store=0
if [ "${1:-}" = "--store" ]; then store=1; shift; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if [ $store = 0 ]; then
    cmake --build build -j2 --target lg_bench_report >/dev/null
    exec build/lg_bench_report "${1:-1000000}" "${2:-42}"
fi
cmake --build build -j2 --target lg_bench_report_store >/dev/null
dir=$(mktemp -d /tmp/lg-report-store-XXXXXX)
trap 'rm -rf "$dir"' EXIT
build/lg_bench_report_store load "$dir" "${1:-1000000}" "${2:-42}"
du -sh "$dir" | awk '{print "store size: " $1}'
build/lg_bench_report_store run "$dir"
