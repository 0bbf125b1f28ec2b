#!/usr/bin/env bash
# report.sh - build lg_bench_report (RelWithDebInfo) and time the closed-loop
# report on N synthetic referrals (default 1,000,000): table fill, index,
# compute per group-by combination, writers, peak RSS.
# usage: scripts/bench/report.sh [N [SEED]]
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target lg_bench_report >/dev/null
exec build/lg_bench_report "${1:-1000000}" "${2:-42}"
