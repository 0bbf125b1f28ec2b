#!/usr/bin/env bash
# run.sh - set up (packages, definitions, build) and start the gateway on its
# embedded default: SQLite in ./var, listening on 127.0.0.1:8080.
# Extra arguments go to `loopgate serve` (see build/loopgate --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/loopgate serve --listen 127.0.0.1:8080 --data ./var "$@"
