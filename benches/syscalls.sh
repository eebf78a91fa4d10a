#!/usr/bin/env bash
# Syscalls per request, counted by the kernel's syscall tracepoints (perf
# stat), which unlike strace do not slow the server down and so do not
# change how many events each epoll_wait returns.
#
#   benches/syscalls.sh                     # keep-alive, pipelined x16, conn per request
#   LOADS="ka64" DURATION=5 benches/syscalls.sh
#   LOADS="file1k file16k file1m" benches/syscalls.sh   # static files, keep-alive x64
#
# The file loads serve benches/static-site.sh's tree with --root (/ is a
# 1 KiB index.html, then /16k.html, /1m.bin) and print every syscall the
# server made, per request, after the table.
#
# Server pinned to CPU 0, wrk (one thread) to CPU 1, as in compare.sh.
# Needs perf (apt-get install -y linux-perf) and wrk; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-3}
LOADS=${LOADS:-"ka64 pipe16 close64 close64d"}
OUT=target/syscalls
mkdir -p "$OUT"
for tool in wrk perf taskset; do
    command -v "$tool" >/dev/null || { echo "syscalls.sh needs $tool" >&2; exit 1; }
done
cargo build --release --quiet --bin reactord

printf '%-9s %9s %9s %9s %9s %9s %9s %9s %9s\n' load requests accept4 epoll_ctl epoll_wait recvfrom sendto close per_req
for load in $LOADS; do
    server_args=() wrk_args=(-c64) path=/
    case $load in
        ka64) ;;
        file1k | file16k | file1m)
            benches/static-site.sh "$OUT/site"
            server_args=(--root "$OUT/site")
            case $load in file16k) path=/16k.html ;; file1m) path=/1m.bin ;; esac
            ;;
        pipe16) wrk_args+=(-s benches/pipeline.lua) ;;
        close64) wrk_args+=(-H "Connection: close") ;;
        close64d) wrk_args+=(-H "Connection: close"); server_args=(--defer-accept 1s) ;;
        *) echo "unknown load $load" >&2; exit 2 ;;
    esac
    log="$OUT/server.log"
    taskset -c 0 target/release/reactord --listen 127.0.0.1:0 --log-level info "${server_args[@]}" 2>"$log" &
    server=$!
    for _ in $(seq 50); do grep -q 'listening on' "$log" && break; sleep 0.1; done
    addr=$(grep -o 'listening on [0-9.:]*' "$log" | awk '{print $3}')
    perf stat -e 'syscalls:sys_enter_*' -x, -o "$OUT/$load.csv" -p "$server" &
    perf=$!
    sleep 0.3
    requests=$(taskset -c 1 wrk -t1 -d"${DURATION}s" "${wrk_args[@]}" "http://$addr$path" | awk '/requests in/ {print $1}')
    kill -INT "$perf"; wait "$perf" 2>/dev/null || true
    kill "$server"; wait "$server" 2>/dev/null || true
    count() { awk -F, -v e="syscalls:sys_enter_$1" '$3 == e {print $1+0; found=1} END {if (!found) print 0}' "$OUT/$load.csv"; }
    total=$(awk -F, '$3 ~ /^syscalls:sys_enter_/ {s += $1} END {print s+0}' "$OUT/$load.csv")
    printf '%-9s %9s %9s %9s %9s %9s %9s %9s %9.2f\n' "$load" "$requests" "$(count accept4)" "$(count epoll_ctl)" \
        "$(count epoll_wait)" "$(count recvfrom)" "$(count sendto)" "$(count close)" \
        "$(echo "$total / $requests" | bc -l)"
    case $load in
        file*) awk -F, -v n="$requests" '$3 ~ /^syscalls:sys_enter_/ && $1 > 0 {sub("syscalls:sys_enter_", "", $3); printf "    %-14s %10d  %6.3f/req\n", $3, $1, $1 / n}' "$OUT/$load.csv" | sort -k2 -nr ;;
    esac
done
echo "(counts include the start and end of the run: 64 connections opened and closed)"
