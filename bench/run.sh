#!/usr/bin/env bash
# mod_profiler overhead benchmark. See bench/README.md.
#
#   bash bench/run.sh                 everything (~4-5 minutes)
#   ROUNDS=9 N1=3000 bash bench/run.sh
#   SKIP_THROUGHPUT=1 bash bench/run.sh   instructions only
#   SKIP_CALLGRIND=1 bash bench/run.sh    throughput only
#
# Variants, all serving the same 1 KiB static file over keep-alive:
#   base    httpd without mod_profiler
#   timing  mod_profiler loaded, Profiler On, ProfilerServerTiming Off
#   header  mod_profiler loaded, Profiler On, ProfilerServerTiming On
#   floor   httpd without mod_profiler, mod_headers setting a constant
#           Server-Timing header as long as ours in the header run (the
#           mean value length under callgrind; FLOOR_LEN=n fixes it): the
#           cost of emitting any header of that size
#   control (throughput only) a second server with the base config: the
#           noise of the machine, measured like a variant
#   hexpr   header, but ProfilerServerTiming "expr=-R '127.0.0.0/8'" (true):
#           what the usual gate costs; callgrind only, not in the default
#           variants: CG_VARIANTS="base timing header hexpr floor"
#   store   timing plus the measurement store (SQLite, every request; the
#           writer thread runs in the -X process, so callgrind counts it);
#           not in the default variants: CG_VARIANTS="base timing store"
#
# CG_EXTRA: more valgrind options for the callgrind runs, e.g.
# CG_EXTRA=--dump-instr=yes for per-instruction counts (bench/cgfuncs.py
# reads both forms).
#
# Figures go to stdout and to bench/results/latest.txt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

# ---- knobs -----------------------------------------------------------------
ROUNDS=${ROUNDS:-7}            # throughput rounds (each: base+variant pairs)
DURATION=${DURATION:-3}        # seconds per wrk measurement
CONNS=${CONNS:-8}              # wrk connections
THREADS=${THREADS:-1}          # wrk threads
WARMUP=${WARMUP:-2}            # seconds of wrk warm-up per server
TP_VARIANTS=${TP_VARIANTS:-"control timing header floor"}
# control: a second server with the base config, measured like a variant;
# its ratio shows how much the machine alone moves the figures.
PIN=${PIN:-same}               # same: servers and wrk on CPU 0; split: servers
                               # on CPU 0, wrk on CPU 1; none: no pinning
N1=${N1:-2000}                 # callgrind: requests in the short run
N2=${N2:-$((2 * N1))}          # callgrind: requests in the long run
CG_VARIANTS=${CG_VARIANTS:-"base timing header floor base"}  # base twice
FLOOR_LEN=${FLOOR_LEN:-auto}   # floor's value length; auto: as the header run's
GAP_MS=${GAP_MS:-1}            # pause before each callgrind request (ms)
HTTPD=${HTTPD:-apache2}
MODDIR=${MODDIR:-/usr/lib/apache2/modules}
SKIP_BUILD=${SKIP_BUILD:-0}
SKIP_CALLGRIND=${SKIP_CALLGRIND:-0}
SKIP_THROUGHPUT=${SKIP_THROUGHPUT:-0}
KEEP=${KEEP:-0}                # keep the temp dir (configs, callgrind files)
RESULTS=${RESULTS:-$HERE/results}
DELTA_TOP=${DELTA_TOP:-20}     # rows in the per-function delta tables

T_START=$(date +%s)
CMDLINE="PIN=$PIN ROUNDS=$ROUNDS DURATION=$DURATION CONNS=$CONNS THREADS=$THREADS WARMUP=$WARMUP TP_VARIANTS='$TP_VARIANTS' N1=$N1 N2=$N2 CG_VARIANTS='$CG_VARIANTS' GAP_MS=$GAP_MS FLOOR_LEN=$FLOOR_LEN bash bench/run.sh"

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# wrk, valgrind, apache2-dev...: installed here when run as root.
bash "$ROOT/scripts/deps.sh" bench || exit 1

for t in "$HTTPD" python3 curl; do
    command -v "$t" >/dev/null || die "$t not found"
