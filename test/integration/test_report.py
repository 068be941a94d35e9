"""The report handler against a real SQLite store filled by real requests:
the JSON API checked against what the test sent, filters, sort, keyset
paging, CSV, bad parameters and injection attempts, escaping, security
headers, same-origin actions, the bearer token and the startup warning.
(PostgreSQL: test_report_pg.py; the browser: test_report_browser.py.)"""
import csv
import io
import json
import os
import re

import pytest

from harness import Httpd
from report import (CSP, SCRIPT_PATH, SCRIPT_ROUTE, TOTAL, TRAFFIC, api,
                    fetch, nearest_rank, report_server, send_traffic)
from store import SqliteDb, build_test_module, make_server, wait_for

REL_ERR = 0.0433        # PROF_HIST_MAX_REL_ERR (src/prof_hist.h)


@pytest.fixture(scope="session")
def test_module(built_module):
    return build_test_module()


@pytest.fixture(scope="module")
def srv(test_module):
    s = report_server(SqliteDb, test_module, name="report")
    yield s
    s.graceful_stop()
    problems = s.log_problems()
    s.cleanup()
    assert not problems, "\n".join(problems)


def rows(srv, where="1=1", args=()):
    return srv.db.query("SELECT id, route, path, method, status, total_us, "
                        "start_us, ttfb_us, bytes_sent FROM profiler_requests "
                        "WHERE " + where, args)


# ---- summary ------------------------------------------------------------

def test_summary_counts_per_route(srv):
    status, d = api(srv, "summary")
    assert status == 200, d
    got = {r["route"]: r["count"] for r in d["rows"]}
    want = {route: sum(n for _, _, n in v) for route, v in TRAFFIC.items()}
    assert got == want
    assert d["source"] == "rollups"
    t = {r["route"]: r for r in d["rows"]}["/t"]
    assert t["errors"] == 6
    assert abs(t["error_rate"] - 6 / 11) < 1e-4
    # Shares of phases: fractions of the total time.
    for r in d["rows"]:
        assert set(r["phases"]) == {
            "read", "postread", "quick", "translate", "storage", "headers",
            "access", "authn", "authz", "type", "fixups", "handler", "body",
            "log"}
        assert all(0 <= v <= 1 for v in r["phases"].values())


def test_summary_grouped(srv):
    status, d = api(srv, "summary", group="method,status")
    assert status == 200, d
    got = {(r["route"], r["method"], r["status"]): r["count"]
           for r in d["rows"]}
    want = {}
    for route, v in TRAFFIC.items():
        for method, cls, n in v:
            want[(route, method, "%dxx" % cls)] = \
                want.get((route, method, "%dxx" % cls), 0) + n
    assert got == want


def test_summary_filters_and_sort(srv):
    status, d = api(srv, "summary", status="5xx")
    assert [(r["route"], r["count"]) for r in d["rows"]] == [("/t", 6)]
    status, d = api(srv, "summary", method="POST")
    assert [(r["route"], r["count"]) for r in d["rows"]] == \
        [("/index.html", 5)]
    status, d = api(srv, "summary", sort="count", order="asc")
    counts = [r["count"] for r in d["rows"]]
    assert counts == sorted(counts)
    status, d = api(srv, "summary", sort="count", order="desc", limit=2)
    assert [r["count"] for r in d["rows"]] == [45, 25]
    status, d = api(srv, "summary", sort="route", order="asc")
    assert [r["route"] for r in d["rows"]] == sorted(TRAFFIC)


def test_summary_percentiles_within_the_stated_error(srv):
    status, d = api(srv, "summary")
    for r in d["rows"]:
        totals = [row[5] for row in rows(srv, "route = ?", (r["route"],))]
        assert len(totals) == r["count"]
        for p in (50, 95, 99):
            exact = nearest_rank(totals, p)
            est = float(r["p%d_ms" % p]) * 1000
            assert abs(est - exact) <= REL_ERR * exact + 1.0, \
                (r["route"], p, est, exact)
        assert float(r["max_ms"]) * 1000 == pytest.approx(max(totals), abs=1)


