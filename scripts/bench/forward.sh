#!/usr/bin/env bash
# forward.sh - forwarding throughput and latency (issue #5, Measure): the
# real gateway delivers referrals to the directory simulator (lg_dirsim) on
# loopback, once with the simulator answering at once and once with it
# answering every request after --delay-ms 200 (a slow partner).
#
# Each run: a fresh data directory, forwarding.json routing
# Organization/cbo-bench to a Style A (OAuth + webhooks) platform, then wrk
# posts referral transaction Bundles (Patient + ServiceRequest + routed Task)
# for -d seconds, and the run waits until the outbox has drained. Printed:
#   intake     transaction Bundles committed per second (wrk, all 200), and
#              the gateway's CPU time per Bundle meanwhile (steadier than
#              rates on a shared machine)
#   delivered  referrals the simulator received per second, first to last
#              received_ms (its own clock)
#   latency    Task created (the outbox job's created_ms, written in the same
#              transaction) -> simulator received_ms: p50, p99, max
#   drain      seconds from the end of intake to the last delivery
#   paced      then -n referrals posted one at a time at -r per second (below
#              the delivery rate): latency p50, p99, max without a queue
# and the slow run's intake as a ratio of the fast run's: a slow partner
# must not hold up intake (the ratio should be close to 1). A first run with
# nothing routed (same configuration, no route) gives intake without
# forwarding as the reference.
#
# usage: scripts/bench/forward.sh [-d SECONDS] [-c CONNECTIONS] [-w DELAY_MS]
#                                 [-k CONCURRENCY] [-r PACED_RATE] [-n PACED_N]
set -euo pipefail
cd "$(dirname "$0")/../.."

dur=5 conns=8 slow_ms=200 concurrency=16 paced_rate=20 paced_n=100
while getopts "d:c:w:k:r:n:" o; do
  case $o in
    d) dur=$OPTARG ;; c) conns=$OPTARG ;; w) slow_ms=$OPTARG ;; k) concurrency=$OPTARG ;;
    r) paced_rate=$OPTARG ;; n) paced_n=$OPTARG ;;
    *) sed -n '/^# usage/,/^set/p' "$0" | head -2; exit 2 ;;
  esac
done

command -v wrk >/dev/null || { echo "forward bench: wrk missing (scripts/setup.sh installs it)" >&2; exit 2; }
[ -x build/loopgate ] || scripts/setup.sh --no-build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target loopgate lg_dirsim >/dev/null

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 400); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done; echo "forward bench: $1 never came up" >&2; exit 1; }

# The referral every wrk request posts: urn:uuid references are local to a
# Bundle, so each post creates its own Patient, ServiceRequest and Task.
cat > "$tmp/bundle.json" <<'EOF'
{"resourceType":"Bundle","type":"transaction","entry":[
{"fullUrl":"urn:uuid:7a0c5e1d-0000-4000-8000-000000000001","resource":{"resourceType":"Patient",
 "name":[{"family":"Lopez","given":["Ana"]}],"birthDate":"2016-04-02"},
 "request":{"method":"POST","url":"Patient"}},
{"fullUrl":"urn:uuid:7a0c5e1d-0000-4000-8000-000000000002","resource":{"resourceType":"ServiceRequest",
 "status":"active","intent":"order","category":[{"coding":[{"system":"http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes","code":"food-insecurity"}]}],
 "code":{"text":"Community resource referral"},"subject":{"reference":"urn:uuid:7a0c5e1d-0000-4000-8000-000000000001"},
 "authoredOn":"2026-11-02T09:00:00Z","requester":{"reference":"Organization/clinic-bench"},
 "performer":[{"reference":"Organization/cbo-bench"}]},"request":{"method":"POST","url":"ServiceRequest"}},
{"fullUrl":"urn:uuid:7a0c5e1d-0000-4000-8000-000000000003","resource":{"resourceType":"Task",
 "status":"requested","intent":"order","code":{"coding":[{"system":"http://hl7.org/fhir/CodeSystem/task-code","code":"fulfill"}]},
 "focus":{"reference":"urn:uuid:7a0c5e1d-0000-4000-8000-000000000002"},"for":{"reference":"urn:uuid:7a0c5e1d-0000-4000-8000-000000000001"},
 "authoredOn":"2026-11-02T09:00:00Z","requester":{"reference":"Organization/clinic-bench"},
 "owner":{"reference":"Organization/cbo-bench"}},"request":{"method":"POST","url":"Task"}}]}