done
[ "$SKIP_CALLGRIND" = 1 ] || command -v valgrind >/dev/null || die "valgrind not found"
[ "$SKIP_CALLGRIND" = 1 ] || command -v callgrind_annotate >/dev/null || die "callgrind_annotate not found"
[ "$SKIP_THROUGHPUT" = 1 ] || command -v wrk >/dev/null || die "wrk not found"
[ -r "$MODDIR/mod_mpm_event.so" ] || die "no $MODDIR/mod_mpm_event.so (set MODDIR)"
case " $CG_VARIANTS " in *" base "*) ;; *) [ "$SKIP_CALLGRIND" = 1 ] || die "CG_VARIANTS must include base" ;; esac

# ---- build -------------------------------------------------------------------
# Which sources are measured: HEAD plus this diff (hashed before building).
SRC_DIFF=$(git -C "$ROOT" diff HEAD -- src include mod_profiler.c Makefile.apxs 2>/dev/null | sha1sum | cut -c1-12)
if [ "$SKIP_BUILD" != 1 ]; then
    log "building mod_profiler"
    make -C "$ROOT" -f Makefile.apxs >/dev/null
fi
[ -r "$ROOT/.libs/mod_profiler.so" ] || die "no $ROOT/.libs/mod_profiler.so"

# ---- scratch dir and cleanup -------------------------------------------------
WORK=$(mktemp -d /tmp/profbench.XXXXXX)
chmod 755 "$WORK"
# Every server of this run loads this copy: a rebuild while the bench runs
# cannot mix two versions of the module into one set of figures.
MODSO="$WORK/mod_profiler.so"
cp "$ROOT/.libs/mod_profiler.so" "$MODSO"
PIDS=()        # daemonized mpm_event servers (pids from their pid files)
CG_PID=""      # the callgrind server running now, if any
cleanup() {
    local p
    if [ -n "$CG_PID" ]; then
        kill -TERM "$CG_PID" 2>/dev/null || true
        wait "$CG_PID" 2>/dev/null || true
    fi
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] || continue
        # Not our children (they daemonized): poll until they are gone.
        for _ in $(seq 1 100); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
    done
    if [ "$KEEP" = 1 ]; then
        echo "run.sh: kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The otlp variant's collector: a sink that answers at once.
case " $CG_VARIANTS " in
    *" otlp "*)
        OTLP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
        python3 "$HERE/otlp_sink.py" "$OTLP_PORT" ok &
        PIDS+=($!)
        OTLP_URL="http://127.0.0.1:$OTLP_PORT/v1/traces" ;;
esac

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The document: exactly 1024 bytes.
mkdir -p "$WORK/htdocs"
python3 -c 'import sys; sys.stdout.write(("0123456789abcdef" * 64)[:1023] + "\n")' \
    > "$WORK/htdocs/1k.html"
[ "$(stat -c %s "$WORK/htdocs/1k.html")" = 1024 ] || die "1k.html is not 1024 bytes"

# The floor's constant header: the same field name as ours and a value of
# the same length, so that httpd's share (validating every byte, copying it
# into the response head) is the same, and what is left of the difference is
# the cost of producing the value. "auto" takes the mean length of our value
# in the header variant's long callgrind run, so that run comes before the
# floor's (the loop below moves floor last); without a header run, 200.
set_floor_len() {
    FLOOR_LEN_USED=$1
    FLOOR_VALUE=$(python3 -c 'import sys; n = int(sys.argv[1]); print(("floor;desc=" + "x" * n)[:n])' "$1")
    [ "${#FLOOR_VALUE}" = "$1" ] || die "floor value is not $1 bytes"
}
case $FLOOR_LEN in
    auto) set_floor_len 200 ;;
    *[!0-9]*|'') die "FLOOR_LEN must be auto or a number of bytes" ;;
    *) set_floor_len "$FLOOR_LEN" ;;
esac

if [ "$(id -u)" = 0 ]; then
    RUNAS="User www-data
Group www-data"
else
    RUNAS=""
fi

# A one-line types file: mod_mime's extension table is an apr_hash seeded
# from the clock, and with /etc/mime.types the length of the hash chain that
# "html" sits in changes from run to run (a few Ir per request, 0.03 %).
# With one entry every lookup costs the same.
echo "text/html html" > "$WORK/mime.types"