def test_timeseries_and_histogram_add_up(srv):
    status, d = api(srv, "timeseries", **{"from": "-1h"})
    assert status == 200, d
    assert d["bucket_s"] == 60
    assert sum(p["count"] for p in d["points"]) == TOTAL
    assert sum(p["errors"] for p in d["points"]) == 6
    ts = [p["t"] for p in d["points"]]
    assert ts == sorted(ts) and all(t % 60 == 0 for t in ts)
    status, d = api(srv, "histogram")
    assert status == 200, d
    assert d["count"] == TOTAL
    assert sum(b["count"] for b in d["buckets"]) == TOTAL
    status, d = api(srv, "histogram", route="/t")
    assert d["count"] == 11


# ---- requests -----------------------------------------------------------

@pytest.mark.parametrize("params,where,args", [
    ({}, "1=1", ()),
    ({"route": "/item/:id"}, "route = ?", ("/item/:id",)),
    ({"path": "/item/10"}, "substr(path, 1, 8) = ?", ("/item/10",)),
    ({"method": "POST"}, "method = ?", ("POST",)),
    ({"status": "404"}, "status = 404", ()),
    ({"status": "5xx"}, "status >= 500 AND status <= 599", ()),
    ({"min_ms": "20"}, "total_us >= 20000", ()),
    ({"max_ms": "5", "route": "/index.html"},
     "total_us <= 5000 AND route = ?", ("/index.html",)),
])
def test_request_filters(srv, params, where, args):
    status, d = api(srv, "requests", limit=1000, **params)
    assert status == 200, d
    want = {str(r[0]) for r in rows(srv, where, args)}
    assert {r["id"] for r in d["requests"]} == want
    assert want, "the filter should match something"


