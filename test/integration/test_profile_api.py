"""A request's profile in the store and the report (issue 12), on a real
SQLite file and a real PostgreSQL server: the schema migrates to 5 (also
from a store at 4 that holds rows), a stored profile is served as pprof
(read by go tool pprof), folded stacks and JSON, the request's JSON and
page point to it, the page draws its flame graph, bad input is refused
naming the parameter, and retention deletes a profile with its request.

The profile is written into the profiles table as the writer would write
it (the text of src/prof_stacks_text.c, written here by profiles.py); the
path from a profiled request (ProfilerRequestProfile) to that row is the
httpd side's (test_cpu_profile*.py)."""
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import pytest

from pg import PgServer, pg_available
from profiles import BURN, HOSTILE, PROFILE, WAIT
from report import api, fetch
from store import PgDb, SqliteDb, make_server, wait_for

REPORT = """
<Location /profiler>
    SetHandler profiler-report
    Require ip 127.0.0.1
</Location>
"""
GO = shutil.which("go")


def lit(s):
    return "'%s'" % s.replace("'", "''")


def store_profile(db, rid, text=PROFILE):
    sql = ("INSERT INTO profiler_profiles (request_id, format, data) VALUES "
           "(%d, 'stacks1', %s)" % (rid, lit(text)))
    if isinstance(db, SqliteDb):
        con = sqlite3.connect(db.path, timeout=30)
        with con:
            con.execute(sql)
        con.close()
    else:
        db.query(sql)


def two_requests(srv):
    """Two stored requests: (id with a profile, id without)."""
    for path in ("/index.html", "/index.html?second"):
        status, _, _ = fetch(srv, path)
        assert status == 200
    wait_for(lambda: srv.db.scalar("SELECT count(*) FROM profiler_requests")
             == 2)
    ids = [r[0] for r in srv.db.query("SELECT id FROM profiler_requests "
                                      "ORDER BY start_us")]
    store_profile(srv.db, ids[0])
    return ids


def flame(page, svg_id):
    """The flame graph <svg id=svg_id> of a page, parsed as XML."""
    m = re.search(r'<svg xmlns="http://www.w3.org/2000/svg" id="%s".*?</svg>'
                  % svg_id, page, re.S)
    assert m, page[-3000:]
    return ET.fromstring(m.group(0))


def frames(svg):
    """{title's first line: (title, rect width)} of every frame."""
    ns = "{http://www.w3.org/2000/svg}"
    out = {}
    for g in svg.iter(ns + "g"):
        title = g.find(ns + "title").text
        out[title.split("\n")[0]] = (title, float(g.find(ns + "rect")
                                                   .get("width")))
    return out


