#!/usr/bin/env bash
# bench.sh - HTTP throughput of Loopgate against the machine's bare libevent
# stack, side by side in one run.
#
# Starts scripts/bench/baseline_server.c (fixed 200) and build/loopgate on
# loopback ports, seeds Patients, ServiceRequests and Tasks, then for every
# round measures the baseline again and each scenario with wrk:
#   read      GET /Patient/{id}
#   search    the CBO polling search: GET /Task?owner=..&status=requested
#             &_lastUpdated=gt..&_include=Task:focus&_include=Task:patient
#   create    POST /Patient (201 only after the commit is durable)
#   tx        POST / transaction Bundle (Patient + ServiceRequest + Task)
# and prints requests/s, p99 latency and the ratio to that round's baseline;
# the summary gives the median of each over the rounds. Every request to
# Loopgate carries a client's bearer token (as in production: the cost of
# authentication is part of each figure). Machines here are
# noisy, so the ratio is the figure to compare, not requests/s.
#
# usage: scripts/bench/bench.sh [-d SECONDS] [-r ROUNDS] [-c CONNECTIONS]
#                               [-t WRK_THREADS] [-n SEED_TASKS] [-s "SCENARIOS"]
set -euo pipefail
cd "$(dirname "$0")/../.."

dur=5 rounds=3 conns=16 wthreads=2 ntasks=2000 only="read search create tx"
while getopts "d:r:c:t:n:s:" o; do
  case $o in
    d) dur=$OPTARG ;; r) rounds=$OPTARG ;; c) conns=$OPTARG ;;
    t) wthreads=$OPTARG ;; n) ntasks=$OPTARG ;; s) only=$OPTARG ;;
    *) sed -n '/^# usage/,/^set/p' "$0" | head -2; exit 2 ;;
  esac
done

command -v wrk >/dev/null || { echo "bench: wrk missing (scripts/setup.sh installs it)" >&2; exit 2; }
[ -x build/loopgate ] || scripts/setup.sh --no-build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target loopgate lg_bench_baseline >/dev/null

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done; echo "bench: $1 never came up" >&2; exit 1; }

token=$(build/loopgate client add --data "$tmp/var" --id bench --role coordination \
        --org Organization/bench 2>/dev/null)
auth="Authorization: Bearer $token"
bport=$(free_port); lport=$(free_port)
build/lg_bench_baseline "$bport" >/dev/null 2>&1 & pids+=($!)
build/loopgate serve --listen "127.0.0.1:$lport" --data "$tmp/var" --quiet ${LG_BENCH_SERVER_ARGS:-} 2>"$tmp/server.log" & pids+=($!)
lgpid=$!
wait_up "http://127.0.0.1:$bport/"
wait_up "http://127.0.0.1:$lport/metadata"
base="http://127.0.0.1:$lport"

