"""The report without a database (mod_profiler_report.c's live mode): with
no DBDriver in the main server, `apache2 -t` accepts a report, its summary
page and api/v1/summary (and api/v1/histogram) answer from the live
aggregates since the server started, marked as such, with exact counts and
percentiles within the histogram's stated error against the durations
httpd itself logged for the same requests; what needs the database (the
request list, one request, health, actions) says so clearly."""
import datetime
import html
import re
import time

import pytest

from harness import Httpd
from report import api, fetch, nearest_rank
from store import build_test_module

REL_ERR = 0.0433        # PROF_HIST_MAX_REL_ERR (src/prof_hist.h)
# Our `total` and httpd's %D both run from the request's start to the log
# phase, read by two clocks a few hooks apart.
CLOCK_SLACK_US = 500

CONF = r"""
LoadModule profiler_test_module @TESTMOD@
Profiler On
ProfilerRoute ^/t/(\w+) /t/$1
<Location /t>
    SetHandler profiler-test
</Location>
<Location /profiler>
    SetHandler profiler-report
    Require ip 127.0.0.1
</Location>
LogFormat "%U %>s %D" dur
CustomLog @ROOT@/logs/dur.log dur
"""

# route -> [(path, count)], and what the requests return.
TRAFFIC = [
    ("/t/a", "/t/a?sleep_ms=2", 20),
    ("/t/b", "/t/b?sleep_ms=20", 10),
    ("/t/b", "/t/b?sleep_ms=60", 2),
    ("/t/c", "/t/c?status=503", 4),
    ("/index.html", "/index.html", 6),
    ("(not found)", "/no/such/file.png", 3),
]
COUNTS = {}
for _route, _path, _n in TRAFFIC:
    COUNTS[_route] = COUNTS.get(_route, 0) + _n
TOTAL = sum(COUNTS.values())


@pytest.fixture(scope="session")
def test_module(built_module):
    return build_test_module()


def make(test_module, conf=CONF, name="report-live", start=True):
    srv = Httpd(conf.replace("@TESTMOD@", test_module), name=name)
    srv.write("index.html", "hello\n")
    return srv.start() if start else srv


def finish(srv, allowed=()):
    problems = srv.log_problems(allowed=allowed)
    srv.cleanup()
    assert not problems, "unexpected error log lines:\n" + "\n".join(problems)


def summary_total(srv):
    status, body = api(srv, "summary")
    assert status == 200, body
    return sum(r["count"] for r in body["rows"])


@pytest.fixture(scope="module")
def srv(test_module):
    s = make(test_module)
    s.started = time.time()
    for _route, path, n in TRAFFIC:
        for _ in range(n):
            fetch(s, path)
    # Counted when logged, just after the response left.
    deadline = time.time() + 10
    while summary_total(s) != TOTAL and time.time() < deadline:
        time.sleep(0.05)
    yield s
    finish(s)


def logged(srv):
    """route -> [%D in us] from the access log, for our traffic."""
    out = {}
    paths = {p.split("?")[0]: r for r, p, _ in TRAFFIC}
    with open(srv.root + "/logs/dur.log") as f:
        for line in f:
            path, _status, d = line.split()
            if path in paths:
                out.setdefault(paths[path], []).append(int(d))
    return out


def close(est_ms, exact_us):
    est = est_ms * 1000
    return abs(est - exact_us) <= REL_ERR * exact_us + CLOCK_SLACK_US + 1


def test_configtest_accepts_a_report_without_a_database(test_module):
    s = make(test_module, name="report-live-t", start=False)
    try:
        out = s.configtest()
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Syntax OK" in out.stdout + out.stderr
        assert "needs mod_dbd" not in out.stdout + out.stderr
    finally:
        s.cleanup()


def test_a_report_without_database_or_profiler_warns(test_module):
    """Nothing to show: apache2 -t says so (a warning, not a failure)."""
    s = make(test_module, conf=CONF.replace("Profiler On\n", ""),
             name="report-live-w", start=False)
    try:
        out = s.configtest()
        text = out.stdout + out.stderr
        assert out.returncode == 0, text
        assert "PROF00250" in text and "no Profiler On" in text, text
    finally:
        s.cleanup()


def test_summary_api_is_live_and_exact(srv):
    status, body = api(srv, "summary")
    assert status == 200, body
    assert body["source"] == "live"
    # The range is the segment's: from when the server started to now.
    frm = body["from_us"] / 1e6
    to = body["to_us"] / 1e6
    assert srv.started - 30 <= frm <= srv.started + 1, (frm, srv.started)
    assert abs(to - time.time()) < 30
    assert body["from"].startswith(datetime.datetime.utcfromtimestamp(
        int(frm)).strftime("%Y-%m-%dT%H:%M:%S"))
    got = {r["route"]: r for r in body["rows"]}
    assert {k: v["count"] for k, v in got.items()} == COUNTS
    assert got["/t/c"]["errors"] == 4 and got["/t/c"]["error_rate"] == 1.0
    assert got["(not found)"]["client_errors"] == 3
    assert got["/t/a"]["errors"] == 0 and got["/t/a"]["client_errors"] == 0
    # Every request is a sample: no sampling in the live counts.
    assert all(r["samples"] == r["count"] for r in body["rows"])
    durs = logged(srv)
    for route, rows in durs.items():
        assert len(rows) == COUNTS[route]
        for p in (50, 95, 99):
            exact = nearest_rank(rows, p)
            est = float(got[route]["p%d_ms" % p])
            assert close(est, exact), (route, p, est, exact, sorted(rows))
    # The slow tail of /t/b is in its p95 and p99, not its p50.
    assert float(got["/t/b"]["p50_ms"]) < 40 < float(got["/t/b"]["p99_ms"])


