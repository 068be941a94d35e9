"""The measurement store against a real SQLite file written by real apache2
children: every request stored on every MPM, spans, graceful restarts,
outages, sampling, routes, rollups, retention, migrations and config
errors. (PostgreSQL: test_store_pg.py.)"""
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from harness import MPMS, Httpd
from store import (OUTAGE_LOG, PHASES, SqliteDb, ab, build_test_module,
                   count_rows, make_server, wait_for)


@pytest.fixture(scope="session")
def test_module(built_module):
    return build_test_module()


def get(srv, path, host=None):
    req = urllib.request.Request(srv.url(path))
    if host:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def finish(srv, allowed=()):
    srv.graceful_stop()
    problems = srv.log_problems(allowed)
    assert not problems, "\n".join(problems)


def consumer_records(srv):
    """uri -> spans the consumer module saw in its record hook."""
    out = {}
    pat = re.compile(r"proftest record (\S+): body=\S+ dropped=\d+ spans=(.*)$")
    for line in srv.read_error_log().splitlines():
        m = pat.search(line)
        if m:
            spans = []
            for item in m.group(2).split(";"):
                if item:
                    name, idx, parent, metric, desc, dur = item.split("/")
                    spans.append((int(idx), name, int(parent), int(metric)))
            out[m.group(1)] = sorted(spans)
    return out


@pytest.mark.parametrize("mpm", MPMS)
def test_every_request_is_stored(mpm, test_module):
    srv = make_server(SqliteDb, mpm=mpm, name="all-" + mpm,
                      test_module=test_module, extra="LogLevel profiler_test:notice")
    try:
        done, failed, non2xx = ab(srv, "/index.html", 3000, c=20)
        assert (done, failed, non2xx) == (3000, 0, 0)
        for i in range(5):
            assert get(srv, "/t/span%d?threads=2&per=3" % i) == 200
        finish(srv)
        db = srv.db
        assert count_rows(db, "path = '/index.html'") == 3000
        assert count_rows(db) == 3005
        # The rows hold what the requests were.
        row = db.query("SELECT method, route, status, protocol, bytes_sent, "
                       "weight, total_us, vhost FROM profiler_requests WHERE "
                       "path = '/index.html' LIMIT 1")[0]
        assert row[:6] == ("GET", "/index.html", 200, "HTTP/1.0", 6, 1)
        assert row[6] > 0 and row[7] == "127.0.0.1"
        # Phases add up to at most the total.
        bad = db.scalar("SELECT count(*) FROM profiler_requests WHERE "
                        + " + ".join(p + "_us" for p in PHASES)
                        + " > total_us + 15")
        assert bad == 0
        # Span rows are what the consumer module added, request by request.
        seen = consumer_records(srv)
        for i in range(5):
            uri = "/t/span%d" % i
            rid = db.scalar("SELECT id FROM profiler_requests WHERE path = ?", (uri,))
            spans = db.query("SELECT seq, name, coalesce(parent, -1), metric "
                             "FROM profiler_spans WHERE request_id = ? ORDER BY seq",
                             (rid,))
            assert spans and [tuple(s) for s in spans] == seen[uri], uri
        # Ids are unique across the children that wrote them.
        assert db.scalar("SELECT count(DISTINCT id) FROM profiler_requests") == 3005
    finally:
        srv.cleanup()


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_graceful_restart_loses_nothing(mpm):
    srv = make_server(SqliteDb, mpm=mpm, name="restart-" + mpm)
    try:
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=ab(srv, "/index.html", 4000, c=10, keepalive=False)))
        t.start()
        time.sleep(0.5)
        srv.graceful_restart()
        time.sleep(1.0)
        srv.graceful_restart()
        t.join()
        done, failed, non2xx = result["r"]
        assert (failed, non2xx) == (0, 0) and done == 4000
        finish(srv)
        assert count_rows(srv.db) == 4000
    finally:
        srv.cleanup()


