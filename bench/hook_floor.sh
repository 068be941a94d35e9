#!/usr/bin/env bash
# What do the phase hooks cost before they do anything?
#
# Copies this tree to a temporary directory, makes every one of
# mod_profiler's request hooks return at once (the patch touches only the
# copy), builds it, and runs the callgrind part of bench/run.sh on it:
# base vs "timing" there is the cost of httpd dispatching our hooks, the
# floor under any design that hooks every phase edge.
#
#   bash bench/hook_floor.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
tmp=$(mktemp -d /tmp/mod_profiler-hookfloor.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 cp --parents -t "$tmp")
cp -r "$ROOT/bench" "$tmp/" 2>/dev/null || true
# run.sh records the source diff against HEAD: make the copy a repository
# whose HEAD is this tree, so the diff it records is exactly the patch.
git -C "$tmp" init -q && git -C "$tmp" add -A \
  && git -C "$tmp" -c user.name=bench -c user.email=bench@localhost commit -qm tree
python3 - "$tmp" <<'PY'
import re, sys
root = sys.argv[1]
for rel, ret in (("src/mod_profiler_timing.c", "return DECLINED;"),
                 ("src/mod_profiler_filter.c", "return;")):
    p = root + "/" + rel
    s = open(p).read()
    pat = (r"(static int hook_\w+\(request_rec \*r[^)]*\)\n\{\n)" if ret != "return;"
           else r"(static void insert_\w*filter\(request_rec \*r\)\n\{\n)")
    s, n = re.subn(pat, lambda m: m.group(1) + "    " + ret + "\n", s)
    assert n >= 1, (rel, n)
    open(p, "w").write(s)
PY
cd "$tmp"
SKIP_THROUGHPUT=1 CG_VARIANTS="base timing" RESULTS="$tmp/results" bash bench/run.sh >"$tmp/run.log" 2>&1 || { cat "$tmp/run.log"; exit 1; }
grep -E "^(variant|base|timing) " "$tmp/run.log"