def check_profile_api(srv):
    with_id, without_id = two_requests(srv)
    assert srv.db.scalar("SELECT version FROM profiler_schema") == 6

    # JSON: the frames, stacks and top functions as stored.
    status, d = api(srv, "requests/%d/profile" % with_id, format="json")
    assert status == 200, d
    assert d["id"] == str(with_id) and d["clock"] == "wall"
    assert d["samples"] == 1000 and d["period_ns"] == 1000000
    assert [f["name"] for f in d["frames"]] == ["main", "ap_run_handler",
                                                BURN, WAIT, HOSTILE]
    assert sorted((s["samples"], s["state"]) for s in d["stacks"]) == \
        [(100, "oncpu"), (200, "waiting"), (700, "oncpu")]
    top = d["top"][0]
    assert (top["name"], top["self_samples"], top["total_samples"]) == \
        (BURN, 700, 700)
    assert {t["name"]: t["total_samples"] for t in d["top"]}["main"] == 1000

    # Folded stacks, root first, for flamegraph.pl and speedscope.
    status, headers, body = fetch(srv, "/profiler/api/v1/requests/%d/profile"
                                       "?format=folded" % with_id)
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert "main;ap_run_handler;%s 700\n" % BURN in body

    # pprof (the default): what go tool pprof reads.
    status, headers, raw = fetch_bytes(
        srv, "/profiler/api/v1/requests/%d/profile" % with_id)
    assert status == 200, raw[:200]
    assert headers["Content-Type"] == "application/octet-stream"
    assert raw[:2] == b"\x1f\x8b", "not gzip"
    top = go_pprof_top(raw)
    first = [l for l in top.splitlines() if re.match(r"\s*[0-9.]+m?s? ", l)]
    assert first and first[0].split()[-1] == BURN, top

    # The request's JSON points to its profile; the other's has none.
    status, d = api(srv, "requests/%d" % with_id)
    assert status == 200 and d["request"]["profile"] == "%d/profile" % with_id
    status, d = api(srv, "requests/%d" % without_id)
    assert status == 200 and d["request"]["profile"] is None
    status, d = api(srv, "requests/%d/profile" % without_id)
    assert status == 404, d

    # The request's page: its flame graph and top functions.
    status, _, page = fetch(srv, "/profiler/requests/%d" % with_id)
    assert status == 200
    svg = flame(page, "request-flame")
    fr = frames(svg)
    title, width = fr[BURN]
    assert "total: 700.0 ms, 700 samples (70.00%)" in title, title
    assert "self: 700.0 ms, 700 samples (70.00%)" in title, title
    assert abs(width / fr["all"][1] - 0.7) < 0.01
    assert "waiting 100.0% of it" in fr[WAIT][0]
    # Escaped once, never as markup.
    assert HOSTILE in fr and "<script>alert" not in page
    top_row = re.search(r'<table class="top" id="request-top">.*?<tbody><tr>'
                        r'<td>([^<]*)</td>', page, re.S)
    assert top_row and top_row.group(1) == BURN
    assert 'href="/profiler/api/v1/requests/%d/profile?format=folded"' \
        % with_id in page
    status, _, page = fetch(srv, "/profiler/requests/%d" % without_id)
    assert status == 200 and "request-flame" not in page

    # Bad input: a 400 that names the parameter; unknown ids: 404.
    base = "/profiler/api/v1/requests/%d/profile" % with_id
    for query, param in (("?format=svg", "format"),
                         ("?format=json&format=json", "format"),
                         ("?format=csv", "format"),
                         ("?from=-1h", "from"),
                         ("?limit=5", "limit"),
                         ("?nonsense=1", "nonsense")):
        status, _, body = fetch(srv, base + query)
        assert status == 400, (query, body)
        assert json.loads(body)["error"]["parameter"] == param, (query, body)
    status, _, body = fetch(srv, "/profiler/api/v1/requests/x1/profile")
    assert status == 400 and json.loads(body)["error"]["parameter"] == "id"
    for rid in (with_id + 1000, 1, 2 ** 63 - 1):
        status, _, body = fetch(srv, "/profiler/api/v1/requests/%d/profile"
                                % rid)
        assert status == 404, (rid, body)
    return with_id


def fetch_bytes(srv, path):
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(srv.url(path), timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def go_pprof_top(raw):
    assert GO, "go tool pprof is needed (golang-go: scripts/deps.sh)"
    d = tempfile.mkdtemp(prefix="pprof-")
    try:
        path = os.path.join(d, "p.pb.gz")
        with open(path, "wb") as f:
            f.write(raw)
        out = subprocess.run([GO, "tool", "pprof", "-top", path],
                             capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, HOME=d, GOCACHE=d,
                                      PPROF_TMPDIR=d))
        assert out.returncode == 0, out.stderr
        return out.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)


def retention_deletes_profile(srv, rid):
    """An old request goes with its profile."""
    old = int((time.time() - 3 * 86400) * 1e6)
    srv.db_exec("UPDATE profiler_requests SET start_us = %d WHERE id = %d"
                % (old, rid))
    wait_for(lambda: srv.db.scalar("SELECT count(*) FROM profiler_profiles")
             == 0, timeout=20)
    assert srv.db.scalar("SELECT count(*) FROM profiler_requests WHERE "
                         "id = %d" % rid) == 0
    status, d = api(srv, "requests/%d/profile" % rid)
    assert status == 404, d


RETENTION = "ProfilerRetention 1d\nProfilerRetentionInterval 1\n"


def test_profile_api_sqlite():
    srv = make_server(SqliteDb, name="profile-api", extra=REPORT + RETENTION)

    def db_exec(sql):
        con = sqlite3.connect(srv.db.path, timeout=30)
        with con:
            con.execute(sql)
        con.close()
    srv.db_exec = db_exec
    try:
        rid = check_profile_api(srv)
        retention_deletes_profile(srv, rid)
        srv.graceful_stop()
        assert not srv.log_problems()
    finally:
        srv.cleanup()


