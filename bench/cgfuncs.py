#!/usr/bin/env python3
"""Per-function instruction counts per request from pairs of callgrind files.

A callgrind file of a run with N requests holds startup + N * request +
shutdown. Two runs of the same server, N1 and N2 requests, give the cost of
one request as (cost(N2) - cost(N1)) / (N2 - N1) for every function as well
as for the whole program. This script does that per function.

  cgfuncs.py module [--object mod_profiler.so] OUT_N1 OUT_N2 DN
      Our functions: calls, self and inclusive Ir per request. "incl-pass"
      is the inclusive cost without what ap_pass_brigade() called from that
      function costs (for an output filter, inclusive cost would otherwise
      contain every filter below it, the socket writes included). The
      "module total" line is what httpd spends inside the object per
      request: every call into it from outside, inclusive, minus the
      ap_pass_brigade() calls it makes.

  cgfuncs.py delta [--top K] BASE_N1 BASE_N2 VAR_N1 VAR_N2 DN
      Self cost per request of every function in base and in variant, the
      K biggest differences first.

The parser reads the callgrind format (name compression, relative
positions, calls= lines) as written by valgrind 3.x, with one event (Ir).
"""
import argparse
import re
import sys
from collections import defaultdict

PASS_FNS = {"ap_pass_brigade", "ap_pass_brigade_fchk"}
# Our phase edges fused into another module's hook (mod_profiler_timing.c)
# call that module's function: its work is not ours, like a filter's pass.
FUSED_PREFIX = "fused_"


def passed_on(caller, callee, ours):
    """Is the call caller -> callee work that is not the caller's own?"""
    if base_name(callee[1]) in PASS_FNS:
        return True
    return ((caller[1] or "").startswith(FUSED_PREFIX) and ours(caller)
            and not ours(callee))


