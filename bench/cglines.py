#!/usr/bin/env python3
"""Instructions per request by source line, for one object, from two
callgrind files written with --dump-instr=yes (N1 and N2 requests).

  CG_EXTRA=--dump-instr=yes CG_VARIANTS="base timing" SKIP_THROUGHPUT=1 \\
      bash bench/run.sh
  python3 bench/cglines.py bench/results/timing.2000.out \\
      bench/results/timing.4000.out 2000 .libs/mod_profiler.so | head -40

valgrind 3.19 records no line numbers for the module (every position's line
is 0), but with --dump-instr=yes it records each instruction's address in
the object; addr2line maps those to lines here. The cost of a line is
(cost(N2) - cost(N1)) / (N2 - N1), as in cgfuncs.py.
"""
import re
import subprocess
import sys
from collections import defaultdict


def parse(path, obj):
    """Self cost by instruction address, for the object named obj."""
    obn = {}
    costs = defaultdict(int)
    ob = None
    pending = False
    addr = 0
    rx = re.compile(r"^\((\d+)\)(?: (.*))?$")

    def obname(v):
        m = rx.match(v)
        if not m:
            return v
        if m.group(2) is not None:
            obn[m.group(1)] = m.group(2)
            return m.group(2)
        return obn.get(m.group(1))

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                a = parts[0]
                if a.startswith("0x"):
                    addr = int(a, 16)
                elif a[0] == "+":
                    addr += int(a[1:])
                elif a[0] == "-":
                    addr -= int(a[1:])
                cost = int(parts[2]) if len(parts) > 2 else 0
                if pending:          # the cost of a call, not of the line
                    pending = False
                    continue
                if ob and ob.endswith(obj):
                    costs[addr] += cost
                continue
            k, _, v = line.partition("=")
            if k == "ob":
                ob = obname(v)
            elif k == "cob":
                obname(v)
            elif k == "calls":
                pending = True
    return costs


def main():
    out1, out2, dn, so = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    obj = so.rsplit("/", 1)[-1]
    a, b = parse(out1, obj), parse(out2, obj)
    d = {k: (b.get(k, 0) - a.get(k, 0)) / dn for k in set(a) | set(b)}
    addrs = sorted(k for k, v in d.items() if v >= 0.5)
    lines = defaultdict(float)
    if addrs:
        out = subprocess.run(["addr2line", "-e", so] + [hex(x) for x in addrs],
                             capture_output=True, text=True,
                             check=True).stdout.splitlines()
        for x, where in zip(addrs, out):
            lines[where] += d[x]
    for where, v in sorted(lines.items(), key=lambda kv: -kv[1]):
        print("%7.1f %s" % (v, where))


if __name__ == "__main__":
    main()
