#!/usr/bin/env bash
# CPU per request with one process and with workers, side by side.
#
#   benches/workers.sh                       # 3 rounds of 5 s per run
#   ROUNDS=5 DURATION=8 benches/workers.sh
#   CONFIGS="w1 w2" SCENARIOS=close64 benches/workers.sh
#   RATE=6000 benches/workers.sh             # open loop: the same work for every configuration
#
# Configurations (all serve the hello page, release build):
#   w1      reactord                           (one process, today's server)
#   w2      reactord --workers 2               (EPOLLEXCLUSIVE on the shared socket)
#   w2all   REACTORD_ACCEPT_WAKEUP=all reactord --workers 2
#                                              (plain registration: every worker wakes)
#   reuse2  two reactord --reuse-port          (a listening socket per process)
# Scenarios, driven by reactord-load: ka64 (64 keep-alive connections, one
# request in flight each) and close64 (a new connection per request, 64 at
# a time).
#
# Nothing is pinned: two workers need both cores, so the load client
# competes with them; its CPU is reported next to the server's. Server CPU
# is utime+stime of every server process (supervisor and workers) from
# /proc, before and after the run; per request = that / requests answered.
# Runs alternate between configurations within a round, so machine noise
# hits them alike; the table gives medians. Raw rows:
# target/workers-bench/results.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
SCENARIOS=${SCENARIOS:-"ka64 close64"}
CONFIGS=${CONFIGS:-"w1 w2 w2all reuse2"}
RATE=${RATE:-}
OUT=target/workers-bench
mkdir -p "$OUT"
cargo build --release -q --bin reactord --bin reactord-load
BIN=$PWD/target/release/reactord
LOAD=$PWD/target/release/reactord-load
TICK=$(getconf CLK_TCK)

PIDS=()
PORT=
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
trap cleanup EXIT

# Wait until FILE has a line matching PATTERN (at most 10 s).
wait_for() {
    for _ in $(seq 200); do
        grep -q "$2" "$1" && return 0
        sleep 0.05
    done
    echo "no '$2' in $1" >&2
    cat "$1" >&2
    exit 1
}

port_of() { grep -o 'listening on [0-9.:]*' "$1" | head -1 | sed 's/.*://'; }

# Start configuration $1; sets PIDS (processes to stop) and SERVER (all
# server processes to measure) and PORT.
start() {
    local log=$OUT/$1.log
    : >"$log"
    case $1 in
        w1)
            "$BIN" --listen 127.0.0.1:0 2>"$log" &
            PIDS=($!)
            wait_for "$log" 'listening on'
            SERVER=("${PIDS[@]}")
            ;;
        w2 | w2all)
            if [ "$1" = w2all ]; then
                REACTORD_ACCEPT_WAKEUP=all "$BIN" --listen 127.0.0.1:0 --workers 2 2>"$log" &
            else
                "$BIN" --listen 127.0.0.1:0 --workers 2 2>"$log" &
            fi
            PIDS=($!)
            wait_for "$log" 'all 2 workers ready'
            SERVER=("${PIDS[@]}" $(grep -o 'started (pid [0-9]*' "$log" | grep -o '[0-9]*$'))
            ;;
        reuse2)
            "$BIN" --listen 127.0.0.1:0 --reuse-port 2>"$log" &
            PIDS=($!)
            wait_for "$log" 'listening on'
            "$BIN" --listen "127.0.0.1:$(port_of "$log")" --reuse-port 2>>"$log" &
            PIDS+=($!)
            for _ in $(seq 200); do
                [ "$(grep -c 'listening on' "$log")" -ge 2 ] && break
                sleep 0.05
            done
            SERVER=("${PIDS[@]}")
            ;;
    esac
    PORT=$(port_of "$log")
}

ticks() {
    local total=0 pid fields
    for pid in "$@"; do
        read -r -a fields <"/proc/$pid/stat"
        total=$((total + fields[13] + fields[14]))
    done
    echo "$total"
}

field() { grep -o "\"$1\":[0-9.]*" <<<"$2" | head -1 | cut -d: -f2; }

printf 'scenario\tconfig\tround\trps\tserver_cpu_us_per_req\tserver_cores\tclient_cores\terrors\n' >"$OUT/results.tsv"
for round in $(seq "$ROUNDS"); do
    for scenario in $SCENARIOS; do
        for config in $CONFIGS; do
            start "$config"
            extra=()
            [ "$scenario" = close64 ] && extra=(--close)
            [ -n "$RATE" ] && extra+=(--rate "$RATE")
            before=$(ticks "${SERVER[@]}")
            client=$( { /usr/bin/time -f 'CLIENT %U %S' "$LOAD" --json --duration "${DURATION}s" \
                --connections 64 "${extra[@]}" "http://127.0.0.1:$PORT/" >"$OUT/load.json"; } 2>&1 | grep CLIENT)
            after=$(ticks "${SERVER[@]}")
            cleanup
            json=$(cat "$OUT/load.json")
            requests=$(field requests "$json")
            seconds=$(field duration_s "$json")
            errors=$(field total "$json")
            read -r _ cu cs <<<"$client"
            awk -v s="$scenario" -v c="$config" -v r="$round" -v n="$requests" -v d="$seconds" \
                -v t=$((after - before)) -v hz="$TICK" -v cu="$cu" -v cs="$cs" -v e="$errors" \
                'BEGIN { printf "%s\t%s\t%s\t%.0f\t%.2f\t%.2f\t%.2f\t%s\n", s, c, r, n / d, t / hz * 1e6 / n, t / hz / d, (cu + cs) / d, e }' \
                >>"$OUT/results.tsv"
            tail -1 "$OUT/results.tsv"
        done
    done
done

echo
echo "medians over $ROUNDS rounds (server CPU per request in µs; cores = CPU seconds per second)"
python3 - "$OUT/results.tsv" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
groups = {}
for row in rows:
    groups.setdefault((row["scenario"], row["config"]), []).append(row)
base = {}
print(f"{'scenario':9} {'config':7} {'req/s':>8} {'µs/req':>7} {'vs w1':>6} {'server':>7} {'client':>7} {'errors':>6}")
for (scenario, config), rs in groups.items():
    med = lambda k: statistics.median(float(r[k]) for r in rs)
    cpu = med("server_cpu_us_per_req")
    if config == "w1":
        base[scenario] = cpu
    ratio = f"{cpu / base[scenario]:.2f}" if scenario in base else "-"
    print(f"{scenario:9} {config:7} {med('rps'):8.0f} {cpu:7.2f} {ratio:>6} {med('server_cores'):7.2f} {med('client_cores'):7.2f} {sum(int(r['errors']) for r in rs):6}")
EOF
