#!/usr/bin/env bash
# What CPU profiles (issue 12) cost. See bench/README.md, "CPU profiles
# (issue 12)".
#
#   bash bench/cpuprof.sh                 both parts (~5 minutes)
#   SKIP_THROUGHPUT=1 bash bench/cpuprof.sh   instructions only
#   SKIP_CALLGRIND=1 bash bench/cpuprof.sh    throughput only
#
# 1. Instructions per request (valgrind --tool=callgrind, httpd -X,
#    mpm_prefork, the 1 KiB static file over keep-alive, Ir of N2 requests
#    minus Ir of N1, divided by N2-N1), for:
#      before   Profiler On, the module built from BASE (before CPU
#               profiles): the reference
#      on       Profiler On, this tree's module, no CPU profile configured
#      location on, plus a <Location /profiler/cpu> with "Require ip" and
#               no handler: what any such section costs (httpd's walk)
#      handler  on, plus a "SetHandler profiler-profile" <Location> (the
#               watchdog thread polls the control block 10 times a second:
#               counted, since callgrind counts every thread)
#      reqexpr  handler, plus ProfilerRequestProfile "expr=%{HTTP:X-Profile}
#               == 'let-me-in'" that no request matches (the expression is
#               evaluated twice per request: post_read_request, fixups)
# 2. Throughput (wrk, mpm_event, 2 children), this tree's module with the
#    profile handler configured: rounds of [no profile, during a 99 Hz
#    whole-server profile] on the same server; the ratio of the medians.
# 3. The sampler's cost in CPU time, without a server or a network
#    (bench/cpuprof_cost.c): fixed work, with and without a process session
#    at 99 and 1000 Hz. On a shared machine this one is the steady figure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

BASE=${BASE:-95c6cdb}          # the commit before CPU profiles
N1=${N1:-1000}
N2=${N2:-$((2 * N1))}
GAP_MS=${GAP_MS:-1}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-4}
CONNS=${CONNS:-8}
HZ=${HZ:-99}
HTTPD=${HTTPD:-apache2}
MODDIR=${MODDIR:-/usr/lib/apache2/modules}
SKIP_CALLGRIND=${SKIP_CALLGRIND:-0}
SKIP_THROUGHPUT=${SKIP_THROUGHPUT:-0}
CG_VARIANTS=${CG_VARIANTS:-"before on location handler reqexpr before on"}
CG_MPM=${CG_MPM:-prefork}        # the MPM under callgrind (httpd -X)

die() { echo "cpuprof.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

WORK=$(mktemp -d /tmp/profcpu.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
    done
    sleep 1
    if [ "${KEEP:-0}" = 1 ]; then
        echo "cpuprof.sh: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

log "building this tree and $BASE"
make -C "$ROOT" -f Makefile.apxs >/dev/null 2>&1 || die "build failed"
cp "$ROOT/.libs/mod_profiler.so" "$WORK/new.so"
mkdir -p "$WORK/base-src"
git -C "$ROOT" archive "$BASE" | tar -x -C "$WORK/base-src"
make -C "$WORK/base-src" -f Makefile.apxs >/dev/null 2>&1 || die "build of $BASE failed"
cp "$WORK/base-src/.libs/mod_profiler.so" "$WORK/before.so"

mkdir -p "$WORK/htdocs"
python3 -c 'import sys; sys.stdout.write(("0123456789abcdef" * 64)[:1023] + "\n")' \
    > "$WORK/htdocs/1k.html"
echo "text/html html" > "$WORK/mime.types"

# gen_conf VARIANT MPM PORT NAME -> prints the ServerRoot
gen_conf() {
    local variant=$1 mpm=$2 port=$3 name=$4
    local dir="$WORK/$name" so="$WORK/new.so" extra="" mpmconf="" runas=""
    mkdir -p "$dir/logs"
    case $variant in
        before) so="$WORK/before.so" ;;
        on) ;;
        location)
            extra="<Location /profiler/cpu>
    Require ip 127.0.0.1
</Location>" ;;
        handler|throughput)
            extra="<Location /profiler/cpu>
    SetHandler profiler-profile
    Require ip 127.0.0.1
</Location>" ;;
        reqexpr)
            extra="<Location /profiler/cpu>
    SetHandler profiler-profile
    Require ip 127.0.0.1
</Location>
ProfilerRequestProfile \"expr=%{HTTP:X-Profile} == 'let-me-in'\"" ;;
        *) die "unknown variant $variant" ;;
    esac
    if [ "$mpm" = event ]; then
        mpmconf="StartServers 2
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
MinSpareThreads 25
MaxSpareThreads 75"
        [ "$(id -u)" = 0 ] && runas="User www-data
