#!/usr/bin/env python3
"""What the measurement store costs, and how much it can write.

    python3 bench/store.py                 (ROUNDS=9 DURATION=5 by default)
    ROUNDS=15 DURATION=5 CONNS=8 python3 bench/store.py

Two real apache2 servers (event MPM, the same 1 KiB static file over
keep-alive) run side by side: "base" without mod_profiler, "store" with
Profiler On, ProfilerStore On, SQLite, ProfilerSample 1 (every request is a
row, with its rollup). wrk measures them in alternating rounds; the figure
is the median of the per-round ratios store/base, so slow drifts of this
shared machine hit both alike.

Then the sustained write rate: rows committed per second by the store
server's writers while wrk drives it flat out, read from the database
(count over the run, after a graceful stop has flushed the queues), with the
writers' own counters of dropped and failed rows: a rate with no drops is
one the writer sustains.

Results go to stdout and bench/results/store.txt.
"""
import os
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

ROUNDS = int(os.environ.get("ROUNDS", 9))
DURATION = int(os.environ.get("DURATION", 5))
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
    out = subprocess.run(["wrk", "-t1", "-c%d" % CONNS, "-d%ds" % seconds,
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


def main():
    subprocess.run(["make", "-s", "-f", "Makefile.apxs"], cwd=ROOT, check=True)
    lines = []

    def say(s):
        print(s, flush=True)
        lines.append(s)

    say("# store throughput: ROUNDS=%d DURATION=%ds CONNS=%d, event MPM, "
        "1 KiB file, keep-alive, nproc=%d" % (ROUNDS, DURATION, CONNS,
                                              os.cpu_count()))
    base = server("base", "", profiler=False)
    store = server("store", STORE, profiler=True)
    try:
        wrk(base, WARMUP)
        wrk(store, WARMUP)
        ratios = []
        for i in range(ROUNDS):
            pair = [("base", base), ("store", store)]
            if i % 2:
                pair.reverse()
            got = {name: wrk(srv, DURATION) for name, srv in pair}
            ratios.append(got["store"] / got["base"])
            say("round %2d: base %8.0f req/s  store %8.0f req/s  ratio %.3f"
                % (i + 1, got["base"], got["store"], ratios[-1]))
        say("store/base throughput, median of %d rounds: %.3f (min %.3f, max %.3f)"
            % (ROUNDS, statistics.median(ratios), min(ratios), max(ratios)))

        # Sustained write rate: flat out for one measured stretch.
        time.sleep(1)
        r0, t0 = rows(store), time.time()
        rps = wrk(store, DURATION * 2)
        r1, t1 = rows(store), time.time()
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
            "failed %d" % ((r1 - r0) / (t1 - t0), rps, r1 - r0, t1 - t0,
                           total, rollup, dropped or 0, failed or 0))
    finally:
        base.cleanup()
        store.cleanup()
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "store.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