def test_summary_api_filters_and_groups(srv):
    status, body = api(srv, "summary", route="/t/b")
    assert status == 200 and body["source"] == "live"
    assert [(r["route"], r["count"]) for r in body["rows"]] == [("/t/b", 12)]
    status, body = api(srv, "summary", status="5xx")
    assert [(r["route"], r["count"]) for r in body["rows"]] == [("/t/c", 4)]
    status, body = api(srv, "summary", group="status,method")
    got = {(r["route"], r["method"], r["status"]): r["count"]
           for r in body["rows"]}
    assert got[("/t/c", "GET", "5xx")] == 4
    assert got[("(not found)", "GET", "4xx")] == 3
    assert got[("/t/a", "GET", "2xx")] == 20
    status, body = api(srv, "summary", format="csv")
    assert status == 200
    assert body.splitlines()[0].startswith("route,count,")


def test_histogram_api_is_live(srv):
    status, body = api(srv, "histogram")
    assert status == 200, body
    assert body["source"] == "live"
    assert body["count"] == TOTAL
    assert sum(b["count"] for b in body["buckets"]) == TOTAL
    every = [d for rows in logged(srv).values() for d in rows]
    for p in (50, 95, 99):
        assert close(float(body["p%d_ms" % p]), nearest_rank(every, p)), p


def test_summary_page_is_live_and_marked(srv):
    status, _, page = fetch(srv, "/profiler/")
    assert status == 200, page
    assert 'id="live-note"' in page
    note = re.search(r'id="live-note">(.*?)</p>', page, re.S).group(1)
    assert "Live" in note and "database" in note
    assert 'id="chart-series"' not in page
    assert 'id="health"' not in page
    # The page links to nothing that needs the database.
    assert "/profiler/requests" not in page
    assert "/profiler/actions/" not in page
    m = re.search(r'id="cards-count">(\d+)<', page)
    assert m and int(m.group(1)) == TOTAL
    table = re.search(r'<table class="summary".*?</table>', page, re.S).group(0)
    got = {}
    for route, count in re.findall(
            r'<tr><td class="route">(.*?)</td><td class="num">(\d+)</td>',
            table):
        got[html.unescape(route)] = int(count)
    assert got == COUNTS


@pytest.mark.parametrize("path", [
    "/profiler/api/v1/requests", "/profiler/api/v1/requests/1",
    "/profiler/api/v1/health", "/profiler/api/v1/timeseries",
    "/profiler/api/v1/route?route=/t/a"])
def test_api_that_needs_the_database_says_so(srv, path):
    status, headers, body = fetch(srv, path)
    assert status == 404, body
    assert headers["Content-Type"].startswith("application/json")
    assert "needs ProfilerStore's database" in body
    assert "DBDriver" in body


@pytest.mark.parametrize("path", ["/profiler/requests",
                                  "/profiler/requests/1"])
def test_pages_that_need_the_database_say_so(srv, path):
    status, headers, body = fetch(srv, path)
    assert status == 404, body
    assert headers["Content-Type"].startswith("text/html")
    assert "needs ProfilerStore&#39;s database" in body \
        or "needs ProfilerStore's database" in body


def test_actions_need_the_database(srv):
    status, _, body = fetch(srv, "/profiler/actions/prune", method="POST",
                            data=b"", headers={"Origin": srv.url("")[:-1]})
    assert status == 404, body
    assert "needs ProfilerStore's database" in body


def test_the_reports_own_requests_are_not_counted(srv):
    for _ in range(3):
        fetch(srv, "/profiler/")
        api(srv, "summary")
    time.sleep(0.3)
    assert summary_total(srv) == TOTAL


def test_hostile_route_names_are_escaped(test_module):
    """A route name made from a hostile path, on the live page and in the
    live JSON."""
    import urllib.parse
    s = make(test_module, conf=CONF + "ProfilerRoute ^/h/(.*)$ /h/$1\n",
             name="report-live-xss")
    try:
        evil = '<script>alert("x")</script>&amp;\'"'
        status, _, _ = fetch(s, "/h/" + urllib.parse.quote(evil, safe=""))
        assert status == 404
        deadline = time.time() + 10
        while summary_total(s) != 1 and time.time() < deadline:
            time.sleep(0.05)
        status, body = api(s, "summary")
        assert [r["route"] for r in body["rows"]] == ["/h/" + evil]
        status, _, page = fetch(s, "/profiler/")
        assert status == 200
        assert "<script>" not in page
        assert "/h/&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" \
               "&amp;amp;&#39;&quot;" in page
    finally:
        finish(s)
