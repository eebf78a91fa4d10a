#!/usr/bin/env bash
# Side-by-side comparison: reactord vs nginx (one worker) vs a tokio
# current_thread hello server, driven by wrk.
#
# Each server runs pinned to CPU 0 and wrk to CPU 1; runs alternate between
# servers so that machine noise hits all of them alike; each scenario is run
# ROUNDS times and the median is reported with ratios. Server CPU time per
# request comes from the server's utime+stime in /proc before and after.
#
#   benches/compare.sh                 # 3 rounds of 5 s per run
#   ROUNDS=5 DURATION=8 benches/compare.sh
#   SCENARIOS="ka64 pipe16" benches/compare.sh
#
# Scenarios: ka1, ka64, ka1000 (keep-alive with 1, 64, 1000 connections),
# pipe16 (64 connections, 16 requests per write), close64 (a new connection
# per request, 64 at a time), and close64d: close64 with the kernel's deferred
# accept on both reactord (--defer-accept) and nginx (listen ... deferred);
# tokio's TcpListener and Go's net.Listen have no such option, so tokio and
# go sit that one out.
#
# Static files: file1k, file16k, file1m (64 keep-alive connections asking
# for /, a 1 KiB index.html, then /16k.html and /1m.bin, from the tree
# benches/static-site.sh makes). reactord serves it with --root and its
# defaults; nginx as people run it for static files (sendfile on;
# tcp_nopush on; open_file_cache max=1000 inactive=60s). tokio and the
# floor have no file server and sit these out. They are not in the default
# SCENARIOS: SCENARIOS="file1k file16k file1m" benches/compare.sh.
#
# REACTORD_BASE=/path/to/older/reactord adds a server named reactord-base
# (that binary, same flags) right after reactord in every round, for a
# before/after comparison within one run; summarize.py then adds the ratios
# reactord/reactord-base. Unset, nothing changes.
#
# SERVERS may also name floor: benches/floor.c, the least an epoll
# responder can do per request (no parsing), built with cc -O2. It ignores
# "Connection: close", so it sits out close64 and close64d. tokio-hello is
# only built when SERVERS names tokio.
#
# SERVERS may name go: the seed's Go servers (benches/seed-go, built with
# `go build` when named; skipped with a hint if go is missing). For the
# HTTP scenarios that is hello.go (net/http); for the greeting scenario,
# greeting.go, the seed's own TCP server.
#
# SERVERS may name threaded: examples/threaded.rs, the greeting with a
# thread per connection (std::net), for docs/comparison.md; it speaks only
# the greeting, so it takes part in that scenario alone.
#
# Scenario greeting: the seed's game, a new connection per request, each
# sending one line and reading the greeting, 64 at a time, driven by
# reactord-load --protocol greeting whatever LOADGEN says (wrk speaks only
# HTTP). Only reactord (--protocol greeting, otherwise default flags), go
# and threaded take part.
#
# LOADGEN=reactord-load drives the servers with our own load generator
# instead of wrk (same scenarios; pipelining keeps 16 requests in flight per
# connection). It makes half the system calls per request that wrk makes
# (measured in docs/load.md, "How it compares with wrk"), so with 64 and
# more connections the servers, not the client, become the limit.
#
# Output: a table on stdout, and raw rows in target/compare/results.tsv
# (scenario server round rps cpu_us_per_req errors). benches/summarize.py
# prints the medians and ratios below; with --svg docs/benchmarks.svg it
# also draws the chart:
#   python3 benches/summarize.py target/compare/results.tsv --svg docs/benchmarks.svg
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
SCENARIOS=${SCENARIOS:-"ka1 ka64 ka1000 pipe16 close64 close64d"}
SERVERS=${SERVERS:-"reactord nginx tokio"}
REACTORD_BASE=${REACTORD_BASE:-}
if [ -n "$REACTORD_BASE" ]; then
    [ -x "$REACTORD_BASE" ] || { echo "REACTORD_BASE=$REACTORD_BASE is not an executable" >&2; exit 1; }
    case " $SERVERS " in
        *" reactord-base "*) ;;
        *" reactord "*) SERVERS=$(echo " $SERVERS " | sed 's/ reactord / reactord reactord-base /; s/^ //; s/ $//') ;;
        *) SERVERS="$SERVERS reactord-base" ;;
    esac
fi
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
LOADGEN=${LOADGEN:-wrk}
OUT=target/compare
mkdir -p "$OUT"

