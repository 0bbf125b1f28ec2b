#!/usr/bin/env bash
# check-banned.sh - fail if src/ or include/ call functions we do not use:
# unbounded copies and parsers without error reporting.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok)[[:space:]]*\('
if hits=$(grep -rnE "$pattern" src include scripts/bench/*.c | grep -vE '\b(snprintf|vsnprintf|asprintf|vasprintf)\b' ); then
  echo "banned functions used:"; echo "$hits"; exit 1
fi
echo "check-banned: ok"
