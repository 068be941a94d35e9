"""A profiled request, end to end (issue 12): a request that
ProfilerRequestProfile selects answers `Server-Timing: profile;desc="<id>"`
with the id its row gets in the store (given before the row is written,
prof_store_new_id()); the row is stored with its profile even where
sampling would drop it, and api/v1/requests/<id>/profile serves it, with
the test module's proftest_burn_cpu() on top. On every MPM with SQLite, and
with two servers sharing one PostgreSQL database, whose ids never collide.

Needs the httpd side of issue 12 (ProfilerRequestProfile, the test
module's profiler-test-burn) and its wiring into the collector (in.id,
in.profile)."""
import re
import urllib.request

import pytest

from pg import PgServer, pg_available
from report import api, fetch
from store import PgDb, SqliteDb, build_test_module, make_server, wait_for

BURN = "proftest_burn_cpu"

EXTRA = """
LoadModule profiler_test_module %s
<Location /profiler>
    SetHandler profiler-report
    Require ip 127.0.0.1
</Location>
<Location /burn>
    SetHandler profiler-test-burn
</Location>
ProfilerRequestProfile "expr=%%{HTTP:X-Profile} == 'let-me-in'"
# Sampling keeps no ordinary row: a profiled one is kept all the same.
ProfilerSample 0
"""


def profiled(srv, path="/burn?ms=60", header="let-me-in"):
    """(status, profile id from Server-Timing or None)."""
    req = urllib.request.Request(srv.url(path),
                                 headers={"X-Profile": header})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()
        st = " ".join(r.headers.get_all("Server-Timing") or [])
    m = re.search(r'(?:^|,)\s*profile;desc="?(\d+)"?', st)
    return r.status, int(m.group(1)) if m else None


def wait_for_id(srv, timeout=10):
    """A child's writer registers soon after it starts; until then a
    request is not profiled (no id to give)."""
    got = []

    def one():
        status, rid = profiled(srv)
        assert status == 200
        got.append(rid)
        return rid
    return wait_for(one, timeout=timeout, interval=0.3)


def check_profiled_request(srv):
    rid = wait_for_id(srv)
    wait_for(lambda: srv.db.scalar("SELECT count(*) FROM profiler_profiles "
                                   "WHERE request_id = %d" % rid) == 1)
    # The row has the id the response named.
    assert srv.db.scalar("SELECT path FROM profiler_requests WHERE id = %d"
                         % rid) == "/burn"
    status, d = api(srv, "requests/%d/profile" % rid, format="json")
    assert status == 200, d
    assert d["clock"] == "wall" and d["samples"] > 10, d["samples"]
    assert d["top"][0]["name"] == BURN, d["top"][:3]
    status, d = api(srv, "requests/%d" % rid)
    assert status == 200 and d["request"]["profile"] == "%d/profile" % rid
    status, _, page = fetch(srv, "/profiler/requests/%d" % rid)
    assert status == 200 and 'id="request-flame"' in page
    assert "<title>%s\ntotal: " % BURN in page
    # Without the header (or with a wrong one): no profile, no entry, and
    # with ProfilerSample 0 no row either.
    for header in (None, "nope"):
        req = urllib.request.Request(
            srv.url("/burn?ms=5"), headers={"X-Profile": header} if header
            else {})
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            st = " ".join(r.headers.get_all("Server-Timing") or [])
        assert "profile;" not in st, st
    return rid


@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
def test_profiled_request_stored_and_served_sqlite(mpm):
    srv = make_server(SqliteDb, mpm=mpm, name="reqprof-" + mpm,
                      extra=EXTRA % build_test_module())
    try:
        rid = check_profiled_request(srv)
        # Ids of the writer's range: writer id * 2^32 + sequence.
        writers = [r[0] for r in srv.db.query("SELECT id FROM "
                                              "profiler_writers")]
        assert rid >> 32 in writers, (rid, writers)
        srv.graceful_stop()
        assert srv.db.scalar("SELECT count(*) FROM profiler_requests") == 1
        assert not srv.log_problems()
    finally:
        srv.cleanup()


@pytest.fixture(scope="module")
def pg():
    assert pg_available() is None, pg_available()
    with PgServer(name="reqprof") as server:
        yield server


def test_profiled_requests_of_two_servers_sharing_postgresql(pg):
    pg.query("DROP TABLE IF EXISTS profiler_requests, profiler_spans, "
             "profiler_rollups, profiler_rollups_hour, profiler_writers, "
             "profiler_schema, profiler_profiles")
    mod = build_test_module()
    servers = [make_server(lambda root: PgDb(pg), name="reqprof-pg-%d" % i,
                           extra=EXTRA % mod + "ProfilerServerName web-%d\n"
                           % i) for i in (1, 2)]
    try:
        ids = []
        for s in servers:
            ids.append(check_profiled_request(s))
            for _ in range(3):
                status, rid = profiled(s, path="/burn?ms=5")
                if rid:
                    ids.append(rid)
        assert len(set(ids)) == len(ids), ids
        db = servers[0].db
        wait_for(lambda: db.scalar("SELECT count(*) FROM profiler_profiles")
                 == len(ids))
        got = {r[0]: r[1] for r in db.query(
            "SELECT id, server FROM profiler_requests")}
        assert sorted(got) == sorted(ids), (got, ids)
        assert set(got.values()) == {"web-1", "web-2"}
        for s in servers:
            s.graceful_stop()
            assert not s.log_problems()
    finally:
        for s in servers:
            s.cleanup()