def test_locked_database_is_an_outage_requests_never_notice(tmp_path):
    srv = make_server(SqliteDb, name="locked")
    try:
        assert get(srv, "/index.html") == 200
        wait_for(lambda: count_rows(srv.db) == 1)
        # Another process holds the write lock for 8 s.
        lock = subprocess.Popen(["sqlite3", srv.db.path],
                                stdin=subprocess.PIPE, text=True)
        lock.stdin.write("PRAGMA busy_timeout=10000;\nBEGIN EXCLUSIVE;\n"
                         "INSERT INTO profiler_schema SELECT * FROM "
                         "profiler_schema WHERE 0;\n")
        lock.stdin.flush()
        time.sleep(0.5)
        t0 = time.time()
        codes = [get(srv, "/index.html") for _ in range(50)]
        assert codes == [200] * 50
        # Requests were not slowed by the writer's waiting.
        assert time.time() - t0 < 5
        wait_for(lambda: "PROF00006" in srv.read_error_log(), timeout=30)
        lock.stdin.write("COMMIT;\n.quit\n")
        lock.stdin.close()
        lock.wait(10)
        before = count_rows(srv.db)
        wait_for(lambda: (get(srv, "/index.html") == 200
                          and count_rows(srv.db) > before), timeout=30)
        wait_for(lambda: "PROF00007" in srv.read_error_log(), timeout=30)
        log = srv.read_error_log()
        assert log.count("PROF00006") == 1 and log.count("PROF00007") == 1
        finish(srv, OUTAGE_LOG)
    finally:
        srv.cleanup()


def test_an_idle_child_logs_the_end_of_an_outage():
    # A child that met an outage and gets no request afterwards (under
    # load another child may take them all) still finds the database back,
    # says so, and writes what the outage cost to its counters.
    srv = make_server(SqliteDb, name="idle-outage")
    try:
        assert get(srv, "/index.html") == 200
        wait_for(lambda: count_rows(srv.db) == 1)
        lock = subprocess.Popen(["sqlite3", srv.db.path],
                                stdin=subprocess.PIPE, text=True)
        lock.stdin.write(".timeout 10000\nBEGIN EXCLUSIVE;\n"
                         "INSERT INTO profiler_schema SELECT * FROM "
                         "profiler_schema WHERE 0;\n")
        lock.stdin.flush()
        time.sleep(0.5)
        assert [get(srv, "/index.html") for _ in range(3)] == [200] * 3
        wait_for(lambda: "PROF00006" in srv.read_error_log(), timeout=30)
        lock.stdin.write("COMMIT;\n.quit\n")
        lock.stdin.close()
        lock.wait(10)
        # No request from here on.
        wait_for(lambda: "PROF00007" in srv.read_error_log(), timeout=15)
        assert "3 rows were lost to the outage" in srv.read_error_log()
        assert srv.db.scalar("SELECT sum(rows_failed) FROM profiler_writers") == 3
        assert count_rows(srv.db) == 1
        finish(srv, OUTAGE_LOG)
    finally:
        srv.cleanup()


def test_unwritable_file_is_an_outage_then_writing_resumes():
    # DBDPersist Off: a connection per batch, as the README advises for
    # SQLite, so a file that becomes writable again is written again.
    srv = make_server(SqliteDb, name="readonly", persist="Off")
    try:
        assert get(srv, "/index.html") == 200
        wait_for(lambda: count_rows(srv.db) == 1)
        files = [os.path.join(srv.db.dir, f) for f in os.listdir(srv.db.dir)]
        for f in files + [srv.db.dir]:
            os.chmod(f, 0o555 if f == srv.db.dir else 0o444)
        os.system("chown root:root %s %s" % (srv.db.dir, " ".join(files)))
        codes = [get(srv, "/index.html?ro=%d" % i) for i in range(100)]
        assert codes == [200] * 100
        wait_for(lambda: "PROF00006" in srv.read_error_log(), timeout=30)
        os.chmod(srv.db.dir, 0o777)
        for f in files:
            os.chmod(f, 0o666)
        t_back = time.time()
        wait_for(lambda: (get(srv, "/index.html?back=1") == 200
                          and count_rows(srv.db, "path = '/index.html' AND "
                                         "start_us > %d" % (t_back * 1e6)) > 0),
                 timeout=30)
        log = srv.read_error_log()
        assert log.count("PROF00006") == 1
        wait_for(lambda: "PROF00007" in srv.read_error_log(), timeout=15)
        finish(srv, OUTAGE_LOG)
        dropped = srv.db.scalar("SELECT sum(rows_failed) FROM profiler_writers")
        assert dropped > 0
    finally:
        srv.cleanup()


