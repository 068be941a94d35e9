"""Module timing in the store and the report (issue 14): each stored request
keeps its module times (table modules, schema 6), api/v1/requests/<id>
lists them under their phase and the output filters apart, the waterfall
nests them under their phase, and a route's page shows each module's share
of its phase. Against a real SQLite file and a real PostgreSQL server."""
import re

import pytest

import time

from pg import PgServer, pg_available
from report import REPORT, api, fetch
from store import PgDb, SqliteDb, make_server, wait_for
from test_spans import TEST_MOD, test_module  # noqa: F401 (fixture)

EXTRA = REPORT + """
ProfilerModuleTiming On
ProfilerModuleTimingMin 0
ProfilerRetention 1s
ProfilerRollupRetention 1s
"""

N = 6


def run(srv):
    # translate 30 ms, type 10 ms in the test module's hooks; its filters
    # A (10 ms) and B (20 ms) in the handler phase
    for _ in range(N):
        status, _, _ = fetch(srv, "/t?translate_us=30000&type_us=10000"
                                  "&filter_a_us=10000&filter_b_us=20000")
        assert status == 200
    for _ in range(3):
        status, _, _ = fetch(srv, "/index.html")
        assert status == 200
    wait_for(lambda: srv.db.scalar(
        "SELECT count(*) FROM profiler_requests") == N + 3)
    wait_for(lambda: srv.db.scalar(
        "SELECT count(DISTINCT request_id) FROM profiler_modules") == N + 3)


def check(srv):
    db = srv.db
    assert db.scalar("SELECT version FROM profiler_schema") == 6
    rows = db.query("SELECT m.phase, m.module, m.calls, m.dur_us FROM "
                    "profiler_modules m JOIN profiler_requests q ON "
                    "q.id = m.request_id WHERE q.route = '/t'")
    got = {}
    for phase, module, calls, dur in rows:
        got.setdefault((phase, module), []).append((int(calls), int(dur)))
    for key, least in ((("translate", "mod_profiler_test"), 30000),
                       (("type", "mod_profiler_test"), 10000),
                       (("filter", "proftest_a"), 10000),
                       (("filter", "proftest_b"), 20000)):
        assert len(got.get(key, [])) == N, (key, got)
        assert all(c >= 1 and d >= least for c, d in got[key]), (key, got)
    # A's own time excludes B's, which runs after it
    assert all(d < 20000 for _, d in got[("filter", "proftest_a")]), got
    # ordinary modules by name, on the static file
    names = {m for (m,) in db.query(
        "SELECT DISTINCT m.module FROM profiler_modules m JOIN "
        "profiler_requests q ON q.id = m.request_id "
        "WHERE q.route = '/index.html'")}
    assert "mod_mime" in names, names

    rid = int(db.scalar("SELECT id FROM profiler_requests WHERE route = '/t' "
                        "ORDER BY id LIMIT 1"))
    status, body = api(srv, "requests/%d" % rid)
    assert status == 200, body
    phases = {p["name"]: p for p in body["request"]["phases"]}
    tr = {m["module"]: m for m in phases["translate"]["modules"]}
    assert tr["mod_profiler_test"]["dur_ms"] >= 30.0, tr
    assert tr["mod_profiler_test"]["dur_ms"] <= phases["translate"]["dur_ms"]
    assert tr["mod_profiler_test"]["calls"] >= 1
    assert all("modules" in p for p in body["request"]["phases"])
    filters = {f["filter"]: f for f in body["request"]["filters"]}
    assert filters["proftest_b"]["dur_ms"] >= 20.0, filters
    assert 10.0 <= filters["proftest_a"]["dur_ms"] < 20.0, filters

    # The waterfall nests each module under its phase.
    status, _, page = fetch(srv, "/profiler/requests/%d" % rid)
    assert status == 200
    svg = page[page.index('id="waterfall"'):page.index("</svg>",
                                                       page.index(
                                                           'id="waterfall"'))]
    labels = re.findall(r'<text class="lbl ([^"]*)"[^>]*>([^<]*)</text>', svg)
    names = [(cls.strip(), text) for cls, text in labels
             if "dur" not in cls]
    i = names.index(("", "translate"))
    assert names[i + 1] == ("mod", "\u2003mod_profiler_test"), names
    assert ("mod", "\u2003filter.proftest_b") in names, names
    assert 'class="wf mod ph-translate"' in svg

    # The route's page: each module's share of its phase.
    status, _, page = fetch(srv, "/profiler/requests?route=/t")
    assert status == 200
    table = page[page.index('id="route-module-table"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td "
                      r"class=\"num\">([^<]*)</td><td class=\"num\">([^<]*)"
                      r"</td><td>.*?aria-label=\"([0-9.]+) %\"", table)
    shares = {(p, m): float(s) for p, m, _, _, s in rows}
    # 30 ms of the translate phase is the test module's: most of it
    assert shares[("translate", "mod_profiler_test")] > 50.0, shares
    assert 0.0 < shares[("filter", "filter.proftest_b")] <= 100.0, shares
    per_req = {(p, m): t for p, m, t, _, _ in rows}
    assert per_req[("translate", "mod_profiler_test")].startswith("3"), \
        per_req


@pytest.fixture(scope="module")
def pg():
    if pg_available() is not None:
        pytest.skip(str(pg_available()))
    with PgServer(name="modstore") as server:
        server.query("DROP TABLE IF EXISTS profiler_requests, "
                     "profiler_spans, profiler_profiles, profiler_modules, "
                     "profiler_rollups, profiler_rollups_hour, "
                     "profiler_writers, profiler_schema")
        yield server


@pytest.mark.parametrize("db_kind", ["sqlite", "pgsql"])
def test_module_times_are_stored_listed_and_drawn(db_kind, test_module,
                                                  request):
    if db_kind == "pgsql":
        pgs = request.getfixturevalue("pg")
        factory = lambda root: PgDb(pgs)  # noqa: E731
    else:
        factory = SqliteDb
    srv = make_server(factory, extra=EXTRA, name="modstore-" + db_kind,
                      test_module=test_module)
    try:
        run(srv)
        check(srv)
        # Retention takes a request's module times with it (1 s).
        time.sleep(1.5)
        status, _, _ = fetch(srv, "/profiler/actions/prune", method="POST",
                             headers={"Origin": "http://127.0.0.1:%d"
                                      % srv.port})
        assert status == 303
        assert srv.db.scalar("SELECT count(*) FROM profiler_requests") == 0
        assert srv.db.scalar("SELECT count(*) FROM profiler_modules") == 0
        srv.stop()
        assert not srv.log_problems(), srv.log_problems()
    finally:
        srv.cleanup()