# gen_conf VARIANT MPM PORT [NAME] -> prints the ServerRoot (fresh per NAME)
gen_conf() {
    local variant=$1 mpm=$2 port=$3 name=${4:-$1-$2}
    local dir="$WORK/$name"
    local extra="" mods=""
    mkdir -p "$dir/logs"
    case $variant in
        base|control) ;;
        timing)
            mods="LoadModule profiler_module $MODSO"
            extra="Profiler On
ProfilerServerTiming Off" ;;
        header)
            mods="LoadModule profiler_module $MODSO"
            extra="Profiler On
ProfilerServerTiming On" ;;
        hexpr)
            # header, sent where an ap_expr says so (true here): what the
            # usual gate adds to the decision.
            mods="LoadModule profiler_module $MODSO"
            extra="Profiler On
ProfilerServerTiming \"expr=-R '127.0.0.0/8'\"" ;;
        store)
            # The measurement store on top of timing: SQLite, every request.
            mkdir -p "$dir/db"
            [ "$(id -u)" = 0 ] && chown www-data:www-data "$dir/db"
            mods="LoadModule dbd_module $MODDIR/mod_dbd.so
LoadModule profiler_module $MODSO"
            extra="DBDriver sqlite3
DBDParams $dir/db/profiler.db
Profiler On
ProfilerServerTiming Off
ProfilerStore On
ProfilerSample 1
ProfilerStoreBatch 500 10000" ;;
        modtime)
            # timing plus ProfilerModuleTiming On (header off): every hook
            # function's wrapper and the filters' trampolines (issue 14).
            # callgrind only: CG_VARIANTS="base timing modtime"
            mods="LoadModule profiler_module $MODSO"
            extra="Profiler On
ProfilerServerTiming Off
ProfilerModuleTiming On" ;;
        otlp)
            # timing plus OTLP export of every request to a sink that
            # answers at once (bench/otlp_sink.py, started below); httpd -X
            # runs the exporter thread in the process: callgrind counts it.
            # callgrind only: CG_VARIANTS="base timing otlp"
            [ -n "${OTLP_URL:-}" ] || die "otlp variant without its sink"
            mods="LoadModule profiler_module $MODSO"
            extra="Profiler On
ProfilerServerTiming Off
ProfilerOTLPEndpoint $OTLP_URL
ProfilerOTLPBatch 512 10000" ;;
        floor)
            mods="LoadModule headers_module $MODDIR/mod_headers.so"
            extra="Header set Server-Timing \"$FLOOR_VALUE\"" ;;
        *) die "unknown variant $variant" ;;
    esac
    local mpmconf="" runas=$RUNAS
    # The callgrind servers are started unprivileged (see cg_run): no User.
    [ "$mpm" = prefork ] && runas=""
    if [ "$mpm" = event ]; then
        # Fixed pool: no process churn from spare-thread maintenance.
        mpmconf="StartServers 2
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
MinSpareThreads 25
MaxSpareThreads 75
MaxConnectionsPerChild 0"
    fi
    cat > "$dir/httpd.conf" <<EOF
# mod_profiler bench: variant $variant, mpm $mpm (generated by bench/run.sh)
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/logs/httpd.pid"
DefaultRuntimeDir "$dir/logs"
ErrorLog "$dir/logs/error.log"
LogLevel warn

LoadModule mpm_${mpm}_module $MODDIR/mod_mpm_${mpm}.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule mime_module $MODDIR/mod_mime.so
$mods
$runas
$mpmconf

TypesConfig "$WORK/mime.types"
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 60
Timeout 120
# no access log in any variant

DocumentRoot "$WORK/htdocs"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "$WORK/htdocs">
    AllowOverride None
    Require all granted
</Directory>

$extra
EOF
    echo "$dir"
}

chmod -R a+rX "$WORK"

# wait_http PORT: until a GET of /1k.html answers 200 (max 30 s)
wait_http() {
    local port=$1 i
    for i in $(seq 1 300); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/1k.html" || true)" = 200 ]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