for tool in wrk nginx taskset; do
    command -v "$tool" >/dev/null || { echo "compare.sh needs $tool (apt-get install -y wrk nginx util-linux)" >&2; exit 1; }
done

cargo build --release --quiet --bins
case " $SERVERS " in *" tokio "*) (cd benches/tokio-hello && cargo build --release --quiet) ;; esac
case " $SERVERS " in *" threaded "*) cargo build --release --quiet --example threaded ;; esac
case " $SERVERS " in *" floor "*) cc -O2 -o "$OUT/floor" benches/floor.c ;; esac
case " $SERVERS " in
    *" go "*)
        if command -v go >/dev/null; then
            (cd benches/seed-go && GOCACHE="$PWD/../../$OUT/go-cache" go build -o "../../$OUT/go-greeting" greeting.go &&
                GOCACHE="$PWD/../../$OUT/go-cache" go build -o "../../$OUT/go-hello" hello.go)
        else
            echo "compare.sh: skipping go (apt-get install -y golang-go)" >&2
            SERVERS=$(echo " $SERVERS " | sed 's/ go / /; s/^ //; s/ $//')
        fi
        ;;
esac


free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

SITE=$PWD/$OUT/site
case " $SCENARIOS " in *" file"*) benches/static-site.sh "$SITE" ;; esac

# The URL path a scenario asks for.
scenario_path() {
    case $1 in file16k) echo /16k.html ;; file1m) echo /1m.bin ;; *) echo / ;; esac
}

SERVER_PID=""
start_server() { # name port scenario
    local name=$1 port=$2 defer=() deferred="" root=()
    local protocol=http
    local location='location / { default_type "text/plain; charset=utf-8"; return 200 "Hello from reactord\n"; }'
    if [ "$3" = close64d ]; then defer=(--defer-accept 1s); deferred=" deferred"; fi
    if [ "$3" = greeting ]; then protocol=greeting; fi
    case $3 in
        file*)
            root=(--root "$SITE")
            location="root $SITE; sendfile on; tcp_nopush on; open_file_cache max=1000 inactive=60s;"
            ;;
    esac
    case $name in
        reactord)
            taskset -c "$SERVER_CPU" target/release/reactord --listen "127.0.0.1:$port" --protocol "$protocol" \
                --log-level warn --max-connections 20000 "${defer[@]}" "${root[@]}" 2>"$OUT/reactord.log" &
            ;;
        reactord-base)
            taskset -c "$SERVER_CPU" "$REACTORD_BASE" --listen "127.0.0.1:$port" --protocol "$protocol" \
                --log-level warn --max-connections 20000 "${defer[@]}" "${root[@]}" 2>"$OUT/reactord-base.log" &
            ;;
        go)
            local program=go-hello
            if [ "$protocol" = greeting ]; then program=go-greeting; fi
            taskset -c "$SERVER_CPU" "$OUT/$program" "127.0.0.1:$port" >"$OUT/go.log" 2>&1 &
            ;;
        threaded)
            taskset -c "$SERVER_CPU" target/release/examples/threaded --listen "127.0.0.1:$port" 2>"$OUT/threaded.log" &
            ;;
        floor)
            taskset -c "$SERVER_CPU" "$OUT/floor" "$port" 2>"$OUT/floor.log" &
            ;;
        tokio)
            taskset -c "$SERVER_CPU" benches/tokio-hello/target/release/tokio-hello "127.0.0.1:$port" 2>"$OUT/tokio.log" &
            ;;
        nginx)
            mkdir -p "$OUT/nginx"
            cat > "$OUT/nginx/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $PWD/$OUT/nginx/nginx.pid;
error_log stderr error;
worker_rlimit_nofile 20000;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $PWD/$OUT/nginx;
    server {
        listen 127.0.0.1:$port$deferred;
        $location
    }
}
EOF
            taskset -c "$SERVER_CPU" nginx -p "$PWD/$OUT/nginx" -c "$PWD/$OUT/nginx/nginx.conf" 2>"$OUT/nginx.log" &
            ;;
    esac
    SERVER_PID=$!
    for _ in $(seq 50); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null || \
           python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "$name did not start" >&2; return 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}
trap stop_server EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_wrk() { # scenario port
    local args=(-t1 -d"${DURATION}s" --latency)
    case $1 in
        ka1) args+=(-c1) ;;
        ka64) args+=(-c64) ;;
        ka1000) args+=(-c1000) ;;
        pipe16) args+=(-c64 -s benches/pipeline.lua) ;;
        close64 | close64d) args+=(-c64 -H "Connection: close") ;;
        file*) args+=(-c64) ;;
    esac
    taskset -c "$LOAD_CPU" wrk "${args[@]}" "http://127.0.0.1:$2$(scenario_path "$1")"
}