def test_sampling_keeps_counts_unbiased_and_slow_and_5xx(test_module):
    srv = make_server(SqliteDb, name="sample", test_module=test_module,
                      extra="ProfilerSample 0.3\n<Location /t>\n"
                            "ProfilerSampleSlow 50\n</Location>")
    try:
        n = 4000
        assert ab(srv, "/index.html", n, c=10)[:2] == (n, 0)
        for _ in range(20):
            assert get(srv, "/t/slow?sleep_ms=60") == 200
            assert get(srv, "/t/err?status=500") == 500
        finish(srv)
        db = srv.db
        rows = count_rows(db, "path = '/index.html'")
        weight = db.scalar("SELECT sum(weight) FROM profiler_requests "
                           "WHERE path = '/index.html'")
        # Binomial(4000, 0.3): mean 1200, sd 29; 5 sd either way.
        assert 1055 < rows < 1345, rows
        # Weights are 3 or 4 with mean 1/0.3; their sum estimates n.
        assert set(r[0] for r in db.query(
            "SELECT DISTINCT weight FROM profiler_requests WHERE path = "
            "'/index.html'")) <= {3, 4}
        assert abs(weight - n) < 0.1 * n, weight
        # Slow and 5xx requests are all kept, with weight 1.
        assert db.query("SELECT count(*), sum(weight) FROM profiler_requests "
                        "WHERE path = '/t/slow'")[0] == (20, 20)
        assert db.query("SELECT count(*), sum(weight) FROM profiler_requests "
                        "WHERE path = '/t/err' AND status = 500")[0] == (20, 20)
    finally:
        srv.cleanup()


def test_routes_ignore_query_and_report(test_module):
    srv = make_server(SqliteDb, name="routes", test_module=test_module, extra=r"""
ProfilerIgnore ^/health
ProfilerRoute ^/users/([^/]+)/posts$ /users/$1/posts
<Location /q>
    ProfilerStoreQuery On color
</Location>
<Location /profiler>
    SetHandler profiler-report
    Require ip 127.0.0.1
</Location>
""")
    try:
        paths = ["/item/123", "/item/456", "/item/5f3a9c1e2b",
                 "/item/0b0c8f0e-1d2a-4c3b-9e8f-0123456789ab/edit",
                 "/users/alice/posts", "/users/bob/posts", "/health/live",
                 "/healthz", "/x?password=hunter2", "/q/x?password=hunter2&"
                 "color=red&size=2", "/profiler/", "/nothing/123"]
        # Folding names the routes of pages that exist: a 404 that no
        # ProfilerRoute names is "(not found)" (issue 11).
        for p in paths[:6]:
            srv.write(p.lstrip("/"), "x\n")
        for p in paths:
            get(srv, p)
        finish(srv)
        rows = dict(srv.db.query("SELECT path, route FROM profiler_requests"))
        assert rows["/item/123"] == rows["/item/456"] == "/item/:id"
        assert rows["/item/5f3a9c1e2b"] == "/item/:id"
        assert rows["/item/0b0c8f0e-1d2a-4c3b-9e8f-0123456789ab/edit"] == "/item/:id/edit"
        assert rows["/users/alice/posts"] == "/users/alice/posts"
        assert rows["/nothing/123"] == "(not found)"
        assert "/health/live" not in rows and "/healthz" not in rows
        assert "/profiler/" not in rows
        queries = dict(srv.db.query("SELECT path, query FROM profiler_requests "
                                    "WHERE path IN ('/x', '/q/x')"))
        assert queries["/x"] is None          # nothing by default
        assert queries["/q/x"] == "password=REDACTED&color=REDACTED&size=2"
        assert srv.db.scalar("SELECT count(*) FROM profiler_requests WHERE "
                             "query LIKE '%hunter2%' OR path LIKE '%hunter2%'") == 0
    finally:
        srv.cleanup()