mkdir -p "$RESULTS"
OUT="$RESULTS/latest.txt"
REPORT="$WORK/report.txt"
: > "$REPORT"
say() { echo "$*" | tee -a "$REPORT"; }

say "mod_profiler benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "command: $CMDLINE"
say "commit:  $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet -- src include mod_profiler.c Makefile.apxs 2>/dev/null || echo ' (module sources modified)')"
say "module:  .libs/mod_profiler.so sha1 $(sha1sum "$MODSO" | cut -c1-12), sources: HEAD + diff sha1 $SRC_DIFF (da39a3ee5e6b: no diff)"
say "httpd:   $("$HTTPD" -v | head -1 | sed 's/^Server version: //')"
say "host:    $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r)"
say "file:    1 KiB static, HTTP/1.1 keep-alive, loopback; modules: authz_core mime (+ profiler or headers), built in: core so watchdog http log_config logio version unixd"
say ""

# ============================================================================
# 1. Instructions per request under callgrind
# ============================================================================
declare -A IPR        # IPR[label] = instructions per request
declare -A CGOUT1 CGOUT2
CG_LABELS=()

# totals FILE -> the program's total Ir
cg_total() {
    local t
    t=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$1" | tail -1)
    [ -n "$t" ] || t=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$1" | tail -1)
    [ -n "$t" ] || die "no totals in $1"
    echo "$t"
}

# cg_run VARIANT N OUTFILE: one server under callgrind, N requests, stop
cg_run() {
    local variant=$1 n=$2 out=$3 dir port pid show="" hdr=()
    port=$(free_port)
    # A fresh ServerRoot per run: the same files (and no "pid file
    # overwritten" warning in one run but not the other).
    dir=$(gen_conf "$variant" prefork "$port" "cg-$(basename "$out" .out)")
    chmod -R a+rX "$dir"
    mkdir -p "$(dirname "$out")"
    # As root, httpd -X would switch to User after startup and could then no
    # longer write the callgrind file that valgrind created as root. So the
    # whole valgrind process runs as www-data from the start, and httpd,
    # not being root, keeps its uid (the config has no User/Group then).
    local drop=()
    if [ "$(id -u)" = 0 ]; then
        chown -R www-data:www-data "$dir/logs" "$(dirname "$out")"
        drop=(setpriv --reuid=www-data --regid=www-data --init-groups)
    fi
    # -X: one process, no children; setarch -R: no ASLR, same layout each run.
    "${drop[@]}" setarch "$(uname -m)" -R \
        valgrind --tool=callgrind --vgdb=no --callgrind-out-file="$out" ${CG_EXTRA:-} \
        "$HTTPD" -X -f "$dir/httpd.conf" >"$dir/logs/valgrind.log" 2>&1 &
    pid=$!
    CG_PID=$pid
    [ "$n" = "$N2" ] && show="--show"
    case $variant in header|hexpr|floor) hdr=(--header Server-Timing) ;; esac
    if ! python3 "$HERE/kaclient.py" "$port" "$n" --pid "$pid" --gap-ms "$GAP_MS" $show "${hdr[@]}" \
            >"$dir/logs/client.json" 2>"$dir/logs/client.err"; then
        cat "$dir/logs/client.err" "$dir/logs/error.log" "$dir/logs/valgrind.log" >&2 || true
        die "callgrind client failed for $variant"
    fi
    kill -TERM "$pid"
    wait "$pid" || true
    CG_PID=""
    [ -s "$out" ] || { cat "$dir/logs/valgrind.log" >&2; die "no callgrind output for $variant"; }
    if [ -n "$show" ]; then
        cp "$dir/logs/client.err" "$out.headers"
    fi
    cp "$dir/logs/client.json" "$out.client.json"
}