def parse(path):
    """Returns (self, calls, edges, totals):
    self[(ob, fn)] = self Ir
    edges[((ob, fn), (cob, cfn))] = [count, inclusive Ir]
    """
    names = {"ob": {}, "fl": {}, "fn": {}}
    selfc = defaultdict(int)
    edges = defaultdict(lambda: [0, 0])
    ob = fn = None
    cob = cfn = None
    pending_call = None       # (count) when the next cost line is a call's
    total = None
    kind_of = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl",
               "cfi": "fl", "cfl": "fl", "fn": "fn", "cfn": "fn"}
    rx = re.compile(r"^\((\d+)\)(?: (.*))?$")
    npos = 1                  # position columns before the cost

    def name(kind, val):
        m = rx.match(val)
        if not m:
            return val
        if m.group(2) is not None:
            names[kind][m.group(1)] = m.group(2)
            return m.group(2)
        return names[kind].get(m.group(1), "(%s)" % m.group(1))

    with open(path, "r", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                cost = int(parts[npos]) if len(parts) > npos else 0
                if pending_call is not None:
                    e = edges[((ob, fn), (cob if cob is not None else ob, cfn))]
                    e[0] += pending_call
                    e[1] += cost
                    pending_call = None
                    cob = None
                else:
                    selfc[(ob, fn)] += cost
                continue
            key, _, val = line.partition("=")
            if key in kind_of and _:
                v = name(kind_of[key], val)
                if key == "ob":
                    ob = v
                elif key == "fn":
                    fn = v
                    cob = None
                elif key == "cob":
                    cob = v
                elif key == "cfn":
                    cfn = v
                continue
            if key == "calls" and _:
                pending_call = int(val.split()[0])
                continue
            if line.startswith("positions:"):
                # --dump-instr=yes: "instr line" before each cost
                npos = len(line.split()) - 1
                continue
            if line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
    return selfc, edges, total


def base_name(fn):
    """ap_pass_brigade'2 -> ap_pass_brigade (callgrind marks recursion)."""
    return re.sub(r"'\d+$", "", fn or "")


def short_ob(ob):
    return ob.rsplit("/", 1)[-1] if ob else "?"


def per_req(a, b, dn):
    return (b - a) / dn


def cmd_module(args):
    s1, e1, t1 = parse(args.out1)
    s2, e2, t2 = parse(args.out2)
    dn = args.dn
    obj = args.object

    def ours(key):
        return key[0] is not None and short_ob(key[0]) == obj

    fns = sorted({k for k in list(s1) + list(s2) if ours(k)}
                 | {k[1] for k in list(e1) + list(e2) if ours(k[1])}
                 | {k[0] for k in list(e1) + list(e2) if ours(k[0])})

    def stats(selfc, edges):
        out = {}
        for k in fns:
            inc = selfc.get(k, 0)
            pas = 0
            for (a, b), (cnt, cost) in edges.items():
                if a == k:
                    inc += cost
                    if passed_on(a, b, ours):
                        pas += cost
            calls = sum(cnt for (a, b), (cnt, _) in edges.items() if b == k)
            out[k] = (calls, selfc.get(k, 0), inc, inc - pas)
        entry = sum(cost for (a, b), (cnt, cost) in edges.items()
                    if ours(b) and not ours(a))
        passc = sum(cost for (a, b), (cnt, cost) in edges.items()
                    if ours(a) and passed_on(a, b, ours))
        return out, entry - passc

    st1, mod1 = stats(s1, e1)
    st2, mod2 = stats(s2, e2)
    rows = []
    for k in fns:
        c1, sf1, i1, p1 = st1[k]
        c2, sf2, i2, p2 = st2[k]
        rows.append((per_req(p1, p2, dn), per_req(c1, c2, dn),
                     per_req(sf1, sf2, dn), per_req(i1, i2, dn), k[1]))
    rows.sort(key=lambda r: -r[0])
    print("%-28s %8s %10s %12s %12s" % ("function", "calls/req", "self",
                                         "inclusive", "incl-pass"))
    for ip, calls, sf, inc, name in rows:
        if abs(calls) < 0.5 and abs(inc) < 0.5:
            continue            # startup-only functions (config, hooks)
        print("%-28s %8.2f %10.1f %12.1f %12.1f" % (name[:28], calls, sf, inc, ip))
    print("%-28s %8s %10s %12s %12.1f" % ("module total (entry-pass)", "", "",
                                         "", per_req(mod1, mod2, dn)))
    if t1 and t2:
        print("%-28s %8s %10s %12s %12.1f" % ("program total", "", "", "",
                                              per_req(t1, t2, dn)))


def cmd_delta(args):
    sb1, _, tb1 = parse(args.b1)
    sb2, _, tb2 = parse(args.b2)
    sv1, _, tv1 = parse(args.v1)
    sv2, _, tv2 = parse(args.v2)
    dn = args.dn
    keys = set(sb1) | set(sb2) | set(sv1) | set(sv2)
    rows = []
    for k in keys:
        b = per_req(sb1.get(k, 0), sb2.get(k, 0), dn)
        v = per_req(sv1.get(k, 0), sv2.get(k, 0), dn)
        if abs(v - b) >= 0.05:
            rows.append((v - b, b, v, "%s (%s)" % (k[1], short_ob(k[0]))))
    rows.sort(key=lambda r: -abs(r[0]))
    print("%-52s %10s %10s %10s" % ("function (object)", "base", "variant", "delta"))
    for d, b, v, name in rows[:args.top]:
        print("%-52s %10.1f %10.1f %+10.1f" % (name[:52], b, v, d))
    rest = sum(r[0] for r in rows[args.top:])
    print("%-52s %10s %10s %+10.1f" % ("(all other functions)", "", "", rest))
    if tb1 and tb2 and tv1 and tv2:
        print("%-52s %10.1f %10.1f %+10.1f" % (
            "program total", per_req(tb1, tb2, dn), per_req(tv1, tv2, dn),
            per_req(tv1, tv2, dn) - per_req(tb1, tb2, dn)))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("module")
    m.add_argument("--object", default="mod_profiler.so")
    m.add_argument("out1")
    m.add_argument("out2")
    m.add_argument("dn", type=int)
    d = sub.add_parser("delta")
    d.add_argument("--top", type=int, default=15)
    d.add_argument("b1")
    d.add_argument("b2")
    d.add_argument("v1")
    d.add_argument("v2")
    d.add_argument("dn", type=int)
    args = ap.parse_args()
    if args.cmd == "module":
        cmd_module(args)
    else:
        cmd_delta(args)


if __name__ == "__main__":
    main()