def test_routes_per_vhost():
    srv = make_server(SqliteDb, name="vroutes", extra="""
<VirtualHost 127.0.0.1:@PORT@>
    ServerName a.test
    ProfilerRoute ^/a/ /a/*
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName b.test
</VirtualHost>
""")
    try:
        srv.write("a/x", "x\n")    # b.test folds only pages that exist
        get(srv, "/a/x", host="a.test")
        get(srv, "/a/x", host="b.test")
        finish(srv)
        assert dict(srv.db.query("SELECT vhost, route FROM profiler_requests")) == {
            "a.test": "/a/*", "b.test": "/a/x"}
    finally:
        srv.cleanup()


def test_rollups_count_every_request_whatever_rows_are_kept(test_module):
    # The rollups come from the live aggregates (issue 11): they count the
    # requests served, not the weights of the rows kept.
    srv = make_server(SqliteDb, name="rollups", test_module=test_module,
                      extra="ProfilerSample 0.5")
    try:
        ab(srv, "/index.html", 1500, c=10)
        for i in range(30):
            get(srv, "/item/%d" % i)
            get(srv, "/t/e?status=503")
        finish(srv)
        db = srv.db
        expected = [("(not found)", "GET", 4, 30, 0),
                    ("/index.html", "GET", 2, 1500, 0),
                    ("/t/e", "GET", 5, 30, 0)]
        for table in ("profiler_rollups", "profiler_rollups_hour"):
            assert db.query("SELECT route, method, status_class, sum(count), "
                            "sum(samples) FROM %s GROUP BY 1, 2, 3 "
                            "ORDER BY 1, 2, 3" % table) == expected, table
            # The histogram holds the count too.
            for count, hist in db.query("SELECT count, hist FROM " + table):
                assert sum(int(x.split(":")[1])
                           for x in hist.split(",")) == count
        # The raw rows are a sample: 5xx ones all kept with weight 1, the
        # others with weight 2 (1/ProfilerSample).
        assert db.query("SELECT count(*), sum(weight) FROM profiler_requests "
                        "WHERE status = 503") == [(30, 30)]
        assert db.query("SELECT DISTINCT weight FROM profiler_requests "
                        "WHERE status < 500") == [(2,)]
        assert count_rows(db, "status < 500") < 1530
    finally:
        srv.cleanup()


