"""Issue 11, item 6: the store's minute and hour rollups are written from the
live aggregates, so they count every request served exactly while
ProfilerStoreRate keeps only a sample of raw rows; on real apache2 (prefork
and event) with real SQLite, a graceful restart in the middle of the load
and a graceful stop at the end; and once on a real PostgreSQL."""
import re
import threading
import time
import urllib.error
import urllib.request

import pytest

from pg import PgServer
from store import (PgDb, SqliteDb, ab, build_test_module, count_rows,
                   make_server, wait_for)


@pytest.fixture(scope="session")
def test_module(built_module):
    return build_test_module()


@pytest.fixture(scope="module")
def pg():
    with PgServer(name="rollups") as server:
        yield server


def get(srv, path, headers=None):
    req = urllib.request.Request(srv.url(path), headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def finish(srv):
    srv.graceful_stop()
    problems = srv.log_problems()
    assert not problems, "\n".join(problems)


def sent_with_restart(srv, n, c, paths=("/t/a", "/t/b")):
    """ab sends n requests to two routes (the test module's handler takes
    some ms, so that the load lasts a few seconds); a graceful restart in
    the middle. Returns (requests answered, seconds the load took)."""
    done = {}

    def load(path, key):
        done[key] = ab(srv, path, n // 2, c=c // 2)

    t0 = time.time()
    threads = [threading.Thread(target=load, args=(p, p))
               for p in paths]
    for t in threads:
        t.start()
    time.sleep(1.0)
    srv.graceful_restart()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    answered = 0
    for completed, failed, _ in done.values():
        assert failed == 0
        answered += completed
    return answered, elapsed


# httpd's own "OPTIONS *" requests, which the parent sends to wake its
# children on a graceful restart ("internal dummy connection"), are served
# and counted like any other; they are not ours to send.
NOT_DUMMY = "NOT (method = 'OPTIONS' AND route = '*')"


def check_exact(db, sent):
    # Every request the server answered is in the rollups, once: per
    # minute and per hour, and in the histograms.
    for table in ("profiler_rollups", "profiler_rollups_hour"):
        assert db.scalar("SELECT sum(count) FROM %s WHERE %s"
                         % (table, NOT_DUMMY)) == sent, table
    for table in ("profiler_rollups", "profiler_rollups_hour"):
        for count, hist in db.query("SELECT count, hist FROM " + table):
            assert sum(int(x.split(":")[1]) for x in hist.split(",")) == count


@pytest.mark.parametrize("mpm", ["prefork", "event"])
def test_rollups_equal_requests_while_rows_are_rated(mpm, test_module):
    rate = 20
    srv = make_server(SqliteDb, mpm=mpm, name="rated-" + mpm,
                      test_module=test_module, extra="""
ProfilerStoreRate %d
ProfilerSampleSlow 150
ProfilerRoute ^/t/[es]$ /slow-or-failing
ProfilerRoute ^/t/d$ /debugged
ProfilerServerTiming "expr=%%{HTTP:X-Debug} == 'yes'"
""" % rate)
    try:
        t0 = time.time()
        answered, _ = sent_with_restart(srv, 2000, 4)
        # Slow ones and 5xx: always stored, whatever the rate.
        for i in range(5):
            assert get(srv, "/t/e?status=503") == 503
            assert get(srv, "/t/s?sleep_ms=200") == 200
        # Profiled ones (their Server-Timing asked for through the expr=
        # gate): kept too, at a rate far above ProfilerStoreRate.
        for i in range(40):
            assert get(srv, "/t/d", {"X-Debug": "yes"}) == 200
        elapsed = time.time() - t0
        finish(srv)
        db = srv.db
        check_exact(db, answered + 50)
        assert db.query("SELECT count(*), sum(weight) FROM profiler_requests "
                        "WHERE route = '/debugged'") == [(40, 40)]
        assert db.scalar("SELECT count(*) FROM profiler_requests "
                         "WHERE status = 503") == 5
        assert db.scalar("SELECT count(*) FROM profiler_requests "
                         "WHERE total_us >= 150000") >= 5
        # Raw rows: about the rate, fairly across both routes; bounded
        # by the rate over the seconds the load took (plus one burst
        # second and the 10 always-kept ones).
        rows = count_rows(db, "status < 500 AND total_us < 150000 "
                              "AND route <> '/debugged'")
        bound = rate * (elapsed + 2) * 1.5
        assert 0 < rows <= bound, (rows, elapsed)
        per_route = dict(db.query("SELECT route, count(*) FROM "
                                  "profiler_requests WHERE status = 200 "
                                  "AND total_us < 150000 AND %s "
                                  "GROUP BY route" % NOT_DUMMY))
        assert set(per_route) == {"/t/a", "/t/b", "/debugged"}, per_route
        # Their Horvitz-Thompson weights estimate the requests: within
        # four standard errors (the variance estimated from the rows, as
        # sum of w(w - 1) for Poisson sampling).
        weight, var = db.query("SELECT sum(weight), sum(weight * (weight - 1)) "
                               "FROM profiler_requests WHERE status < 500 "
                               "AND total_us < 150000 AND route <> '/debugged' "
                               "AND %s" % NOT_DUMMY)[0]
        assert abs(weight - answered) < 4 * var ** 0.5 + 10, \
            (weight, answered, var ** 0.5)
    finally:
        srv.cleanup()


@pytest.mark.parametrize("mpm", ["prefork", "event"])
def test_flushers_of_two_generations_count_once(mpm, test_module):
    # While the server runs: the next generation's flusher goes on from
    # where the last one stopped (nothing counted twice, nothing left out),
    # and the parent's flush at the stop adds only what is new.
    srv = make_server(SqliteDb, mpm=mpm, name="gens-" + mpm,
                      test_module=test_module)
    try:
        answered, _ = sent_with_restart(srv, 600, 4)
        srv.graceful_restart()
        time.sleep(1)
        sql = "SELECT sum(count) FROM profiler_rollups WHERE " + NOT_DUMMY
        wait_for(lambda: srv.db.scalar(sql) == answered, timeout=30)
        time.sleep(6)           # one more flush: still the same
        assert srv.db.scalar(sql) == answered
        assert get(srv, "/index.html") == 200
        finish(srv)
        check_exact(srv.db, answered + 1)
    finally:
        srv.cleanup()


def test_store_rate_off_stores_every_row(test_module):
    srv = make_server(SqliteDb, mpm="event", name="rate-off",
                      test_module=test_module, extra="ProfilerStoreRate Off")
    try:
        answered, _failed, _ = ab(srv, "/index.html", 600, c=8)
        finish(srv)
        db = srv.db
        assert count_rows(db) == answered == 600
        assert db.scalar("SELECT sum(weight) FROM profiler_requests") == 600
        check_exact(db, 600)
    finally:
        srv.cleanup()


def test_rollups_exact_on_postgresql(pg, test_module):
    srv = make_server(lambda root: PgDb(pg), mpm="event", name="rated-pg",
                      test_module=test_module, extra="ProfilerStoreRate 10")
    try:
        answered, _ = sent_with_restart(srv, 1000, 4)
        finish(srv)
        check_exact(srv.db, answered)
        assert count_rows(srv.db) < answered
    finally:
        srv.cleanup()


@pytest.mark.parametrize("value", ["0", "-5", "many", "2000000"])
def test_store_rate_refuses_bad_values(value):
    from harness import Httpd
    srv = Httpd("ProfilerStoreRate %s" % value, name="rate-bad")
    try:
        out = srv.configtest()
        text = out.stdout + out.stderr if hasattr(out, "stdout") else str(out)
        assert re.search(r"ProfilerStoreRate: '%s' is not valid" %
                         re.escape(value), text), text
    finally:
        srv.cleanup()