EOF
cat > "$tmp/post.lua" <<'EOF'
local f = assert(io.open(os.getenv("LG_BUNDLE"), "r"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("LG_TOKEN")
EOF

# run NAME DELAY_MS: one measured run; leaves $tmp/NAME.json with the figures.
run() {
  local name=$1 delay=$2 dir="$tmp/$1"
  mkdir -p "$dir"
  build/lg_dirsim --port 0 --delay-ms "$delay" >"$dir/sim.port" 2>"$dir/sim.log" & pids+=($!)
  local simpid=$!
  for _ in $(seq 200); do [ -s "$dir/sim.port" ] && break; sleep 0.05; done
  local sport; sport=$(head -1 "$dir/sim.port")
  local sim="http://127.0.0.1:$sport"
  # the clinic posts the referrals; the coordinator reads the outbox
  local token; token=$(build/loopgate client add --data "$dir/var" --id bench --role coordination \
                       --org Organization/bench 2>/dev/null)
  local clinic; clinic=$(build/loopgate client add --data "$dir/var" --id clinic-bench \
                        --role referral-source --org Organization/clinic-bench 2>/dev/null)
  local route='{"owner":"Organization/cbo-bench","platform":"uu","target":"prog-bench"}'
  [ "$name" = off ] && route='' # the same platform, nothing routed to it
  cat > "$dir/var/forwarding.json" <<EOF
{"platforms":[{"name":"uu","adapter":"uniteus","base_url":"$sim","token_url":"$sim/oauth2/token",
  "client_id":"loopgate","client_secret":"sim-secret","webhook_secret":"bench-secret",
  "max_attempts":8,"backoff_ms":100,"max_backoff_ms":5000,"timeout_ms":10000,
  "concurrency":$concurrency}],
 "routes":[$route]}
EOF
  chmod 600 "$dir/var/forwarding.json"
  local lport; lport=$(free_port)
  build/loopgate serve --listen "127.0.0.1:$lport" --data "$dir/var" --quiet 2>"$dir/server.log" & pids+=($!)
  local lgpid=$!
  local base="http://127.0.0.1:$lport"
  wait_up "$base/metadata"
  for o in clinic-bench cbo-bench; do
    curl -sf -o /dev/null -XPUT "$base/Organization/$o" -H "Authorization: Bearer $token" \
         -H 'Content-Type: application/fhir+json' \
         -d "{\"resourceType\":\"Organization\",\"id\":\"$o\",\"name\":\"$o\"}"
  done
  echo "forward bench: $name (simulator delay ${delay} ms): intake for ${dur} s with $conns connections" >&2
  # the gateway's CPU time during intake (utime + stime, clock ticks): on a
  # shared machine CPU per Bundle is steadier than Bundles per second
  local cpu0; cpu0=$(awk '{print $14 + $15}' "/proc/$lgpid/stat")
  LG_BUNDLE="$tmp/bundle.json" LG_TOKEN="$clinic" \
    wrk -t2 -c"$conns" -d"${dur}s" --latency -s "$tmp/post.lua" "$base/" >"$dir/wrk.txt"
  local intake_end_ms; intake_end_ms=$(date +%s%3N)
  local cpu1; cpu1=$(awk '{print $14 + $15}' "/proc/$lgpid/stat")
  echo $(( (cpu1 - cpu0) * 1000 / $(getconf CLK_TCK) )) >"$dir/cpu_ms"
  python3 - "$base" "$sim" "$token" "$dir" "$intake_end_ms" "$name" "$delay" "$clinic" \
            "$tmp/bundle.json" "$paced_rate" "$paced_n" <<'PY'
import json, sys, time, re, urllib.request
base, sim, token, d, intake_end, name, delay, clinic, bundle = sys.argv[1:10]
paced_rate, paced_n = float(sys.argv[10]), int(sys.argv[11])
intake_end = int(intake_end)
def get(url, auth=True):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token} if auth else {})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)
wrk = open(d + "/wrk.txt").read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
total = int(re.search(r"(\d+) requests in", wrk).group(1))
cpu_per = int(open(d + "/cpu_ms").read()) / total
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", wrk)
if bad:
    sys.exit(f"forward bench: {bad.group(1)} referrals were refused during intake")
def drain():
    """Wait for the outbox to drain (every job done or dead), at most 10 minutes."""
    t0 = time.time()
    while True:
        c = get(base + "/$outbox?_count=1")["counts"]
        if c["pending"] == 0:
            return c
        if time.time() - t0 > 600:
            sys.exit(f"forward bench: outbox not drained after 10 minutes: {c}")
        time.sleep(0.2)
def all_jobs():
    jobs, after = {}, 0
    while True:
        # after=0 is refused (a job id is >= 1): the first page has none
        page = get(base + "/$outbox?_count=1000" + (f"&after={after}" if after else ""))
        for j in page["jobs"]:
            jobs[j["task_id"]] = j
        if "next_after" not in page:
            return jobs
        after = page["next_after"]
c = drain()
jobs = all_jobs()
refs = get(sim + "/_control/referrals", auth=False)["referrals"]
if name == "off":
    if jobs or refs:
        sys.exit("forward bench: a referral nobody routes was forwarded")
    json.dump({"name": name, "intake_per_s": rps, "cpu_ms_per_bundle": cpu_per, "tasks": 0,
               "delivered": 0}, open(d + "/figures.json", "w"))
    sys.exit(0)
