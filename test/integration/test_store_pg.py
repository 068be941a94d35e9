"""The measurement store on a real PostgreSQL server started by the test
(test/integration/pg.py): every request stored on every MPM, a fleet of
servers writing one database, a graceful restart under load, and the
database stopped in the middle of a load run."""
import re
import threading
import time
import urllib.error
import urllib.request

import pytest

from harness import MPMS
from pg import PgServer, pg_available
from store import (OUTAGE_LOG, PgDb, ab, build_test_module, count_rows,
                   make_server, wait_for)

pytestmark = pytest.mark.skipif(pg_available() is not None,
                                reason=str(pg_available()))


@pytest.fixture(scope="module")
def pg():
    with PgServer(name="store") as server:
        yield server


@pytest.fixture
def clean(pg):
    """Each test starts with no tables."""
    pg.query("DROP TABLE IF EXISTS profiler_requests, profiler_spans, "
             "profiler_rollups, profiler_rollups_hour, profiler_writers, "
             "profiler_schema")
    return PgDb(pg)


@pytest.fixture(scope="session")
def test_module(built_module):
    return build_test_module()


def get(srv, path):
    try:
        with urllib.request.urlopen(srv.url(path), timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def outage_pairs(log):
    """Per child (pid), our outage lines in order; None until every child
    that logged the start of an outage has logged its end."""
    seen = {}
    for line in log.splitlines():
        m = re.search(r"\[pid (\d+):tid \d+\] (PROF0000[67]):", line)
        if m:
            seen.setdefault(m.group(1), []).append(m.group(2))
    if not seen or any(codes[-1] != "PROF00007" for codes in seen.values()):
        return None
    return seen


def finish(srv, allowed=()):
    srv.graceful_stop()
    problems = srv.log_problems(allowed)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("mpm", MPMS)
def test_every_request_is_stored(mpm, clean, test_module):
    srv = make_server(lambda root: clean, mpm=mpm, name="pg-" + mpm,
                      test_module=test_module)
    try:
        assert ab(srv, "/index.html", 3000, c=20) == (3000, 0, 0)
        for i in range(3):
            assert get(srv, "/t/pg%d?threads=2&per=2" % i) == 200
        finish(srv)
        assert count_rows(clean, "path = '/index.html'") == 3000
        assert clean.scalar("SELECT count(DISTINCT id) FROM profiler_requests") \
            == count_rows(clean)
        # 2 threads x 2 spans, plus the consumer's fixup span, per request.
        assert clean.scalar("SELECT count(*) FROM profiler_spans s JOIN "
                            "profiler_requests r ON r.id = s.request_id "
                            "WHERE r.path LIKE '/t/pg%'") >= 3 * 5
        assert clean.scalar("SELECT sum(count) FROM profiler_rollups") == count_rows(clean)
    finally:
        srv.cleanup()


def rollups_follow(raw, roll, width):
    """The rollups come from the live aggregates' deltas, written by a flush
    after the requests: per server, the same total, and a request counted in
    its own interval or the next one (a flush that fell after the turn of a
    minute), never in an earlier one. When the requests fall within one
    interval and no flush crossed its end, the two are equal."""
    servers = {s for _, s, _ in raw} | {s for _, s, _ in roll}
    for srv in servers:
        r = [(t, int(n)) for t, s, n in raw if s == srv]
        w = [(t, int(n)) for t, s, n in roll if s == srv]
        assert sum(n for _, n in r) == sum(n for _, n in w), (srv, r, w)
        times = sorted({t for t, _ in r} | {t for t, _ in w})
        for t in times:
            raw_to = sum(n for u, n in r if u <= t)
            roll_to = sum(n for u, n in w if u <= t)
            before = sum(n for u, n in r if u < t)
            # never ahead of the requests; at most one interval behind
            assert before <= roll_to <= raw_to, (srv, t, r, w)
        assert max(t for t, _ in w) <= max(t for t, _ in r) + width, (r, w)


def test_a_fleet_writes_one_database(clean):
    servers = [make_server(lambda root: clean, name="fleet%d" % i,
                           extra="ProfilerServerName web-%d" % i)
               for i in (1, 2)]
    try:
        results = []
        threads = [threading.Thread(target=lambda s=s: results.append(
            ab(s, "/index.html", 2000, c=10))) for s in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [(2000, 0, 0)] * 2
        for s in servers:
            finish(s)
        assert clean.query("SELECT server, count(*) FROM profiler_requests "
                           "GROUP BY server ORDER BY server") == [
            ("web-1", 2000), ("web-2", 2000)]
        assert clean.query("SELECT server, sum(count) FROM profiler_rollups "
                           "GROUP BY server ORDER BY server") == [
            ("web-1", 2000), ("web-2", 2000)]
        assert clean.scalar("SELECT count(DISTINCT id) FROM profiler_requests") == 4000
        # Rollups per minute and per hour against the raw rows of that
        # minute or hour.
        raw = clean.query("SELECT (start_us / 60000000) * 60000000 AS m, server, "
                          "sum(weight) FROM profiler_requests GROUP BY 1, 2 ORDER BY 1, 2")
        roll = clean.query("SELECT minute_us, server, sum(count) FROM profiler_rollups "
                           "GROUP BY 1, 2 ORDER BY 1, 2")
        rollups_follow(raw, roll, 60000000)
        raw = clean.query("SELECT (start_us / 3600000000) * 3600000000 AS h, "
                          "server, sum(weight) FROM profiler_requests GROUP BY "
                          "1, 2 ORDER BY 1, 2")
        roll = clean.query("SELECT hour_us, server, sum(count) FROM "
                           "profiler_rollups_hour GROUP BY 1, 2 ORDER BY 1, 2")
        rollups_follow(raw, roll, 3600000000)
    finally:
        for s in servers:
            s.cleanup()


def test_graceful_restart_under_load(clean):
    srv = make_server(lambda root: clean, name="pg-restart")
    try:
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=ab(srv, "/index.html", 3000, c=10)))
        t.start()
        time.sleep(0.5)
        srv.graceful_restart()
        t.join()
        assert result["r"] == (3000, 0, 0)
        finish(srv)
        assert count_rows(clean) == 3000
    finally:
        srv.cleanup()


