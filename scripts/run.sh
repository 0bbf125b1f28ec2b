#!/usr/bin/env bash
# run.sh - set up (packages, definitions, build) and start the gateway on its
# embedded default: SQLite in ./var, listening on 127.0.0.1:8080.
# Extra arguments go to `loopgate serve` (see build/loopgate --help).
# On the first run (no DATA/clients.json; DATA is ./var or the --data given)
# it adds a coordination client "dev" and prints its bearer token once;
# `--no-auth` skips that.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
no_auth=0
data=./var
prev=
for a in "$@"; do
  [ "$a" = --no-auth ] && no_auth=1
  [ "$prev" = --data ] && data=$a
  case $a in --data=*) data=${a#--data=} ;; esac
  prev=$a
done
if [ "$no_auth" = 0 ] && [ ! -f "$data/clients.json" ]; then
  token=$(build/loopgate client add --data "$data" --id dev --role coordination --org Organization/dev)
  cat <<MSG
run: added the coordination client 'dev' to $data/clients.json. Its bearer token,
     shown only now (only its SHA-256 is stored; keep it):

  $token

     Try:  curl -s -H 'Authorization: Bearer $token' 'localhost:8080/Patient?_count=5'
     More clients: build/loopgate client add --data $data --id ID --role ROLE --org Organization/ID
MSG
fi
exec build/loopgate serve --listen 127.0.0.1:8080 --data ./var "$@"