def test_retention_by_age_and_by_count():
    srv = make_server(SqliteDb, name="retention", extra="""
ProfilerRetention 1d
ProfilerRollupRetention 2d
ProfilerRetentionRows 50
ProfilerRetentionInterval 1
""")
    try:
        get(srv, "/index.html")
        wait_for(lambda: count_rows(srv.db) == 1)
        db = srv.db
        # The rollups come from the live aggregates, every few seconds.
        wait_for(lambda: db.scalar("SELECT count(*) FROM profiler_rollups"))
        wait_for(lambda: db.scalar("SELECT count(*) FROM profiler_rollups_hour"))
        old = int((time.time() - 3 * 86400) * 1e6)
        cols = ("id, server, vhost, start_us, method, route, path, status, "
                "protocol, bytes_sent, total_us, ttfb_us, "
                + ", ".join(p + "_us" for p in PHASES) + ", weight, spans_dropped")
        vals = lambda i, t: (i, "old", "v", t, "GET", "/old", "/old", 200,
                             "HTTP/1.1", 0, 10, 5) + (0,) * 14 + (1, 0)
        import sqlite3
        con = sqlite3.connect(db.path, timeout=30)
        with con:
            for i in range(10):
                con.execute("INSERT INTO profiler_requests (%s) VALUES (%s)"
                            % (cols, ",".join("?" * (12 + 14 + 2))), vals(i + 1, old))
                con.execute("INSERT INTO profiler_spans VALUES (?, 0, 's', NULL, "
                            "NULL, 0, 1, 0)", (i + 1,))
            con.execute("INSERT INTO profiler_rollups SELECT minute_us - 3 * "
                        "86400000000, server, vhost, '/old', method, status_class, "
                        "count, samples, sum_us, min_us, max_us, ttfb_sum_us, "
                        "bytes_sum, read_sum_us, postread_sum_us, quick_sum_us, "
                        "translate_sum_us, storage_sum_us, headers_sum_us, "
                        "access_sum_us, authn_sum_us, authz_sum_us, type_sum_us, "
                        "fixups_sum_us, handler_sum_us, body_sum_us, log_sum_us, "
                        "hist FROM profiler_rollups")
            con.execute("INSERT INTO profiler_rollups_hour SELECT hour_us - 3 * "
                        "86400000000, server, vhost, '/old', method, status_class, "
                        "count, samples, sum_us, min_us, max_us, ttfb_sum_us, "
                        "bytes_sum, read_sum_us, postread_sum_us, quick_sum_us, "
                        "translate_sum_us, storage_sum_us, headers_sum_us, "
                        "access_sum_us, authn_sum_us, authz_sum_us, type_sum_us, "
                        "fixups_sum_us, handler_sum_us, body_sum_us, log_sum_us, "
                        "hist FROM profiler_rollups_hour")
        con.close()
        # By age: the old requests, their spans and the old rollups go.
        wait_for(lambda: count_rows(db, "route = '/old'") == 0, timeout=20)
        assert db.scalar("SELECT count(*) FROM profiler_spans WHERE request_id <= 10") == 0
        wait_for(lambda: db.scalar("SELECT count(*) FROM profiler_rollups "
                                   "WHERE route = '/old'") == 0, timeout=20)
        wait_for(lambda: db.scalar("SELECT count(*) FROM profiler_rollups_hour "
                                   "WHERE route = '/old'") == 0, timeout=20)
        assert db.scalar("SELECT count(*) FROM profiler_rollups") >= 1
        assert db.scalar("SELECT count(*) FROM profiler_rollups_hour") >= 1
        # By count: never more than 50 for long.
        ab(srv, "/index.html", 300, c=5)
        wait_for(lambda: count_rows(db) <= 50, timeout=20)
        newest = db.scalar("SELECT max(start_us) FROM profiler_requests")
        assert newest > old
        finish(srv)
        # Rollups are kept: they still count every request.
        assert db.scalar("SELECT sum(count) FROM profiler_rollups") == 301
        assert db.scalar("SELECT sum(count) FROM profiler_rollups_hour") == 301
    finally:
        srv.cleanup()