# ---- seed: Tasks spread over 20 CBOs, each with its Patient and ServiceRequest,
# posted as transactions of 50 referrals.
echo "bench: seeding $ntasks referrals"
since=$(date -u -d '-2 sec' +%Y-%m-%dT%H:%M:%S.%3NZ)
python3 - "$base" "$ntasks" "$token" <<'PY'
import json, sys, urllib.request
base, n, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def post(bundle):
    req = urllib.request.Request(base + "/", json.dumps(bundle).encode(),
                                 {"Content-Type": "application/fhir+json",
                                  "Authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as r:
        assert r.status == 200, r.status
for start in range(0, n, 50):
    entries = []
    for i in range(start, min(n, start + 50)):
        p, s, t = f"urn:uuid:00000000-0000-4000-8000-{i:012d}", f"urn:uuid:10000000-0000-4000-8000-{i:012d}", f"urn:uuid:20000000-0000-4000-8000-{i:012d}"
        entries += [
          {"fullUrl": p, "resource": {"resourceType": "Patient", "name": [{"family": f"Child{i}", "given": ["Ana"]}],
             "gender": "female", "birthDate": "2015-03-04"}, "request": {"method": "POST", "url": "Patient"}},
          {"fullUrl": s, "resource": {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
             "subject": {"reference": p}, "code": {"coding": [{"system": "http://snomed.info/sct", "code": "464131000124100"}]}},
           "request": {"method": "POST", "url": "ServiceRequest"}},
          {"fullUrl": t, "resource": {"resourceType": "Task", "status": "requested", "intent": "order",
             "focus": {"reference": s}, "for": {"reference": p},
             "owner": {"reference": f"Organization/cbo-{i % 20}"}, "authoredOn": "2026-11-24T10:00:00Z"},
           "request": {"method": "POST", "url": "Task"}}]
    post({"resourceType": "Bundle", "type": "transaction", "entry": entries})
PY
pid=$(curl -sf -H "$auth" "$base/Patient?_count=1" | python3 -c 'import json,sys;print(json.load(sys.stdin)["entry"][0]["resource"]["id"])')
# The poll asks for changes since before the seed, so every page is full.
search="/Task?owner=Organization/cbo-17&status=requested&_lastUpdated=gt${since}&_include=Task:focus&_include=Task:patient"
n=$(curl -sf -H "$auth" "$base$search" | python3 -c 'import json,sys;print(len(json.load(sys.stdin).get("entry",[])))')
echo "bench: polling search returns $n entries per page"
[ -n "${LG_BENCH_PERF:-}" ] && { perf record -g -p "$lgpid" -o "$LG_BENCH_PERF" 2>/dev/null & pids+=($!); }

cat >"$tmp/create.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.headers["Prefer"] = "return=minimal"
wrk.body = '{"resourceType":"Patient","name":[{"family":"Bench","given":["Ana"]}],"gender":"female","birthDate":"2016-01-02"}'
LUA
cat >"$tmp/tx.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.body = [[{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:a1","resource":{"resourceType":"Patient","name":[{"family":"Tx"}]},"request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"urn:uuid:a2","resource":{"resourceType":"ServiceRequest","status":"active","intent":"order","subject":{"reference":"urn:uuid:a1"}},"request":{"method":"POST","url":"ServiceRequest"}},
 {"fullUrl":"urn:uuid:a3","resource":{"resourceType":"Task","status":"requested","intent":"order","focus":{"reference":"urn:uuid:a2"},"for":{"reference":"urn:uuid:a1"},"owner":{"reference":"Organization/cbo-3"}},"request":{"method":"POST","url":"Task"}}]}]]
LUA

# run_wrk URL [LUA] -> "rps p99ms"; fails the bench on any non-2xx reply.
run_wrk() {
  local out args=(-t"$wthreads" -c"$conns" -d"${dur}s" --latency -H "$auth")
  [ -n "${2:-}" ] && args+=(-s "$2")
  out=$(wrk "${args[@]}" "$1")
  if grep -q "Non-2xx" <<<"$out"; then echo "bench: errors from $1:" >&2; echo "$out" >&2; exit 1; fi
  awk '/Requests\/sec/ {r=$2} /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; p=v}
       END {printf "%.0f %.2f\n", r, p}' <<<"$out"
}

read -r -a scen <<<"$only"
declare -A url lua
url[read]="$base/Patient/$pid"; url[search]="$base$search"
url[create]="$base/Patient"; lua[create]="$tmp/create.lua"
url[tx]="$base/"; lua[tx]="$tmp/tx.lua"

res="$tmp/results"; : >"$res"
printf "%-6s %-9s %12s %10s %8s\n" round scenario "req/s" "p99 ms" ratio
for r in $(seq "$rounds"); do
  read -r brps bp99 < <(run_wrk "http://127.0.0.1:$bport/")
  printf "%-6s %-9s %12s %10s %8s\n" "$r" baseline "$brps" "$bp99" 1.00
  echo "baseline $brps $bp99 1" >>"$res"
  for s in "${scen[@]}"; do
    read -r rps p99 < <(run_wrk "${url[$s]}" "${lua[$s]:-}")
    ratio=$(awk -v a="$rps" -v b="$brps" 'BEGIN {printf "%.3f", a/b}')
    printf "%-6s %-9s %12s %10s %8s\n" "$r" "$s" "$rps" "$p99" "$ratio"
    echo "$s $rps $p99 $ratio" >>"$res"
  done
done

echo
echo "median of $rounds rounds (${dur}s each, $conns connections, wrk and server on the same $(nproc) cores):"
printf "%-9s %12s %10s %8s\n" scenario "req/s" "p99 ms" ratio
for s in baseline "${scen[@]}"; do
  awk -v s="$s" 'BEGIN {n=0} $1==s {r[n]=$2; p[n]=$3; q[n]=$4; n++}
    function med(a, n,   i,j,t) { for(i=0;i<n;i++) for(j=i+1;j<n;j++) if (a[j]+0<a[i]+0) {t=a[i];a[i]=a[j];a[j]=t}
                                  return n%2 ? a[int(n/2)] : (a[n/2-1]+a[n/2])/2 }
    END {printf "%-9s %12.0f %10.2f %8.3f\n", s, med(r,n), med(p,n), med(q,n)}' "$res"
done
echo "targets (issue #2): search ratio >= 0.30; create >= 2000 req/s"