def test_database_stopped_during_a_load_run(pg, clean):
    srv = make_server(lambda root: clean, name="pg-outage")
    try:
        assert get(srv, "/index.html") == 200
        wait_for(lambda: count_rows(clean) == 1)
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=ab(srv, "/index.html", 3000, c=10)))
        t.start()
        time.sleep(0.3)
        pg.stop()
        t.join()
        # Every request answered normally while the database was down;
        # requests go on until the writer has met the outage (ab may have
        # finished before the database went away).
        assert result["r"] == (3000, 0, 0)
        wait_for(lambda: get(srv, "/index.html?down=1") == 200
                 and "PROF00006" in srv.read_error_log(), timeout=30)
        pg.start()
        t_back = time.time()
        wait_for(lambda: (get(srv, "/index.html?after=1") == 200 and
                          count_rows(clean, "start_us > %d" % (t_back * 1e6)) > 0),
                 timeout=30)
        # Each child has its own writer, and each writer that met the
        # outage says so once and, when the database is back, that it
        # writes again: with load on several children, that is one pair of
        # lines per child, whether or not it gets a request afterwards.
        wait_for(lambda: outage_pairs(srv.read_error_log()), timeout=15)
        pairs = outage_pairs(srv.read_error_log())
        assert pairs and all(p == ["PROF00006", "PROF00007"]
                             for p in pairs.values()), pairs
        finish(srv, OUTAGE_LOG)
        # What was lost is counted, and everything else is there.
        lost = clean.scalar("SELECT sum(rows_failed) + sum(rows_dropped) "
                            "FROM profiler_writers")
        assert count_rows(clean) + lost >= 3002 - 1
    finally:
        srv.cleanup()