if [ "$SKIP_CALLGRIND" != 1 ]; then
    say "== Instructions per request (valgrind --tool=callgrind, httpd -X, mpm_prefork) =="
    say "   (Ir(N2) - Ir(N1)) / (N2 - N1), N1=$N1, N2=$N2 requests on one keep-alive connection"
    declare -A SEEN
    # floor last: with FLOOR_LEN=auto it takes the header run's length.
    CG_ORDER="$(for v in $CG_VARIANTS; do [ "$v" = floor ] || printf '%s ' "$v"; done)"
    CG_ORDER="$CG_ORDER$(for v in $CG_VARIANTS; do [ "$v" != floor ] || printf '%s ' "$v"; done)"
    for v in $CG_ORDER; do
        if [ -n "${SEEN[$v]:-}" ]; then
            SEEN[$v]=$((SEEN[$v] + 1)); label="$v#${SEEN[$v]}"
        else
            SEEN[$v]=1; label=$v
        fi
        t0=$(date +%s)
        o1="$WORK/cg/$label.$N1.out"; o2="$WORK/cg/$label.$N2.out"
        cg_run "$v" "$N1" "$o1"
        cg_run "$v" "$N2" "$o2"
        i1=$(cg_total "$o1"); i2=$(cg_total "$o2")
        IPR[$label]=$(python3 -c "print('%.2f' % (($i2 - $i1) / ($N2 - $N1)))")
        CGOUT1[$label]=$o1; CGOUT2[$label]=$o2
        CG_LABELS+=("$label")
        log "callgrind $label: Ir($N1)=$i1 Ir($N2)=$i2 -> ${IPR[$label]} Ir/req ($(( $(date +%s) - t0 )) s)"
        if [ "$label" = header ] && [ "$FLOOR_LEN" = auto ]; then
            set_floor_len "$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["value_len_mean"]))' "$o2.client.json")"
            log "floor: a constant Server-Timing value of $FLOOR_LEN_USED bytes (the header run's mean)"
        fi
    done

    say ""
    say "$(printf '%-10s %14s %10s   %s' variant Ir/request 'vs base' 'target')"
    for label in "${CG_LABELS[@]}"; do
        v=${label%%#*}
        target=""
        case $v in
            timing) target="<= +3.50 % (with the live aggregates)" ;;
            header) target="(header - timing) <= 1.20 x (floor - base)" ;;
            hexpr)  target="(header with an expr= gate; not a target)" ;;
            modtime) target="(module timing on: every hook call timed)" ;;
            floor)  target="(reference: a constant $FLOOR_LEN_USED-byte Server-Timing value)" ;;
        esac
        d=$(python3 -c "print('%+.2f %%' % (100.0 * (${IPR[$label]} / ${IPR[base]} - 1)))")
        [ "$label" = base ] && d="-"
        say "$(printf '%-10s %14s %10s   %s' "$label" "${IPR[$label]}" "$d" "$target")"
    done
    if [ -n "${IPR[base#2]:-}" ]; then
        say ""
        say "repeatability: base vs base#2 differ by $(python3 -c "print('%.4f %%' % (100.0 * abs(${IPR['base#2']} - ${IPR[base]}) / ${IPR[base]}))") ($(python3 -c "print('%+.2f' % (${IPR['base#2']} - ${IPR[base]}))") Ir/request)"
    fi
    if [ -n "${IPR[header]:-}" ] && [ -n "${IPR[floor]:-}" ] && [ -n "${IPR[timing]:-}" ]; then
        python3 - "${IPR[base]}" "${IPR[timing]}" "${IPR[header]}" "${IPR[floor]}" "$FLOOR_LEN_USED" <<'EOF2' | tee -a "$REPORT"
import sys
b, t, h, f = (float(x) for x in sys.argv[1:5])
n = int(sys.argv[5])
print("floor (a %3d-byte header):        %+8.0f Ir/req  %+6.2f %%" % (n, f - b, 100 * (f - b) / b))
print("header on top of timing (h - t):  %+8.0f Ir/req  %+6.2f %%  = %.2f x floor"
      % (h - t, 100 * (h - t) / b, (h - t) / (f - b)))
print("header, all of it (h - base):     %+8.0f Ir/req  %+6.2f %%  = %.2f x floor"
      % (h - b, 100 * (h - b) / b, (h - b) / (f - b)))