V1_SCHEMA = """
CREATE TABLE profiler_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, hist_layout INTEGER NOT NULL, updated_us BIGINT NOT NULL);
CREATE TABLE profiler_writers (id INTEGER PRIMARY KEY AUTOINCREMENT, server TEXT NOT NULL, pid INTEGER NOT NULL, nonce BIGINT NOT NULL, started_us BIGINT NOT NULL, last_write_us BIGINT NOT NULL, rows_written BIGINT NOT NULL, rows_dropped BIGINT NOT NULL, rows_failed BIGINT NOT NULL);
CREATE TABLE profiler_requests (id BIGINT PRIMARY KEY, server TEXT NOT NULL, vhost TEXT NOT NULL, start_us BIGINT NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL, path TEXT NOT NULL, query TEXT, status INTEGER NOT NULL, protocol TEXT NOT NULL, bytes_sent BIGINT NOT NULL, total_us BIGINT NOT NULL, ttfb_us BIGINT NOT NULL, read_us BIGINT NOT NULL, postread_us BIGINT NOT NULL, quick_us BIGINT NOT NULL, translate_us BIGINT NOT NULL, storage_us BIGINT NOT NULL, headers_us BIGINT NOT NULL, access_us BIGINT NOT NULL, authn_us BIGINT NOT NULL, authz_us BIGINT NOT NULL, type_us BIGINT NOT NULL, fixups_us BIGINT NOT NULL, handler_us BIGINT NOT NULL, body_us BIGINT NOT NULL, log_us BIGINT NOT NULL, weight INTEGER NOT NULL, spans_dropped INTEGER NOT NULL);
CREATE INDEX profiler_requests_start ON profiler_requests (start_us);
CREATE INDEX profiler_requests_route ON profiler_requests (route, start_us);
CREATE INDEX profiler_requests_total ON profiler_requests (total_us);
CREATE TABLE profiler_spans (request_id BIGINT NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, description TEXT, parent INTEGER, start_us BIGINT NOT NULL, dur_us BIGINT NOT NULL, metric INTEGER NOT NULL, PRIMARY KEY (request_id, seq));
INSERT INTO profiler_schema VALUES (1, 1, 1, 0);
INSERT INTO profiler_requests VALUES (7, 'old', 'v', 1, 'GET', '/kept', '/kept', NULL, 200, 'HTTP/1.1', 0, 10, 5, 0,0,0,0,0,0,0,0,0,0,0,0,0,0, 1, 0);
"""


def test_schema_version_1_is_migrated():
    srv = make_server(SqliteDb, name="migrate", start=False,
                      extra="ProfilerRetention Off\nProfilerRollupRetention Off\n"
                            "ProfilerRetentionRows Off\nLogLevel profiler:info")
    try:
        subprocess.run(["sqlite3", srv.db.path], input=V1_SCHEMA, text=True, check=True)
        os.chmod(srv.db.path, 0o666)
        srv.start()
        get(srv, "/index.html")
        finish(srv)
        db = srv.db
        assert db.query("SELECT version, hist_layout FROM profiler_schema") == [(6, 1)]
        # Schema 5: the profiles table, empty (issue 12); schema 6: the
        # modules table, empty without ProfilerModuleTiming (issue 14).
        assert db.scalar("SELECT count(*) FROM profiler_profiles") == 0
        assert db.scalar("SELECT count(*) FROM profiler_modules") == 0
        assert count_rows(db, "route = '/kept'") == 1
        assert count_rows(db, "path = '/index.html'") == 1
        # Schema 4: rows from before have no phase starts; new ones do.
        assert count_rows(db, "route = '/kept' AND phase_starts IS NULL") == 1
        assert count_rows(db, "path = '/index.html' AND phase_starts LIKE '0,%'") == 1
        assert db.scalar("SELECT count FROM profiler_rollups") == 1
        assert db.scalar("SELECT count FROM profiler_rollups_hour") == 1
        assert "tables profiler_* migrated at schema version 6" in srv.read_error_log()
    finally:
        srv.cleanup()


