"""A request's waterfall uses the measured start of each phase, from the
store's phase_starts column (schema 4), and says "approximate" for rows
written before it (NULL), where each phase is placed after the one before.

The store of this branch is at schema 3; the column is added here the way
schema 4 adds it (ALTER TABLE ... ADD COLUMN phase_starts TEXT), so the
report reads a store of either version as it is."""
import pytest

from report import api, report_server
from store import SqliteDb, build_test_module

STARTS = "0,41,,,60,70,80,90,100,110,120,130,500,900"
NAMES = ["read", "postread", "quick", "translate", "storage", "headers",
         "access", "authn", "authz", "type", "fixups", "handler", "body",
         "log"]


@pytest.fixture(scope="module")
def test_module(built_module):
    return build_test_module()


def test_measured_and_approximate_starts(test_module):
    s = report_server(SqliteDb, test_module, name="report-starts",
                      mpm="prefork", extra="StartServers 1\n"
                      "MinSpareServers 1\nMaxSpareServers 1")
    try:
        # No single request is read before the column is added: apr-util's
        # SQLite driver would fail the statements it prepared before with
        # "database schema has changed" (once per statement: a migration's
        # cost for every running child, not the report's alone).
        import sqlite3
        con = sqlite3.connect(s.db.path, timeout=30)
        with con:
            con.execute("ALTER TABLE profiler_requests ADD COLUMN "
                        "phase_starts TEXT")
            ids = [r[0] for r in con.execute(
                "SELECT id FROM profiler_requests ORDER BY id LIMIT 3")]
            con.execute("UPDATE profiler_requests SET phase_starts = ? "
                        "WHERE id = ?", (STARTS, ids[0]))
            con.execute("UPDATE profiler_requests SET phase_starts = ? "
                        "WHERE id = ?", ("garbage", ids[2]))
        con.close()
        status, d = api(s, "requests/%d" % ids[0])
        assert status == 200, d
        q = d["request"]
        assert q["phase_starts"] == "measured"
        got = {p["name"]: p["start_ms"] for p in q["phases"]}
        for name, v in zip(NAMES, STARTS.split(",")):
            want = None if v == "" else "%d.%03d" % (int(v) // 1000,
                                                     int(v) % 1000)
            assert (got[name] if got[name] is None
                    else "%.3f" % float(got[name])) == \
                (want if want is None else "%.3f" % float(want)), name
        # A row from before the column, and a damaged one: approximate.
        for rid in ids[1:]:
            status, d = api(s, "requests/%d" % rid)
            assert status == 200, d
            q = d["request"]
            assert q["phase_starts"] == "approximate"
            starts = [float(p["start_ms"]) for p in q["phases"]]
            assert starts == sorted(starts)
            assert starts[0] == 0
        # The request page renders either.
        from report import fetch
        for rid in ids:
            assert fetch(s, "/profiler/requests/%d" % rid)[0] == 200
    finally:
        s.graceful_stop()
        problems = s.log_problems()
        s.cleanup()
    assert not problems, "\n".join(problems)


def test_a_store_without_the_column(test_module):
    s = report_server(SqliteDb, test_module, name="report-nostarts")
    try:
        rid = s.db.scalar("SELECT id FROM profiler_requests LIMIT 1")
        status, d = api(s, "requests/%d" % rid)
        assert status == 200, d
        assert d["request"]["phase_starts"] == "approximate"
    finally:
        s.graceful_stop()
        problems = s.log_problems()
        s.cleanup()
    assert not problems, "\n".join(problems)