Group www-data"
    fi
    cat > "$dir/httpd.conf" <<EOF
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/logs/httpd.pid"
DefaultRuntimeDir "$dir/logs"
ErrorLog "$dir/logs/error.log"
LogLevel warn
LoadModule mpm_${mpm}_module $MODDIR/mod_mpm_${mpm}.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule authz_host_module $MODDIR/mod_authz_host.so
LoadModule mime_module $MODDIR/mod_mime.so
LoadModule profiler_module $so
$runas
$mpmconf
TypesConfig "$WORK/mime.types"
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 60
DocumentRoot "$WORK/htdocs"
<Directory "$WORK/htdocs">
    Require all granted
</Directory>
Profiler On
$extra
EOF
    echo "$dir"
}

# ---- 1. instructions per request ---------------------------------------------
cg_total() {
    sed -n 's/^totals: *\([0-9]*\).*/\1/p; s/^summary: *\([0-9]*\).*/\1/p' "$1" | tail -1
}

cg_run() {
    local variant=$1 n=$2 out=$3 dir port pid
    port=$(free_port)
    dir=$(gen_conf "$variant" "${CG_MPM:-prefork}" "$port" "cg-$variant-$n-$RANDOM")
    chmod -R a+rX "$dir"
    local drop=()
    if [ "$(id -u)" = 0 ]; then
        chown -R www-data:www-data "$dir/logs" "$(dirname "$out")"
        drop=(setpriv --reuid=www-data --regid=www-data --init-groups)
    fi
    "${drop[@]}" setarch "$(uname -m)" -R \
        valgrind --tool=callgrind --vgdb=no --callgrind-out-file="$out" \
        "$HTTPD" -X -f "$dir/httpd.conf" >"$dir/logs/valgrind.log" 2>&1 &
    pid=$!
    python3 "$HERE/kaclient.py" "$port" "$n" --pid "$pid" --gap-ms "$GAP_MS" \
        --path /1k.html >/dev/null 2>"$dir/logs/client.err" \
        || { cat "$dir/logs/client.err" "$dir/logs/error.log" >&2; die "client failed ($variant)"; }
    kill -TERM "$pid"
    wait "$pid" || true
    [ -s "$out" ] || die "no callgrind output for $variant"
}

if [ "$SKIP_CALLGRIND" != 1 ]; then
    echo "== Instructions per request (callgrind, httpd -X, $CG_MPM; N1=$N1 N2=$N2) =="
    declare -A IPR
    mkdir -p "$WORK/cg"
    chmod 777 "$WORK/cg"
    i=0
    for v in $CG_VARIANTS; do
        i=$((i + 1))
        cg_run "$v" "$N1" "$WORK/cg/$v-$i-1.out"
        cg_run "$v" "$N2" "$WORK/cg/$v-$i-2.out"
        a=$(cg_total "$WORK/cg/$v-$i-1.out")
        b=$(cg_total "$WORK/cg/$v-$i-2.out")
        ipr=$(( (b - a) / (N2 - N1) ))
        log "callgrind $v (#$i): $ipr Ir/request"
        if [ -z "${IPR[$v]:-}" ]; then IPR[$v]=$ipr; else IPR[$v]="${IPR[$v]} $ipr"; fi
    done
    ref=$(echo "${IPR[before]}" | awk '{print $1}')
    for v in $(echo "$CG_VARIANTS" | tr ' ' '\n' | awk '!seen[$0]++'); do
        for x in ${IPR[$v]}; do
            python3 -c 'import sys; r, x = int(sys.argv[2]), int(sys.argv[3]); print("%-8s %7d Ir/request  %+6d (%+.2f %%) vs before" % (sys.argv[1], x, x - r, 100.0 * (x - r) / r))' "$v" "$ref" "$x"
        done
    done
fi

# ---- 1b. the watchdog's polls, with no traffic ------------------------------------
# Ir of an idle server (location, handler) over IDLE1 and IDLE2 seconds: the
# difference per second is what the child's watchdog thread costs while no
# profile runs (callgrind stretches each request ~50x, so in the per-request
# figures above this cost is stretched as much).
IDLE1=${IDLE1:-2}
IDLE2=${IDLE2:-12}
cg_idle() {
    local variant=$1 secs=$2 out=$3 dir port pid
    port=$(free_port)
    dir=$(gen_conf "$variant" prefork "$port" "idle-$variant-$secs-$RANDOM")
    chmod -R a+rX "$dir"
    local drop=()
    if [ "$(id -u)" = 0 ]; then
        chown -R www-data:www-data "$dir/logs" "$(dirname "$out")"
        drop=(setpriv --reuid=www-data --regid=www-data --init-groups)
    fi
    "${drop[@]}" setarch "$(uname -m)" -R \
        valgrind --tool=callgrind --vgdb=no --callgrind-out-file="$out" \
        "$HTTPD" -X -f "$dir/httpd.conf" >"$dir/logs/valgrind.log" 2>&1 &
    pid=$!
    # one request: the server is up and through its start
    python3 "$HERE/kaclient.py" "$port" 1 --pid "$pid" --path /1k.html >/dev/null 2>&1 \
        || die "idle client failed ($variant)"
    sleep "$secs"
    kill -TERM "$pid"
    wait "$pid" || true
}
if [ "$SKIP_CALLGRIND" != 1 ] && [ "${SKIP_IDLE:-0}" != 1 ]; then
    echo "== Idle server (callgrind, httpd -X, prefork): Ir per second, no requests =="
    mkdir -p "$WORK/idle"
    chmod 777 "$WORK/idle"
    for v in location handler; do
        cg_idle "$v" "$IDLE1" "$WORK/idle/$v-1.out"
        cg_idle "$v" "$IDLE2" "$WORK/idle/$v-2.out"
        a=$(cg_total "$WORK/idle/$v-1.out")
        b=$(cg_total "$WORK/idle/$v-2.out")
        echo "$v $(( (b - a) / (IDLE2 - IDLE1) )) Ir/s" | awk '{printf "%-8s %9d Ir/s\n", $1, $2}'
    done