def test_migration_4_to_5_keeps_rows_sqlite():
    """A store at schema 4 with rows (as the previous release left it)
    gains the profiles table, its rows untouched."""
    first = make_server(SqliteDb, name="profile-v4", extra=REPORT)
    path = first.db.path
    try:
        status, _, _ = fetch(first, "/index.html")
        assert status == 200
        wait_for(lambda: first.db.scalar("SELECT count(*) FROM "
                                         "profiler_requests") == 1)
        first.graceful_stop()
        con = sqlite3.connect(path, timeout=30)
        with con:
            con.execute("DROP TABLE profiler_profiles")
            con.execute("UPDATE profiler_schema SET version = 4")
        con.close()
        keep = tempfile.mkdtemp(prefix="profile-v4-db-")
        shutil.copy(path, os.path.join(keep, "profiler.db"))
    finally:
        first.cleanup()

    class Existing(SqliteDb):
        def __init__(self, root):
            self.dir = keep
            os.chmod(keep, 0o777)
            self.path = os.path.join(keep, "profiler.db")
            os.chmod(self.path, 0o666)
    srv = make_server(Existing, name="profile-v5", extra=REPORT)
    try:
        assert srv.db.scalar("SELECT version FROM profiler_schema") == 4
        status, _, _ = fetch(srv, "/index.html")
        wait_for(lambda: srv.db.scalar("SELECT count(*) FROM "
                                       "profiler_requests") == 2)
        assert srv.db.scalar("SELECT version FROM profiler_schema") == 6
        assert srv.db.scalar("SELECT count(*) FROM profiler_profiles") == 0
        rid = srv.db.scalar("SELECT min(id) FROM profiler_requests")
        store_profile(srv.db, rid)
        status, d = api(srv, "requests/%d/profile" % rid, format="json")
        assert status == 200 and d["top"][0]["name"] == BURN
        srv.graceful_stop()
        assert not srv.log_problems()
    finally:
        srv.cleanup()
        shutil.rmtree(keep, ignore_errors=True)


@pytest.fixture(scope="module")
def pg():
    assert pg_available() is None, pg_available()
    with PgServer(name="profile") as server:
        yield server


def test_profile_api_pgsql(pg):
    pg.query("DROP TABLE IF EXISTS profiler_requests, profiler_spans, "
             "profiler_rollups, profiler_rollups_hour, profiler_writers, "
             "profiler_schema, profiler_profiles")
    srv = make_server(lambda root: PgDb(pg), name="profile-api-pg",
                      extra=REPORT + RETENTION)
    srv.db_exec = lambda sql: pg.query(sql)
    try:
        rid = check_profile_api(srv)
        retention_deletes_profile(srv, rid)
        srv.graceful_stop()
        assert not srv.log_problems()
    finally:
        srv.cleanup()


def test_cpu_page_form_and_bad_input_without_a_profile_handler():
    """The CPU page without a profiler-profile handler in the
    configuration: the form, then a 404 page that says what to add; bad
    parameters are refused naming the parameter, before anything runs."""
    srv = make_server(SqliteDb, name="profile-cpu-none", extra=REPORT)
    try:
        status, _, page = fetch(srv, "/profiler/cpu")
        assert status == 200
        assert 'id="cpu-form"' in page and 'name="seconds"' in page
        assert 'href="/profiler/cpu">CPU</a>' in page
        assert "cpu-flame" not in page and "cpu-error" not in page
        status, _, page = fetch(srv, "/profiler/cpu?seconds=1")
        assert status == 404
        assert re.search(r'id="cpu-error">There is no profiler-profile '
                         r'handler', page), page[-2000:]
        for query, param in (("seconds=0", "seconds"),
                             ("seconds=301", "seconds"),
                             ("seconds=x", "seconds"),
                             ("seconds=1&seconds=2", "seconds"),
                             ("seconds=1&hz=1001", "hz"),
                             ("seconds=1&hz=0", "hz"),
                             ("seconds=1&route=%2F", "route"),
                             ("seconds=1&format=json", "format")):
            status, _, page = fetch(srv, "/profiler/cpu?" + query)
            assert status == 400, (query, page[-1000:])
            assert "The parameter %s " % param in page, (query, page[-1000:])
        srv.graceful_stop()
        assert not srv.log_problems()
    finally:
        srv.cleanup()
