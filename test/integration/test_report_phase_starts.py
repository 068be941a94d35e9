"""A request's waterfall uses the measured start of each phase, from the
store's phase_starts column (schema 4), and says "approximate" for rows
written before it (NULL), where each phase is placed after the one before.

The store writes the column; the tests set it to known values (and to NULL,
as in a row from before schema 4), and take it away, to see that the report
reads a store with or without it."""
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
        import sqlite3
        con = sqlite3.connect(s.db.path, timeout=30)
        with con:
            ids = [r[0] for r in con.execute(
                "SELECT id FROM profiler_requests ORDER BY id LIMIT 3")]
            for rid, v in zip(ids, (STARTS, None, "garbage")):
                con.execute("UPDATE profiler_requests SET phase_starts = ? "
                            "WHERE id = ?", (v, rid))
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
    """The report finds out whether the column is there by asking, not by
    the schema version: a store whose column is gone still answers."""
    s = report_server(SqliteDb, test_module, name="report-nostarts")
    try:
        rid = s.db.scalar("SELECT id FROM profiler_requests LIMIT 1")
        s.graceful_stop()
        import sqlite3
        con = sqlite3.connect(s.db.path, timeout=30)
        with con:
            con.execute("ALTER TABLE profiler_requests DROP COLUMN "
                        "phase_starts")
        con.close()
        s.start()
        status, d = api(s, "requests/%d" % rid)
        assert status == 200, d
        assert d["request"]["phase_starts"] == "approximate"
    finally:
        s.graceful_stop()
        problems = s.log_problems()
        s.cleanup()
    assert not problems, "\n".join(problems)
