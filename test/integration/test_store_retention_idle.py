"""Retention on a store with nothing due does no empty work: a few reads
through the indexes per run, no DELETE (each would take SQLite's write
lock), no count of the whole table after the first run, nothing written to
the database file; stale writers are pruned."""
import os
import re
import sqlite3
import time
import urllib.request

from store import SqliteDb, count_rows, make_server, wait_for

RUN = re.compile(r"PROF00013: retention: (\d+) statements; deleted (\d+) "
                 r"requests, (\d+) rollup rows and (\d+) writers")


def runs(srv):
    return [tuple(int(g) for g in m.groups())
            for m in RUN.finditer(srv.read_error_log())]


def wal_state(db):
    st = os.stat(db.path + "-wal")
    return st.st_size, st.st_mtime_ns


def test_retention_with_nothing_due_only_reads():
    srv = make_server(SqliteDb, name="ret-idle", extra="""
ProfilerRetentionInterval 1
LogLevel profiler:debug
""")
    try:
        for _ in range(20):
            with urllib.request.urlopen(srv.url("/index.html"), timeout=10) as r:
                r.read()
        wait_for(lambda: count_rows(srv.db) == 20)
        # The rollups of those requests, flushed from the live aggregates
        # within seconds (and then nothing more: no traffic, no write).
        wait_for(lambda: srv.db.scalar("SELECT sum(count) FROM "
                                       "profiler_rollups") == 20, timeout=15)
        # Two runs after the last write, then three more with no traffic.
        n = len(runs(srv))
        wait_for(lambda: len(runs(srv)) >= n + 2, timeout=15)
        before = wal_state(srv.db)
        n = len(runs(srv))
        wait_for(lambda: len(runs(srv)) >= n + 3, timeout=15)
        assert wal_state(srv.db) == before, "retention wrote to the database"
        all_runs = runs(srv)
        # Nothing was due: nothing deleted, ever.
        assert all(r[1:] == (0, 0, 0) for r in all_runs), all_runs
        # Reads only: the oldest request, the writers' counters, the
        # oldest minute and hour and writer; the first run also counts
        # the requests once. (It was 200 DELETEs and a count(*) a run.)
        assert all_runs[0][0] <= 6, all_runs
        assert all(r[0] <= 5 for r in all_runs[1:]), all_runs
        srv.graceful_stop()
        assert not srv.log_problems()
    finally:
        srv.cleanup()


def test_stale_writers_are_pruned_and_old_rows_go():
    srv = make_server(SqliteDb, name="ret-stale", extra="""
ProfilerRetention 1d
ProfilerRetentionInterval 1
LogLevel profiler:debug
""")
    try:
        with urllib.request.urlopen(srv.url("/index.html"), timeout=10) as r:
            r.read()
        wait_for(lambda: count_rows(srv.db) == 1)
        old = int((time.time() - 3 * 86400) * 1e6)
        con = sqlite3.connect(srv.db.path, timeout=30)
        with con:
            # A child of long ago, and what it wrote.
            con.execute("INSERT INTO profiler_writers (server, pid, nonce, "
                        "started_us, last_write_us, rows_written, "
                        "rows_dropped, rows_failed) VALUES ('gone', 1, 1, ?, "
                        "?, 1, 0, 0)", (old, old))
            con.execute("INSERT INTO profiler_requests SELECT id + 1, server, "
                        "vhost, ?, method, route, path, query, status, "
                        "protocol, bytes_sent, total_us, ttfb_us, read_us, "
                        "postread_us, quick_us, translate_us, storage_us, "
                        "headers_us, access_us, authn_us, authz_us, type_us, "
                        "fixups_us, handler_us, body_us, log_us, weight, "
                        "spans_dropped, phase_starts FROM profiler_requests",
                        (old,))
        con.close()
        wait_for(lambda: srv.db.scalar("SELECT count(*) FROM profiler_writers "
                                       "WHERE server = 'gone'") == 0, timeout=15)
        wait_for(lambda: count_rows(srv.db) == 1, timeout=15)
        # The running child's writer stays.
        assert srv.db.scalar("SELECT count(*) FROM profiler_writers") == 1
        assert any(r[1] == 1 and r[3] == 1 for r in runs(srv)), runs(srv)
        srv.graceful_stop()
        assert not srv.log_problems()
    finally:
        srv.cleanup()