fi

# ---- 2. throughput during a whole-server profile --------------------------------
if [ "$SKIP_THROUGHPUT" != 1 ]; then
    echo "== Throughput (wrk -c$CONNS -d${DURATION}s, mpm_event, 2 children): idle vs during a $HZ Hz profile =="
    port=$(free_port)
    dir=$(gen_conf throughput event "$port" "tp")
    chmod -R a+rX "$dir"
    "$HTTPD" -f "$dir/httpd.conf" -k start
    for _ in $(seq 1 50); do [ -s "$dir/logs/httpd.pid" ] && break; sleep 0.1; done
    PIDS+=("$(cat "$dir/logs/httpd.pid")")
    url="http://127.0.0.1:$port/1k.html"
    wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null        # warm-up
    rps() { wrk -t1 -c"$CONNS" -d"${DURATION}s" "$url" | awk '/Requests\/sec/ {print $2}'; }
    IDLE=(); PROF=(); SAMPLES=()
    profiled_rps() {
        curl -s -o "$WORK/prof-$1.txt" \
            "http://127.0.0.1:$port/profiler/cpu?seconds=$((DURATION + 2))&hz=$HZ&format=folded" &
        cpid=$!
        sleep 1
        PROF+=("$(rps)")
        wait "$cpid"
        SAMPLES+=("$(awk '{s += $NF} END {print s + 0}' "$WORK/prof-$1.txt")")
    }
    # Odd rounds idle first, even rounds profiled first: whatever drifts
    # during a round (the machine's other load, the server warming) falls
    # on both sides equally.
    for r in $(seq 1 "$ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then
            IDLE+=("$(rps)"); sleep 1; profiled_rps "$r"
        else
            profiled_rps "$r"; sleep 1; IDLE+=("$(rps)")
        fi
        log "round $r: idle ${IDLE[-1]} req/s, profiling ${PROF[-1]} req/s (${SAMPLES[-1]} samples)"
    done
    python3 - "${IDLE[*]}" "${PROF[*]}" "${SAMPLES[*]}" <<'PY'
import random, statistics, sys
idle = [float(x) for x in sys.argv[1].split()]
prof = [float(x) for x in sys.argv[2].split()]
samples = [int(x) for x in sys.argv[3].split()]
ratios = [p / i for p, i in zip(prof, idle)]
rng = random.Random(1)
boot = sorted(statistics.median(rng.choices(ratios, k=len(ratios)))
              for _ in range(2000))
print("idle      median %.0f req/s  (%s)" % (statistics.median(idle), " ".join("%.0f" % x for x in idle)))
print("profiling median %.0f req/s  (%s)" % (statistics.median(prof), " ".join("%.0f" % x for x in prof)))
print("ratio     median %.3f, 95 %% interval %.3f-%.3f (bootstrap of the per-round ratios)"
      % (statistics.median(ratios), boot[50], boot[1949]))
print("          per round: %s" % " ".join("%.3f" % x for x in ratios))
print("samples per profile: %s" % " ".join(str(x) for x in samples))
PY
    "$HTTPD" -f "$dir/httpd.conf" -k stop || true
fi

# ---- 3. the sampler's own cost ---------------------------------------------------
if [ "${SKIP_COST:-0}" != 1 ]; then
    echo "== The sampler's cost in CPU time (bench/cpuprof_cost.c) =="
    make -C "$ROOT" -s -f Makefile.apxs build/libprofiler_core.a >/dev/null 2>&1
    cc -std=gnu99 -O2 -g $(apr-1-config --cppflags --includes) -I"$ROOT/src" \
        "$HERE/cpuprof_cost.c" "$ROOT/build/libprofiler_core.a" \
        $(apr-1-config --link-ld) \
        $(pkg-config --libs libunwind libdw zlib 2>/dev/null || echo -lunwind -ldw -lelf -lz) \
        -lpthread -o "$WORK/cpuprof_cost"
    "$WORK/cpuprof_cost" 99 1000
fi
