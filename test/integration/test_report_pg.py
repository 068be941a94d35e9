"""The report handler on a real PostgreSQL server (test/integration/pg.py):
the API checked against what two servers of a fleet sent, read by a third
server that stores nothing itself."""
import pytest

from harness import Httpd
from pg import PgServer, pg_available
from report import (SCRIPT_ROUTE, TOTAL, TRAFFIC, api, fetch, nearest_rank,
                    report_server)
from store import PgDb, build_test_module

pytestmark = pytest.mark.skipif(pg_available() is not None,
                                reason=str(pg_available()))

REL_ERR = 0.0433


def lit(s):
    """s as an SQL string literal (PgDb.query takes literal SQL only)."""
    return "'%s'" % s.replace("'", "''")


@pytest.fixture(scope="module")
def pg():
    with PgServer(name="report") as server:
        yield server


@pytest.fixture(scope="session")
def test_module(built_module):
    return build_test_module()


@pytest.fixture(scope="module")
def fleet(pg, test_module):
    """Two servers store into one database; a third only reports."""
    pg.query("DROP TABLE IF EXISTS profiler_requests, profiler_spans, "
             "profiler_rollups, profiler_rollups_hour, profiler_writers, "
             "profiler_schema")
    writers = []
    for name in ("web-1", "web-2"):
        s = report_server(lambda root: PgDb(pg), test_module,
                          name="report-" + name, traffic=False,
                          extra="ProfilerServerName " + name)
        writers.append(s)
    from report import send_traffic
    from store import wait_for
    for s in writers:
        send_traffic(s)
    db = writers[0].db
    wait_for(lambda: db.scalar("SELECT count(*) FROM profiler_requests")
             == 2 * TOTAL)
    wait_for(lambda: db.scalar("SELECT sum(count) FROM profiler_rollups")
             == 2 * TOTAL)
    reader = Httpd("LoadModule dbd_module /usr/lib/apache2/modules/mod_dbd.so"
                   "\nDBDriver pgsql\nDBDParams \"%s\"\n" % db.params + """
<Location /profiler>
    SetHandler profiler-report
    Require ip 127.0.0.1
</Location>
""", name="report-reader")
    reader.db = db
    reader.start()
    yield reader
    for s in writers + [reader]:
        s.graceful_stop()
    problems = [p for s in writers + [reader] for p in s.log_problems()]
    for s in writers + [reader]:
        s.cleanup()
    assert not problems, "\n".join(problems)


def test_summary_per_route_and_server(fleet):
    status, d = api(fleet, "summary")
    assert status == 200, d
    assert {r["route"]: r["count"] for r in d["rows"]} == \
        {route: 2 * sum(n for _, _, n in v) for route, v in TRAFFIC.items()}
    status, d = api(fleet, "summary", group="server")
    got = {(r["route"], r["server"]): r["count"] for r in d["rows"]}
    for route, v in TRAFFIC.items():
        for server in ("web-1", "web-2"):
            assert got[(route, server)] == sum(n for _, _, n in v)
    status, d = api(fleet, "summary", server="web-2", status="5xx")
    assert [(r["route"], r["count"]) for r in d["rows"]] == [("/t", 6)]


def test_percentiles(fleet):
    status, d = api(fleet, "summary")
    for r in d["rows"]:
        totals = [row[0] for row in fleet.db.query(
            "SELECT total_us FROM profiler_requests WHERE route = %s"
            % lit(r["route"]))]
        for p in (50, 95, 99):
            exact = nearest_rank(totals, p)
            est = float(r["p%d_ms" % p]) * 1000
            assert abs(est - exact) <= REL_ERR * exact + 1.0, (r, p, exact)


def test_paging_and_filters(fleet):
    seen, cursor = [], None
    while True:
        params = {"sort": "total", "limit": 13}
        if cursor:
            params["cursor"] = cursor
        status, d = api(fleet, "requests", **params)
        assert status == 200, d
        seen += [r["id"] for r in d["requests"]]
        cursor = d["next_cursor"]
        if not cursor:
            break
    want = fleet.db.query("SELECT id FROM profiler_requests ORDER BY "
                          "total_us DESC, id DESC")
    assert seen == [str(r[0]) for r in want]
    status, d = api(fleet, "requests", path="/item/", server="web-1",
                    limit=1000)
    assert len(d["requests"]) == 25
    status, d = api(fleet, "requests", status="404", limit=1000)
    # the items' 404s of both servers (the script path answers 410)
    assert len(d["requests"]) == 2 * 25


def test_one_request_and_escaping(fleet):
    rid = fleet.db.scalar("SELECT id FROM profiler_requests WHERE route = "
                          "%s LIMIT 1" % lit(SCRIPT_ROUTE))
    status, d = api(fleet, "requests/%d" % rid)
    assert status == 200 and d["request"]["route"] == SCRIPT_ROUTE
    status, headers, body = fetch(fleet, "/profiler/requests/%d" % rid)
    assert status == 200 and "<script>alert" not in body
    status, headers, body = fetch(fleet, "/profiler/")
    assert status == 200 and body.count('<svg class="chart"') == 3


def test_injection_leaves_postgres_intact(fleet):
    before = fleet.db.scalar("SELECT count(*) FROM profiler_requests")
    for param in ("route", "path", "server", "vhost", "method", "sort",
                  "limit", "from"):
        status, d = api(fleet, "requests",
                        **{param: "x'; DROP TABLE profiler_requests; --"})
        assert status == 400 and d["error"]["parameter"] == param
    assert fleet.db.scalar("SELECT count(*) FROM profiler_requests") == before