def test_newer_schema_is_left_alone():
    srv = make_server(SqliteDb, name="newer", start=False,
                      extra="ProfilerRetention Off\nProfilerRollupRetention Off\n"
                            "ProfilerRetentionRows Off")
    try:
        subprocess.run(["sqlite3", srv.db.path], check=True, text=True,
                       input=V1_SCHEMA.replace("VALUES (1, 1, 1, 0)", "VALUES (1, 99, 1, 0)"))
        os.chmod(srv.db.path, 0o666)
        srv.start()
        assert [get(srv, "/index.html") for _ in range(20)] == [200] * 20
        wait_for(lambda: "PROF00006" in srv.read_error_log(), timeout=15)
        assert "schema version 99, newer than" in srv.read_error_log()
        finish(srv, OUTAGE_LOG)
        assert srv.db.query("SELECT version FROM profiler_schema") == [(99,)]
        assert count_rows(srv.db) == 1
        assert srv.read_error_log().count("PROF00006") == 1
    finally:
        srv.cleanup()


TABLE_PREFIX = "ProfilerStoreTablePrefix web1_\nProfilerServerName web-1"


def test_table_prefix_and_server_name():
    srv = make_server(SqliteDb, name="prefix", extra=TABLE_PREFIX)
    try:
        get(srv, "/index.html")
        finish(srv)
        assert srv.db.query("SELECT server, path FROM web1_requests") == [
            ("web-1", "/index.html")]
        assert srv.db.query("SELECT server, count FROM web1_rollups") == [("web-1", 1)]
    finally:
        srv.cleanup()


@pytest.mark.parametrize("extra,message", [
    ("ProfilerSample 2", "ProfilerSample: '2' is not valid"),
    ("ProfilerSample nan", "ProfilerSample: 'nan' is not valid"),
    ("ProfilerSampleSlow -5", "ProfilerSampleSlow: '-5' is not valid"),
    ("ProfilerRetention 7 days", "ProfilerRetention takes one argument"),
    ("ProfilerRetention 7y", "ProfilerRetention: '7y' is not valid"),
    ("ProfilerRetentionRows many", "ProfilerRetentionRows: 'many' is not valid"),
    ("ProfilerStoreTablePrefix 1x", "ProfilerStoreTablePrefix: '1x' is not valid"),
    ("ProfilerRoute ^/a/(x) /a/$2", "uses $2, but '^/a/(x)' has only 1 group"),
    ("ProfilerIgnore (", "ProfilerIgnore: '(' is not a valid regular expression"),
    ("ProfilerStoreBatch 0", "ProfilerStoreBatch: use the most rows"),
    ("ProfilerStoreQuery Off color", "ProfilerStoreQuery: use Off, or On"),
    ("<VirtualHost *:80>\nProfilerServerName x\n</VirtualHost>",
     "ProfilerServerName cannot occur within <VirtualHost> section"),
    ("<Location /x>\nProfilerRoute ^/ /\n</Location>",
     "ProfilerRoute not allowed in <Location> context"),
])
def test_bad_directives_fail_at_config_time(extra, message):
    srv = make_server(SqliteDb, name="badconf", extra=extra, start=False)
    try:
        out = srv.configtest()
        assert out.returncode != 0
        assert message in out.stdout + out.stderr, out.stdout + out.stderr
    finally:
        srv.cleanup()


@pytest.mark.parametrize("body,message", [
    ("Profiler On\nProfilerStore On", "ProfilerStore On needs mod_dbd"),
    ("LoadModule dbd_module /usr/lib/apache2/modules/mod_dbd.so\n"
     "Profiler On\nProfilerStore On", "needs DBDriver sqlite3 or DBDriver pgsql"),
    ("LoadModule dbd_module /usr/lib/apache2/modules/mod_dbd.so\n"
     "DBDriver sqlite3\nDBDParams /tmp/x.db\nProfiler On\nProfilerStore On\n"
     "ProfilerRetention 30d\nProfilerRollupRetention 7d",
     "ProfilerRollupRetention must keep rollups at least as long"),
])
def test_store_without_a_usable_database_refuses_to_start(body, message):
    srv = Httpd(body, name="nodbd")
    try:
        with pytest.raises(RuntimeError) as e:
            srv.start()
        assert message in str(e.value)
    finally:
        srv.cleanup()