# reactord-load: the same scenarios; prints wrk-like lines for the parsing below.
run_load() { # scenario port
    local args=(--duration "${DURATION}s" --json)
    case $1 in
        ka1) args+=(--connections 1) ;;
        ka64) args+=(--connections 64) ;;
        ka1000) args+=(--connections 1000) ;;
        pipe16) args+=(--connections 64 --pipeline 16) ;;
        close64 | close64d) args+=(--connections 64 --close) ;;
        file*) args+=(--connections 64) ;;
    esac
    taskset -c "$LOAD_CPU" target/release/reactord-load "${args[@]}" "http://127.0.0.1:$2$(scenario_path "$1")" |
        python3 -c 'import json, sys
r = json.load(sys.stdin)
print(r["requests"], "requests in")
print("Requests/sec:", r["rps"])
print("50%", str(r["latency_us"]["p50"]) + "us")
print("Non-2xx or 3xx responses:", r["errors"]["total"])'
}

# The greeting scenario: reactord-load, one line per connection; each
# server's own greeting is the answer expected (the seed's has no newline).
run_greeting() { # server port
    local expect=$'Hola desde el servidor TCP\n'
    if [ "$1" = go ]; then expect='Hola desde el servidor TCP'; fi
    taskset -c "$LOAD_CPU" target/release/reactord-load --protocol greeting --connections 64 \
        --duration "${DURATION}s" --expect "$expect" --json "127.0.0.1:$2" |
        python3 -c 'import json, sys
r = json.load(sys.stdin)
print(r["requests"], "requests in")
print("Requests/sec:", r["rps"])
print("50%", str(r["latency_us"]["p50"]) + "us")
# wrk does not count the requests in flight when the run stops; nor does this.
print("Non-2xx or 3xx responses:", r["errors"]["total"] - r["errors"].get("end_of_run", 0))'
}

RESULTS=$OUT/results.tsv
echo -e "scenario\tserver\tround\trps\tcpu_us_per_req\terrors\tp50_us" > "$RESULTS"
hz=$(getconf CLK_TCK)
for scenario in $SCENARIOS; do
    for round in $(seq "$ROUNDS"); do
        for server in $SERVERS; do
            if [ "$scenario" = close64d ] && [ "$server" = tokio ]; then continue; fi
            case $scenario in close64 | close64d) if [ "$server" = floor ]; then continue; fi ;; esac
            if [ "$scenario" = close64d ] && [ "$server" = go ]; then continue; fi
            if [ "$scenario" = greeting ]; then
                case $server in reactord | reactord-base | go | threaded) ;; *) continue ;; esac
            elif [ "$server" = threaded ]; then continue
            fi
            case $scenario in file*) case $server in tokio | floor | go) continue ;; esac ;; esac
            port=$(free_port)
            start_server "$server" "$port" "$scenario"
            before=$(cpu_ticks "$SERVER_PID")
            if [ "$scenario" = greeting ]; then
                out=$(run_greeting "$server" "$port" 2>&1)
            elif [ "$LOADGEN" = reactord-load ]; then
                out=$(run_load "$scenario" "$port" 2>&1)
            else
                out=$(run_wrk "$scenario" "$port" 2>&1)
            fi
            after=$(cpu_ticks "$SERVER_PID")
            stop_server
            requests=$(echo "$out" | awk '/requests in/ {print $1}')
            rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
            errors=$(echo "$out" | awk '/Socket errors/ {gsub(",",""); s=$4+$6+$8+$10} /Non-2xx/ {s+=$5} END {print s+0}')
            p50=$(echo "$out" | awk '$1=="50%" {v=$2; if (v ~ /us$/) {sub("us","",v); print v} else if (v ~ /ms$/) {sub("ms","",v); print v*1000} else {sub("s","",v); print v*1000000}}')
            cpu_us=$(awk -v a="$after" -v b="$before" -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.2f", (a-b)/hz*1e6/(n>0?n:1)}')
            echo -e "$scenario\t$server\t$round\t$rps\t$cpu_us\t$errors\t$p50" >> "$RESULTS"
            printf '%-8s %-9s round %s: %10s req/s  %6s us CPU/req  p50 %8s us  errors %s\n' \
                "$scenario" "$server" "$round" "$rps" "$cpu_us" "$p50" "$errors" >&2
        done
    done
done

python3 benches/summarize.py "$RESULTS"