print("target (h - t) <= 1.2 x floor: %.0f Ir/req; timing +3.5 %%: %.0f Ir/req" % (1.2 * (f - b), 0.035 * b))
EOF2
    fi
    if [ -n "${IPR[hexpr]:-}" ] && [ -n "${IPR[header]:-}" ]; then
        say "$(python3 -c "print('the expr= gate (hexpr - header):   %+8.0f Ir/req' % (${IPR[hexpr]} - ${IPR[header]}))")"
    fi
    for label in "${CG_LABELS[@]}"; do
        if [ -s "${CGOUT2[$label]}.headers" ]; then
            case $label in header|hexpr|floor)
                say "$label response head under callgrind (request $N2): $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%d-%d bytes, Server-Timing value %d-%d bytes (mean %.1f)" % (d["head_bytes_min"], d["head_bytes_max"], d["value_len_min"], d["value_len_max"], d["value_len_mean"]))' "${CGOUT2[$label]}.client.json")"
                grep -i -E '^server-timing:' "${CGOUT2[$label]}.headers" | cut -c1-160 | sed 's/^/    /' | tee -a "$REPORT" ;;
            esac
        fi
    done

    # Where the instructions go: our functions, and the biggest deltas.
    for label in timing header floor; do
        [ -n "${CGOUT2[$label]:-}" ] || continue
        if [ "$label" != floor ]; then
            say ""
            say "== $label: mod_profiler.so functions, Ir per request (from the N1/N2 difference) =="
            python3 "$HERE/cgfuncs.py" module --object mod_profiler.so \
                "${CGOUT1[$label]}" "${CGOUT2[$label]}" $((N2 - N1)) | tee -a "$REPORT"
        fi
        say ""
        [ -n "${CGOUT2[base]:-}" ] || continue
        say "== $label vs base: biggest changes in self cost per request, all objects =="
        python3 "$HERE/cgfuncs.py" delta --top "$DELTA_TOP" \
            "${CGOUT1[base]}" "${CGOUT2[base]}" \
            "${CGOUT1[$label]}" "${CGOUT2[$label]}" $((N2 - N1)) | tee -a "$REPORT"
    done
    # Keep the callgrind files and an annotated listing of each long run.
    rm -f "$RESULTS"/*.out "$RESULTS"/callgrind-*-inclusive.txt
    for label in "${CG_LABELS[@]}"; do
        cp "${CGOUT1[$label]}" "${CGOUT2[$label]}" "$RESULTS/"
        callgrind_annotate --inclusive=yes "${CGOUT2[$label]}" \
            > "$RESULTS/callgrind-$label-inclusive.txt" 2>/dev/null || true
    done
    say ""
    say "(callgrind files, and callgrind_annotate --inclusive=yes of the N2 runs: ${RESULTS#$ROOT/}/)"
    say ""
fi

# ============================================================================
# 2. Throughput with wrk, base and variant alternated
# ============================================================================
declare -A TPORT
# Pinning. On the 2-vCPU VM this was written on, a wake-up across CPUs costs
# an IPI (a VM exit), and with server and wrk on different CPUs the rate
# swung by +-15 % from one 3 s run to the next; with both on one CPU it was
# 30 % higher and swung by +-5 %. The price: wrk's own CPU time is in every
# request, so a server-side cost shows as a smaller throughput change.
PIN_SERVER=(); PIN_CLIENT=(); PIN_DESC="no CPU pinning"
if command -v taskset >/dev/null; then
    case $PIN in
        same)  PIN_SERVER=(taskset -c 0); PIN_CLIENT=(taskset -c 0)
               PIN_DESC="servers and wrk on CPU 0" ;;
        split) [ "$(nproc)" -ge 2 ] || die "PIN=split needs 2 CPUs"
               PIN_SERVER=(taskset -c 0); PIN_CLIENT=(taskset -c 1)
               PIN_DESC="servers on CPU 0, wrk on CPU 1" ;;
        none)  ;;
        *)     die "PIN must be same, split or none" ;;
    esac
fi
# wrk_rps PORT -> requests/second
wrk_rps() {
    local port=$1 out rps
    out=$("${PIN_CLIENT[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port/1k.html")
    if echo "$out" | grep -q -E 'Non-2xx|Socket errors'; then
        echo "$out" >&2
        die "wrk saw errors on port $port"
    fi
    rps=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
    [ -n "$rps" ] || { echo "$out" >&2; die "no Requests/sec from wrk"; }
    echo "$rps"
}

if [ "$SKIP_THROUGHPUT" != 1 ]; then
    say "== Throughput (wrk -t$THREADS -c$CONNS -d${DURATION}s, mpm_event, loopback, $PIN_DESC) =="
    say "   per variant, ROUNDS rounds of base and variant back to back, order alternating; ratio = variant / base"
    # Other work on the machine moves these figures; say how busy it was.
    say "   load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    for v in base $TP_VARIANTS; do
        port=$(free_port)
        dir=$(gen_conf "$v" event "$port")
        chmod -R a+rX "$dir"
        "${PIN_SERVER[@]}" "$HTTPD" -f "$dir/httpd.conf" -k start
        wait_http "$port" || { cat "$dir/logs/error.log" >&2; die "server $v did not come up"; }
        PIDS+=("$(cat "$dir/logs/httpd.pid")")
        TPORT[$v]=$port
    done
    for v in $TP_VARIANTS; do
        case $v in header)
            # Natively most phases take under a microsecond and are left out
            # of Server-Timing; under callgrind (~50x slower) none is.
            python3 "$HERE/kaclient.py" "${TPORT[header]}" 1000 --show \
                >"$WORK/native-header.json" 2>"$WORK/native-header.txt"
            say "header variant natively (1000 keep-alive requests): response head $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%d-%d bytes" % (d["head_bytes_min"], d["head_bytes_max"]))' "$WORK/native-header.json"), last one:"
            grep -i '^server-timing:' "$WORK/native-header.txt" | sed 's/^/    /' | tee -a "$REPORT" ;;
        esac
    done
    for v in base $TP_VARIANTS; do
        "${PIN_CLIENT[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "http://127.0.0.1:${TPORT[$v]}/1k.html" >/dev/null
    done
    declare -A RATIOS RPS_B RPS_V
    # One variant at a time, its rounds back to back: B V | V B | B V | ...
    # Each server follows itself as often as the other one does. (With the
    # variants interleaved inside a round, base was the only server ever
    # measured right after itself, and the control, identical to base, came
    # out at 0.95.)
    for v in $TP_VARIANTS; do
        for r in $(seq 1 "$ROUNDS"); do
            if [ $((r % 2)) = 1 ]; then
                b=$(wrk_rps "${TPORT[base]}"); x=$(wrk_rps "${TPORT[$v]}")
            else
                x=$(wrk_rps "${TPORT[$v]}"); b=$(wrk_rps "${TPORT[base]}")
            fi
            ratio=$(python3 -c "print('%.4f' % ($x / $b))")
            RATIOS[$v]="${RATIOS[$v]:-} $ratio"
            RPS_B[$v]="${RPS_B[$v]:-} $b"
            RPS_V[$v]="${RPS_V[$v]:-} $x"
            say "$(printf 'round %d/%d %-8s base %9.0f req/s  %-8s %9.0f req/s  ratio %s' "$r" "$ROUNDS" "$v" "$b" "$v" "$x" "$ratio")"
        done
    done
    say ""
    say "$(printf '%-8s %10s %10s %8s %15s   %s' variant 'base req/s' 'var req/s' 'median' 'IQR' 'per-round ratios (target: median >= 0.98)')"
    for v in $TP_VARIANTS; do
        line=$(python3 - "${RPS_B[$v]}" "${RPS_V[$v]}" "${RATIOS[$v]}" <<'EOF'
import statistics, sys
b = [float(x) for x in sys.argv[1].split()]
v = [float(x) for x in sys.argv[2].split()]
r = [float(x) for x in sys.argv[3].split()]
q = statistics.quantiles(r, n=4) if len(r) > 1 else [r[0], r[0], r[0]]
print("%10.0f %10.0f %8.4f %15s   %s" % (statistics.median(b), statistics.median(v),
      statistics.median(r), "%.3f-%.3f" % (q[0], q[2]),
      " ".join("%.3f" % x for x in r)))
EOF
)
        say "$(printf '%-8s %s' "$v" "$line")"
    done
    say "   (req/s columns: medians over rounds; load average at end: $(cut -d' ' -f1-3 /proc/loadavg))"
    say ""
fi

say "wall time: $(( $(date +%s) - T_START )) s"
cp "$REPORT" "$OUT"
log "wrote $OUT"