@pytest.mark.parametrize("sort,order,col", [
    ("total", "desc", 5), ("start", "asc", 6), ("ttfb", "desc", 7),
    ("status", "asc", 4), ("bytes", "desc", 8),
])
def test_request_paging_neither_skips_nor_repeats(srv, sort, order, col):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"sort": sort, "order": order, "limit": 7}
        if cursor:
            params["cursor"] = cursor
        status, d = api(srv, "requests", **params)
        assert status == 200, d
        seen += [r["id"] for r in d["requests"]]
        pages += 1
        cursor = d["next_cursor"]
        if not cursor:
            break
    assert pages == -(-TOTAL // 7)
    assert len(seen) == len(set(seen)) == TOTAL
    want = sorted(rows(srv), key=lambda r: (r[col], r[0]),
                  reverse=order == "desc")
    assert seen == [str(r[0]) for r in want]


def test_one_request_with_phases_and_spans(srv):
    rid = srv.db.scalar("SELECT id FROM profiler_requests WHERE route = '/t' "
                        "AND status = 200 LIMIT 1")
    status, d = api(srv, "requests/%d" % rid)
    assert status == 200, d
    q = d["request"]
    assert q["id"] == str(rid) and q["route"] == "/t"
    assert [p["name"] for p in q["phases"]][:3] == ["read", "postread",
                                                     "quick"]
    assert len(q["phases"]) == 14
    spans = srv.db.query("SELECT seq, name FROM profiler_spans WHERE "
                         "request_id = ? ORDER BY seq", (rid,))
    assert spans, "the test module adds spans"
    assert [(s["seq"], s["name"]) for s in q["spans"]] == \
        [(s[0], s[1]) for s in spans]
    assert api(srv, "requests/1")[0] == 404
    assert api(srv, "requests/abc")[0] == 400


def test_csv_exports(srv):
    status, headers, body = fetch(srv, "/profiler/api/v1/summary?format=csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(body)))
    assert table[0][:3] == ["route", "count", "total_ms"]
    assert {r[0]: int(r[1]) for r in table[1:]} == \
        {route: sum(n for _, _, n in v) for route, v in TRAFFIC.items()}
    status, headers, body = fetch(
        srv, "/profiler/api/v1/requests?format=csv&limit=1000")
    table = list(csv.reader(io.StringIO(body)))
    assert len(table) == TOTAL + 1
    assert SCRIPT_ROUTE in {r[5] for r in table[1:]}
    for what in ("timeseries", "histogram"):
        status, headers, body = fetch(
            srv, "/profiler/api/v1/%s?format=csv" % what)
        assert status == 200 and len(body.splitlines()) > 1


def test_health(srv):
    status, d = api(srv, "health")
    assert status == 200, d
    assert d["requests"] == TOTAL and d["rows_dropped"] == 0
    assert d["dialect"] == "sqlite3" and d["schema_version"] >= 2


# ---- bad input ------------------------------------------------------------

@pytest.mark.parametrize("endpoint,param,value", [
    ("summary", "from", "yesterday"),
    ("summary", "to", "2026-13-01"),
    ("summary", "from", "+1h"),
    ("summary", "status", "99"),
    ("summary", "status", "404"),       # rollups keep the class only
    ("summary", "limit", "0"),
    ("summary", "limit", "100000"),
    ("summary", "sort", "p42"),
    ("summary", "order", "up"),
    ("summary", "group", "path"),
    ("summary", "format", "xml"),
    ("summary", "path", "/a"),
    ("summary", "min_ms", "5"),
    ("summary", "cursor", "x"),
    ("requests", "sort", "evil"),
    ("requests", "cursor", "AAAA"),
    ("requests", "min_ms", "-1"),
    ("requests", "max_ms", "1e3"),
    ("requests", "method", "get"),
    ("requests", "path", "item"),
    ("requests", "nonsense", "1"),
    ("timeseries", "group", "method"),
    ("histogram", "sort", "total"),
])
def test_bad_parameters_get_400_naming_them(srv, endpoint, param, value):
    status, d = api(srv, endpoint, **{param: value})
    assert status == 400, d
    assert d["error"]["parameter"] == param
    assert param in d["error"]["message"]


def test_repeated_parameter_gets_400(srv):
    status, headers, body = fetch(srv, "/profiler/api/v1/summary?limit=1&limit=2")
    assert status == 400 and json.loads(body)["error"]["parameter"] == "limit"


INJECTIONS = ["' OR '1'='1", "1; DROP TABLE profiler_requests; --",
              "\" OR \"\"=\"", "x') UNION SELECT * FROM profiler_writers --",
              "1 OR 1=1", "%27%3B"]


@pytest.mark.parametrize("param", [
    "from", "to", "route", "path", "method", "status", "vhost", "server",
    "min_ms", "max_ms", "group", "sort", "order", "limit", "cursor",
    "format"])
def test_injection_attempts_get_400_and_change_nothing(srv, param):
    before = srv.db.scalar("SELECT count(*) FROM profiler_requests")
    for value in INJECTIONS:
        status, d = api(srv, "requests" if param != "group" else "summary",
                        **{param: value})
        assert status == 400, (param, value, d)
        assert d["error"]["parameter"] == param
    assert srv.db.scalar("SELECT count(*) FROM profiler_requests") == before
    assert srv.db.scalar("SELECT count(*) FROM profiler_writers") >= 1


# ---- escaping and headers ---------------------------------------------------

def strings(o):
    """Every string in a JSON document."""
    if isinstance(o, str):
        yield o
    elif isinstance(o, dict):
        for v in o.values():
            yield from strings(v)
    elif isinstance(o, list):
        for v in o:
            yield from strings(v)


def test_script_in_a_path_is_inert(srv):
    rid = srv.db.scalar("SELECT id FROM profiler_requests WHERE route = ?",
                        (SCRIPT_ROUTE,))
    pages = ["/profiler/", "/profiler/requests",
             "/profiler/requests?path=/%3Cscript",
             "/profiler/requests/%d" % rid]
    for page in pages:
        status, headers, body = fetch(srv, page)
        assert status == 200, (page, body[:300])
        assert "<script>alert" not in body, page
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;q.html" \
            in body, page
    for page in ["/profiler/api/v1/summary", "/profiler/api/v1/requests",
                 "/profiler/api/v1/requests/%d" % rid]:
        status, headers, body = fetch(srv, page)
        assert "<" not in body and "\\u003cscript\\u003e" in body, page
        assert SCRIPT_ROUTE in set(strings(json.loads(body))), page


@pytest.mark.parametrize("path", [
    "/profiler/", "/profiler/requests", "/profiler/api/v1/summary",
    "/profiler/api/v1/summary?limit=0", "/profiler/nothing",
    "/profiler/assets/app.css", "/profiler/assets/app.js",
    "/profiler/api/v1/requests/1"])
def test_security_headers_everywhere(srv, path):
    status, headers, body = fetch(srv, path)
    assert headers["Cache-Control"] == "no-store", path
    assert headers["X-Content-Type-Options"] == "nosniff", path
    assert headers["Content-Security-Policy"] == CSP, path


def test_pages_render_on_the_server(srv):
    status, headers, body = fetch(srv, "/profiler/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert body.count('<svg class="chart"') == 3
    assert "<script src=" in body and "<script>" not in body
    assert 'style="' not in body           # the CSP allows no inline style
    for route in TRAFFIC:
        assert ">%s<" % route.replace("&", "&amp;").replace("<", "&lt;") \
            .replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#39;") \
            in body
    status, headers, body = fetch(srv, "/profiler/requests?route=/t&limit=3")
    assert status == 200 and body.count('class="req"') == 3
    assert 'id="next"' in body
    status, headers, body = fetch(srv, "/profiler/?sort=bogus")
    assert status == 400 and "sort" in body


# ---- actions ----------------------------------------------------------------

def test_actions_are_post_only_and_same_origin(test_module):
    s = report_server(SqliteDb, test_module, name="report-actions",
                      extra="ProfilerRetention 1s\nProfilerRollupRetention 1s")
    try:
        origin = "http://127.0.0.1:%d" % s.port
        assert fetch(s, "/profiler/actions/clear")[0] == 405
        assert fetch(s, "/profiler/actions/clear", method="POST")[0] == 403
        assert fetch(s, "/profiler/actions/clear", method="POST",
                     headers={"Origin": "http://evil.example"})[0] == 403
        assert fetch(s, "/profiler/actions/clear", method="POST",
                     headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
        assert s.db.scalar("SELECT count(*) FROM profiler_requests") == TOTAL
        # Prune with a retention of 1 s: the rows are older than that.
        import time
        time.sleep(1.5)
        status, headers, body = fetch(s, "/profiler/actions/prune",
                                      method="POST",
                                      headers={"Origin": origin})
        assert status == 303 and headers["Location"] == "/profiler/"
        assert s.db.scalar("SELECT count(*) FROM profiler_requests") == 0
        send_traffic(s)
        wait_for(lambda: s.db.scalar(
            "SELECT count(*) FROM profiler_requests") == TOTAL)
        status, headers, body = fetch(s, "/profiler/actions/clear",
                                      method="POST",
                                      headers={"Sec-Fetch-Site": "same-origin"})
        assert status == 303
        for table in ("requests", "spans", "rollups"):
            assert s.db.scalar("SELECT count(*) FROM profiler_%s" % table) == 0
        assert fetch(s, "/profiler/actions/nothing", method="POST",
                     headers={"Origin": origin})[0] == 404
    finally:
        s.graceful_stop()
        problems = s.log_problems((r"PROF00019",))
        s.cleanup()
    assert not problems, "\n".join(problems)


# ---- access control -----------------------------------------------------------

TOKEN = "s3cr3t-token-for-the-report-0123"


def token_server(test_module, token_body, require):
    s = make_server(SqliteDb, name="report-token", test_module=test_module,
                    start=False, extra="""
<Location /profiler>
    SetHandler profiler-report
    ProfilerReportToken @ROOT@/token
    %s
</Location>
""" % require)
    path = os.path.join(s.root, "token")
    with open(path, "w") as f:
        f.write(token_body)
    os.chmod(path, 0o600)
    return s


def test_bearer_token(test_module):
    s = token_server(test_module, TOKEN + "\n", "Require profiler-token")
    s.start()
    try:
        url = "/profiler/api/v1/health"
        assert fetch(s, url)[0] in (401, 403)
        assert fetch(s, url, headers={
            "Authorization": "Bearer " + TOKEN[:-1] + "x"})[0] in (401, 403)
        assert fetch(s, url, headers={
            "Authorization": "Bearer " + TOKEN[:-1]})[0] in (401, 403)
        assert fetch(s, url, headers={
            "Authorization": "Bearer " + TOKEN})[0] == 200
    finally:
        s.graceful_stop()
        problems = s.log_problems((r"AH01630",))
        s.cleanup()
    assert not problems, "\n".join(problems)


def test_token_or_ip(test_module):
    s = token_server(test_module, TOKEN, "<RequireAny>\nRequire profiler-token"
                     "\nRequire ip 127.0.0.1\n</RequireAny>")
    s.start()
    try:
        assert fetch(s, "/profiler/api/v1/health")[0] == 200
    finally:
        s.graceful_stop()
        s.cleanup()


@pytest.mark.parametrize("body,msg", [
    (None, "cannot read"),
    ("short", "16"),
    ("two words-and-more-than-16", "without spaces"),
])
def test_bad_token_file_fails_at_config_time(test_module, body, msg):
    s = token_server(test_module, body or "", "Require profiler-token")
    if body is None:
        os.unlink(os.path.join(s.root, "token"))
    try:
        out = s.configtest()
        assert out.returncode != 0
        text = out.stdout + out.stderr
        assert "ProfilerReportToken" in text and msg in text, text
    finally:
        s.cleanup()


def test_warning_for_a_report_without_access_control(test_module):
    s = make_server(SqliteDb, name="report-open", test_module=test_module,
                    extra="<Location /open>\nSetHandler profiler-report\n"
                          "</Location>\n<Location /closed>\nSetHandler "
                          "profiler-report\nRequire ip 127.0.0.1\n</Location>")
    try:
        assert fetch(s, "/open/api/v1/health")[0] == 200
        assert fetch(s, "/closed/api/v1/health")[0] == 200
    finally:
        s.graceful_stop()
        log = s.read_error_log()
        s.cleanup()
    warnings = [l for l in log.splitlines() if "PROF00023" in l]
    assert len(warnings) == 1, log
    assert "/open" in warnings[0] and "no access control" in warnings[0]


def test_report_alone_reads_a_store_it_does_not_write(test_module, tmp_path):
    """A reporting server with no ProfilerStore reads what another wrote."""
    writer = report_server(SqliteDb, test_module, name="report-writer")
    try:
        writer.graceful_stop()
        reader = Httpd("LoadModule dbd_module /usr/lib/apache2/modules/"
                       "mod_dbd.so\nDBDriver sqlite3\nDBDParams \"%s\"\n"
                       % writer.db.path + """
<Location /profiler>
    SetHandler profiler-report
    Require ip 127.0.0.1
</Location>
""", name="report-reader")
        reader.start()
        try:
            status, d = api(reader, "summary")
            assert status == 200, d
            assert sum(r["count"] for r in d["rows"]) == TOTAL
            assert not os.path.exists(os.path.join(reader.root, "db"))
        finally:
            reader.graceful_stop()
            problems = reader.log_problems()
            reader.cleanup()
        assert not problems, "\n".join(problems)
    finally:
        writer.cleanup()


def test_long_ranges_read_the_hourly_rollups(test_module):
    """Whole hours come from rollups_hour, all but the table's first hour,
    which may be partial: that one comes from the minutes, as do the edges
    of a range and time series in minutes. Made-up rows tell which table
    answered."""
    import sqlite3
    import time
    s = report_server(SqliteDb, test_module, name="report-hourly")
    try:
        hour = 3600 * 1000000
        now_h = int(time.time() * 1e6) // hour * hour
        cols = ("server, vhost, route, method, status_class, count, samples, "
                "sum_us, min_us, max_us, ttfb_sum_us, bytes_sum, read_sum_us, "
                "postread_sum_us, quick_sum_us, translate_sum_us, "
                "storage_sum_us, headers_sum_us, access_sum_us, authn_sum_us, "
                "authz_sum_us, type_sum_us, fixups_sum_us, handler_sum_us, "
                "body_sum_us, log_sum_us, hist")

        def row(t, count):
            return (t, "srv", "v", "/made-up", "GET", 2, count, count,
                    count * 100, 100, 100, 0, 0) + (0,) * 14 + \
                ("%d:%d" % (66, count),)
        con = sqlite3.connect(s.db.path, timeout=30)
        with con:
            q = "INSERT INTO profiler_rollups_hour (hour_us, %s) VALUES (%s)" \
                % (cols, ",".join("?" * 28))
            # The first hour of the table: partial, read from the minutes.
            con.execute(q, row(now_h - 5 * hour, 5000))
            con.execute(q.replace("rollups_hour (hour_us", "rollups (minute_us"),
                        row(now_h - 5 * hour + 60000000, 7))
            # A whole hour after it: read from here (no minute rows at all).
            con.execute(q, row(now_h - 3 * hour, 1000))
        con.close()
        status, d = api(s, "summary", **{"from": "-24h"})
        assert status == 200, d
        got = {r["route"]: r["count"] for r in d["rows"]}
        assert got["/made-up"] == 1007
        assert sum(got.values()) == TOTAL + 1007
        status, d = api(s, "timeseries", **{"from": "-24h"})
        assert d["bucket_s"] == 3600
        points = {p["t"]: p["count"] for p in d["points"]}
        assert points[(now_h - 3 * hour) // 1000000] == 1000
        assert points[(now_h - 5 * hour) // 1000000] == 7
        assert sum(points.values()) == TOTAL + 1007
        # A short range's summary reads its whole hours from there too...
        status, d = api(s, "summary", **{"from": "-6h"})
        assert {r["route"]: r["count"] for r in d["rows"]}["/made-up"] == 1007
        # ... but a time series in minutes reads the minute rollups only.
        status, d = api(s, "timeseries", **{"from": "-6h"})
        assert d["bucket_s"] < 3600
        assert sum(p["count"] for p in d["points"]) == TOTAL + 7
    finally:
        s.graceful_stop()
        s.cleanup()


@pytest.mark.parametrize("mpm", ["prefork", "worker"])
def test_other_mpms(test_module, mpm):
    """The same answers from the other MPMs (the fixture runs event)."""
    s = report_server(SqliteDb, test_module, name="report-" + mpm, mpm=mpm)
    try:
        status, d = api(s, "summary")
        assert status == 200, d
        assert {r["route"]: r["count"] for r in d["rows"]} == \
            {route: sum(n for _, _, n in v) for route, v in TRAFFIC.items()}
        status, headers, body = fetch(s, "/profiler/")
        assert status == 200 and body.count('<svg class="chart"') == 3
    finally:
        s.graceful_stop()
        problems = s.log_problems()
        s.cleanup()
    assert not problems, "\n".join(problems)


def test_report_requests_do_not_grow_the_child(test_module):
    """apr-util's SQLite driver keeps every statement prepared on a
    connection until it closes, and mod_dbd keeps connections: a report
    that prepared per request grew its child by some 18 KB a request. The
    statements are now prepared once per connection and text."""
    import subprocess
    s = report_server(SqliteDb, test_module, name="report-leak",
                      mpm="prefork", extra="StartServers 1\n"
                      "MinSpareServers 1\nMaxSpareServers 1")
    urls = ["/profiler/api/v1/summary",
            "/profiler/api/v1/requests?limit=5&route=/t",
            "/profiler/api/v1/histogram", "/profiler/api/v1/health"]

    def rss_kb():
        pids = subprocess.run(["pgrep", "-f", s.root], capture_output=True,
                              text=True).stdout.split()
        return max(int(open("/proc/%s/status" % p).read()
                       .split("VmRSS:")[1].split()[0]) for p in pids)
    try:
        for i in range(200):
            assert fetch(s, urls[i % 4])[0] == 200
        before = rss_kb()
        for i in range(600):
            assert fetch(s, urls[i % 4])[0] == 200
        grown = rss_kb() - before
        assert grown < 2048, "the child grew by %d kB in 600 requests" % grown
    finally:
        s.graceful_stop()
        s.cleanup()


def test_grouped_dashboard_keeps_its_grouping_in_links(srv):
    status, headers, body = fetch(srv, "/profiler/?group=method,status")
    assert status == 200
    assert "<th>Method</th><th>Status</th>" in body
    # Sorting keeps the grouping; a route's requests do not take it.
    assert "sort=count&amp;order=desc&amp;group=method%2Cstatus" in body
    for href in re.findall(r'<a class="route" href="([^"]+)"', body):
        assert "group=" not in href
        assert fetch(srv, href.replace("&amp;", "&"))[0] == 200


# ---- 4xx counts and one route's statistics ------------------------------------

def test_client_errors_per_route_and_over_time(srv):
    want = {route: sum(n for _, cls, n in v if cls == 4)
            for route, v in TRAFFIC.items()}
    status, d = api(srv, "summary")
    assert status == 200, d
    assert {r["route"]: r["client_errors"] for r in d["rows"]} == want
    status, d = api(srv, "summary", group="status")
    for r in d["rows"]:
        assert r["client_errors"] == (r["count"] if r["status"] == "4xx"
                                      else 0), r
    status, d = api(srv, "timeseries", **{"from": "-1h"})
    assert sum(p["client_errors"] for p in d["points"]) == sum(want.values())
    status, headers, body = fetch(srv, "/profiler/api/v1/summary?format=csv")
    table = list(csv.reader(io.StringIO(body)))
    col = table[0].index("client_errors")
    assert {r[0]: int(r[col]) for r in table[1:]} == want


def test_one_routes_statistics(srv):
    """The numbers of a route's request page (route_stats), from the
    rollups: the same as the summary's row, plus its histogram."""
    status, summary = api(srv, "summary")
    rows = {r["route"]: r for r in summary["rows"]}
    for route in ("/t", "/item/:id"):
        status, d = api(srv, "route", route=route)
        assert status == 200, d
        g = d["route"]
        for k in ("count", "errors", "client_errors", "p50_ms", "p95_ms",
                  "p99_ms", "max_ms", "total_ms", "phases"):
            assert g[k] == rows[route][k], (route, k)
        assert sum(b["count"] for b in d["buckets"]) == g["count"]
        totals = [row[5] for row in rows_of(srv, route)]
        assert float(d["min_ms"]) * 1000 == pytest.approx(min(totals), abs=1)
        assert 0 < sum(g["phases"].values()) <= 1.0001
    status, d = api(srv, "route", route="/t", status="5xx")
    assert d["route"]["count"] == 6
    status, d = api(srv, "route")
    assert status == 400 and d["error"]["parameter"] == "route"
    status, d = api(srv, "route", route="/t", path="/t")
    assert status == 400 and d["error"]["parameter"] == "path"
    # The route's request page reads the same statistics.
    status, headers, body = fetch(srv, "/profiler/requests?route=/t&status=503")
    assert status == 200


def rows_of(srv, route):
    return rows(srv, "route = ?", (route,))
