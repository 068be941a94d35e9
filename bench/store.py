#!/usr/bin/env python3
"""What the measurement store costs, and how much it can write.

    python3 bench/store.py                 (ROUNDS=30 DURATION=2 by default)
    ROUNDS=40 DURATION=2 CONNS=8 python3 bench/store.py

Three real apache2 servers (event MPM, the same 1 KiB static file over
keep-alive) run side by side: "base" without mod_profiler, "control", a
second server identical to base, and "store" with Profiler On, ProfilerStore
On, SQLite, ProfilerSample 1 (every request is a row, with its rollup).

Throughput: ROUNDS pairs of short wrk runs, base and variant back to back,
in alternating order; the figure is the median of the per-pair ratios
variant/base with a bootstrap 95 % interval. Short pairs cancel the slow
drifts of this shared machine; the control's ratio, which should be 1, shows
how far the machine alone moves the figure.

Then the store server flat out for 2 x DURATION x 3 seconds: rows committed
per second (counted in the database after a graceful stop flushed the
queues), the writers' own counters of dropped and failed rows (a rate with
no drops is one the writer sustains), and the CPU time of the writer threads
per row (user and system, from /proc: the writer names its thread
"prof-writer") next to the whole server's CPU time per request.

Results go to stdout and bench/results/store.txt.
"""
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))

from harness import Httpd  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", 30))
DURATION = float(os.environ.get("DURATION", 2))
CONNS = int(os.environ.get("CONNS", 8))
WARMUP = int(os.environ.get("WARMUP", 2))
PAGE = "x" * 1024

STORE = """
LoadModule dbd_module /usr/lib/apache2/modules/mod_dbd.so
DBDriver sqlite3
DBDParams @ROOT@/db/profiler.db
Profiler On
ProfilerStore On
ProfilerSample 1
"""


def wrk(srv, seconds):
    out = subprocess.run(["wrk", "-t1", "-c%d" % CONNS, "-d%gs" % seconds,
                          srv.url("/page.html")], capture_output=True,
                         text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert not errors, out
    return rps


def server(name, body, profiler):
    srv = Httpd(body, mpm="event", profiler=profiler, name="bench-" + name)
    os.makedirs(os.path.join(srv.root, "db"))
    os.chmod(os.path.join(srv.root, "db"), 0o777)
    srv.write("page.html", PAGE)
    return srv.start()


def rows(srv):
    con = sqlite3.connect("file:%s/db/profiler.db?mode=ro" % srv.root, uri=True,
                          timeout=30)
    try:
        return con.execute("SELECT count(*) FROM profiler_requests").fetchone()[0]
    finally:
        con.close()


def threads_cpu(srv):
    """(writer user, writer system, all) CPU ticks of srv's processes."""
    wu = ws = total = 0
    pids = subprocess.run(["pgrep", "-f", srv.root], capture_output=True,
                          text=True).stdout.split()
    for pid in pids:
        try:
            tids = os.listdir("/proc/%s/task" % pid)
        except FileNotFoundError:
            continue
        for tid in tids:
            try:
                raw = open("/proc/%s/task/%s/stat" % (pid, tid)).read()
            except FileNotFoundError:
                continue
            comm = raw[raw.index("(") + 1:raw.rindex(")")]
            f = raw[raw.rindex(")") + 2:].split()
            user, system = int(f[11]), int(f[12])
            total += user + system
            if comm == "prof-writer":
                wu += user
                ws += system
    return wu, ws, total


def median_ci(ratios):
    """The median, and a bootstrap 95 % interval of it."""
    rng = random.Random(1)
    boots = sorted(statistics.median(rng.choices(ratios, k=len(ratios)))
                   for _ in range(2000))
    return statistics.median(ratios), boots[50], boots[1949]


def main():
    subprocess.run(["make", "-s", "-f", "Makefile.apxs"], cwd=ROOT, check=True)
    lines = []
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")

    def say(s):
        print(s, flush=True)
        lines.append(s)

    say("# store throughput: ROUNDS=%d DURATION=%gs CONNS=%d, event MPM, "
        "1 KiB file, keep-alive, nproc=%d, load average at start %s"
        % (ROUNDS, DURATION, CONNS, os.cpu_count(),
           " ".join(open("/proc/loadavg").read().split()[:3])))
    servers = {"base": server("base", "", profiler=False),
               "control": server("control", "", profiler=False),
               "store": server("store", STORE, profiler=True)}
    store = servers["store"]
    try:
        for srv in servers.values():
            wrk(srv, WARMUP)
        ratios = {"control": [], "store": []}
        for i in range(ROUNDS):
            for name in ratios:
                pair = [("base", servers["base"]), (name, servers[name])]
                if i % 2:
                    pair.reverse()
                got = {n: wrk(srv, DURATION) for n, srv in pair}
                ratios[name].append(got[name] / got["base"])
            say("round %2d: control/base %.3f  store/base %.3f"
                % (i + 1, ratios["control"][-1], ratios["store"][-1]))
        for name in ratios:
            med, lo, hi = median_ci(ratios[name])
            say("%-7s/base throughput, median of %d pairs: %.3f (95 %% "
                "interval %.3f-%.3f; min %.3f, max %.3f)"
                % (name, ROUNDS, med, lo, hi, min(ratios[name]),
                   max(ratios[name])))

        # Sustained write rate: flat out for one measured stretch.
        time.sleep(1)
        r0, t0, c0 = rows(store), time.time(), threads_cpu(store)
        rps = wrk(store, DURATION * 6)
        r1, t1, c1 = rows(store), time.time(), threads_cpu(store)
        n = max(r1 - r0, 1)
        store.graceful_stop()
        con = sqlite3.connect("%s/db/profiler.db" % store.root)
        total, = con.execute("SELECT count(*) FROM profiler_requests").fetchone()
        dropped, failed = con.execute(
            "SELECT sum(rows_dropped), sum(rows_failed) FROM profiler_writers"
        ).fetchone()
        rollup, = con.execute("SELECT sum(count) FROM profiler_rollups").fetchone()
        con.close()
        say("sustained: %.0f rows/s committed while serving %.0f req/s "
            "(%d rows in %.1f s); all rows %d, rollups count %d, dropped %d, "
            "failed %d" % (n / (t1 - t0), rps, n, t1 - t0,
                           total, rollup, dropped or 0, failed or 0))
        say("CPU: writer threads %.2f us/row (user %.2f, system %.2f); the "
            "whole store server %.1f us/request"
            % ((c1[0] + c1[1] - c0[0] - c0[1]) * tick_us / n,
               (c1[0] - c0[0]) * tick_us / n, (c1[1] - c0[1]) * tick_us / n,
               (c1[2] - c0[2]) * tick_us / n))
    finally:
        for srv in servers.values():
            srv.cleanup()
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "store.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