stats = get(sim + "/_control/stats", auth=False)
received = {}
for r in refs:
    tid = r["external_id"].split("/", 1)[1]
    received[tid] = r["received_ms"]
dups = sum(1 for r in refs if r["times_received"] > 1)
lat = sorted(received[t] - jobs[t]["created_ms"] for t in received if t in jobs)
n = len(received)
if n == 0:
    sys.exit("forward bench: nothing was delivered")
first, last = min(received.values()), max(received.values())
def pct(p):
    return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]
out = {
    "name": name, "delay_ms": int(delay), "intake_per_s": rps, "cpu_ms_per_bundle": cpu_per,
    "tasks": len(jobs), "delivered": n, "dead": c["dead"], "repeated_keys": dups,
    "delivered_per_s": (n - 1) / ((last - first) / 1000) if last > first else float(n),
    "latency_p50_ms": pct(50), "latency_p99_ms": pct(99), "latency_max_ms": lat[-1],
    "drain_s": max(0, last - intake_end) / 1000, "tokens": stats["tokens_issued"],
}
# Paced: referrals one at a time at paced_rate per second, below what the
# forwarder delivers, so the latency is the path itself and not the queue.
body = open(bundle, "rb").read()
paced, t0 = [], time.time()
for i in range(paced_n):
    wait = t0 + i / paced_rate - time.time()
    if wait > 0:
        time.sleep(wait)
    req = urllib.request.Request(base + "/", body, {"Content-Type": "application/fhir+json",
                                                   "Authorization": "Bearer " + clinic})
    with urllib.request.urlopen(req, timeout=60) as r:
        loc = json.load(r)["entry"][2]["response"]["location"]
    paced.append(re.search(r"Task/([^/]+)", loc).group(1))
drain()
jobs = all_jobs()
received = {r["external_id"].split("/", 1)[1]: r["received_ms"]
            for r in get(sim + "/_control/referrals", auth=False)["referrals"]}
plat = sorted(received[t] - jobs[t]["created_ms"] for t in paced if t in received)
if len(plat) != paced_n:
    sys.exit(f"forward bench: {paced_n - len(plat)} paced referrals were not delivered")
out["paced_p50_ms"] = plat[len(plat) // 2]
out["paced_p99_ms"] = plat[min(len(plat) - 1, int(round(0.99 * (len(plat) - 1))))]
out["paced_max_ms"] = plat[-1]
json.dump(out, open(d + "/figures.json", "w"))
PY
  kill "$lgpid" "$simpid" 2>/dev/null || true
  wait "$lgpid" "$simpid" 2>/dev/null || true
}

run off 0
run fast 0
run slow "$slow_ms"

python3 - "$tmp/off/figures.json" "$tmp/fast/figures.json" "$tmp/slow/figures.json" "$dur" "$conns" "$concurrency" \
          "$paced_rate" "$paced_n" <<'PY'
import json, sys
o, f, s = (json.load(open(p)) for p in sys.argv[1:4])
dur, conns, conc = sys.argv[4:7]
print(f"forwarding bench: {dur} s intake with {conns} connections, platform concurrency {conc}; "
      f"then {sys.argv[8]} referrals at {sys.argv[7]}/s")
print(f"{'':26}{'not routed':>12}{'fast':>12}{'slow (' + str(s['delay_ms']) + ' ms)':>16}")
rows = [("intake (Bundles/s)", "intake_per_s", "{:.1f}"),
        ("gateway CPU ms per Bundle", "cpu_ms_per_bundle", "{:.2f}"),
        ("referrals created", "tasks", "{}"),
        ("delivered", "delivered", "{}"),
        ("dead", "dead", "{}"),
        ("keys received twice", "repeated_keys", "{}"),
        ("delivered/s", "delivered_per_s", "{:.1f}"),
        ("latency p50 (ms)", "latency_p50_ms", "{}"),
        ("latency p99 (ms)", "latency_p99_ms", "{}"),
        ("latency max (ms)", "latency_max_ms", "{}"),
        ("drain after intake (s)", "drain_s", "{:.1f}"),
        ("paced latency p50 (ms)", "paced_p50_ms", "{}"),
        ("paced latency p99 (ms)", "paced_p99_ms", "{}"),
        ("paced latency max (ms)", "paced_max_ms", "{}"),
        ("tokens fetched", "tokens", "{}")]
for label, k, fmt in rows:
    ov = fmt.format(o[k]) if k in o else "-"
    print(f"{label:26}{ov:>12}{fmt.format(f[k]):>12}{fmt.format(s[k]):>16}")
print(f"intake slow/fast: {s['intake_per_s'] / f['intake_per_s']:.2f}   "
      f"fast/not routed: {f['intake_per_s'] / o['intake_per_s']:.2f}   "
      f"slow/not routed: {s['intake_per_s'] / o['intake_per_s']:.2f}")
PY
