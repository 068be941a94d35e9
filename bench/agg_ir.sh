#!/bin/bash
# Instructions per prof_agg_record() of a known key (the request path's
# figure), under callgrind: build/agg_bench --ir with N1 and N2 calls, and
# (Ir(N2) - Ir(N1)) / (N2 - N1), so the claims and start-up cancel.
#   bash bench/agg_ir.sh            # N1=40000 N2=80000
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-40000}
N2=${N2:-$((2 * N1))}
OUT=${RESULTS:-bench/results}
mkdir -p "$OUT"
make -s -f Makefile.apxs build/agg_bench >/dev/null
ir() {
    valgrind --tool=callgrind --callgrind-out-file="$OUT/agg.$1.out" \
        build/agg_bench --ir "$1" >/dev/null 2>&1
    awk '/^summary:/ { print $2 }' "$OUT/agg.$1.out"
}
a=$(ir "$N1")
b=$(ir "$N2")
echo "prof_agg_record(), known key: $(( (b - a) / (N2 - N1) )).$(( ( (b - a) * 10 / (N2 - N1) ) % 10 )) Ir per call (N1=$N1 N2=$N2)"
