#!/bin/bash
# Instructions per call of the request path's counting, under callgrind:
# build/agg_bench --ir N1 and N2 calls, and (Ir(N2) - Ir(N1)) / (N2 - N1),
# so the claims and start-up cancel.
#   bash bench/agg_ir.sh            # N1=40000 N2=80000
# Prints, per call:
#   prof_agg_record()      a known key, every string measured and hashed
#   prof_agg_record_k()    the same key, the vhost hashed once, the route's
#                          hash made from its known length per call
#                          (prof_agg_str_setn() + prof_agg_record_k())
#   prof_route_fold()      and prof_route_fold_len() of PATHS (default
#                          "/1k.html /api/v1/items/42"): the route of a
#                          path, the old and the new way
# Each figure includes the driver's loop (about 47 Ir for the records,
# about 10 for the folds).
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-40000}
N2=${N2:-$((2 * N1))}
PATHS=${PATHS:-"/1k.html /api/v1/items/42"}
OUT=${RESULTS:-bench/results}
mkdir -p "$OUT"
make -s -f Makefile.apxs build/agg_bench >/dev/null
ir() {
    local n=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$OUT/agg.$n.out" \
        build/agg_bench --ir "$n" "$@" >/dev/null 2>&1
    awk '/^summary:/ { print $2 }' "$OUT/agg.$n.out"
}
per_call() {
    local what=$1 a b
    shift
    a=$(ir "$N1" "$@")
    b=$(ir "$N2" "$@")
    echo "$what: $(( (b - a) / (N2 - N1) )).$(( ( (b - a) * 10 / (N2 - N1) ) % 10 )) Ir per call (N1=$N1 N2=$N2)"
}
per_call "prof_agg_record(), known key" record
per_call "prof_agg_str_setn() + prof_agg_record_k(), known key" record_k
for p in $PATHS; do
    per_call "prof_route_fold(\"$p\")" fold "$p"
    per_call "prof_route_fold_len(\"$p\")" fold_len "$p"
done
