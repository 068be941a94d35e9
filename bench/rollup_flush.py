#!/usr/bin/env python3
"""What one flush of the rollups from the live aggregates costs.

    python3 bench/rollup_flush.py [KEYS]        (KEYS=300 by default)

A real apache2 (event MPM) with the store on SQLite and LogLevel
profiler:debug; KEYS distinct routes, each requested 3 times, three rounds
6 s apart (a flush runs every 5 s), then a graceful stop. Prints the
flusher's own lines (PROF00264: the keys merged and the time the flush
took, snapshot, subtraction, transaction and commit together) and the
rollups' total, which must be 9 x KEYS.
"""
import itertools
import os
import re
import string
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "test", "integration"))
from store import SqliteDb, make_server  # noqa: E402


def main():
    keys = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    srv = make_server(SqliteDb, mpm="event", name="bench-flush", extra=
                      "AliasMatch ^/x/ @ROOT@/htdocs/index.html\n"
                      "LogLevel profiler:debug\n")
    try:
        names = ["".join(t) for t in itertools.islice(
            itertools.product(string.ascii_lowercase, repeat=4), keys)]

        def hit(name):
            for _ in range(3):
                urllib.request.urlopen(srv.url("/x/" + name), timeout=10).read()

        for _ in range(3):
            with ThreadPoolExecutor(8) as ex:
                list(ex.map(hit, names))
            time.sleep(6)
        srv.graceful_stop()
        for line in re.findall(r"PROF00264.*", srv.read_error_log()):
            print(line)
        print("rollups: %s requests (sent %d)" % (
            srv.db.scalar("SELECT sum(count) FROM profiler_rollups"), 9 * keys))
    finally:
        srv.cleanup()


if __name__ == "__main__":
    main()
