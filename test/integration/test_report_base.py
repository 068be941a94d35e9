"""Where the report is: its base comes from the <Location> that sets the
handler (or ProfilerReportBase), never from whichever section last held a
profiler directive. Every page and API endpoint answers, with the report
inside "<Location /> Profiler On", in a <Directory> reached by an Alias,
and in a virtual host."""
import json
import os

import pytest

from report import fetch
from store import SqliteDb, make_server, wait_for

ENDPOINTS = [
    ("", 200, "text/html"), ("/", 200, "text/html"),
    ("/requests", 200, "text/html"),
    ("/api/v1/summary", 200, "application/json"),
    ("/api/v1/timeseries", 200, "application/json"),
    ("/api/v1/histogram", 200, "application/json"),
    ("/api/v1/requests", 200, "application/json"),
    ("/api/v1/health", 200, "application/json"),
    ("/api/v1/route?route=/index.html", 200, "application/json"),
    ("/assets/app.css", 200, "text/css"),
    ("/assets/app.js", 200, "javascript"),
    ("/nothing", 404, "text/html"),
    ("/api/v1/nothing", 404, "application/json"),
]


def check_every_endpoint(srv, base, host=None, bare=True, guessed=False):
    """bare: the base itself, without a slash, is in the section. guessed:
    no configuration says the base, so an unknown page cannot be told from
    a report further down."""
    headers = {"Host": host} if host else {}
    for rel, want, ctype in ENDPOINTS:
        if rel == "" and (base == "" or not bare):
            continue
        if guessed and rel == "/nothing":
            continue
        status, h, body = fetch(srv, base + rel, headers=headers)
        assert status == want, (base + rel, status, body[:300])
        assert ctype in h["Content-Type"], (base + rel, h["Content-Type"])
    # One request's page and JSON: the links of the list lead there.
    status, h, body = fetch(srv, base + "/api/v1/requests?limit=1",
                            headers=headers)
    rid = json.loads(body)["requests"][0]["id"]
    for rel in ("/requests/" + rid, "/api/v1/requests/" + rid):
        status, h, body = fetch(srv, base + rel, headers=headers)
        assert status == 200, (base + rel, status, body[:300])
    # The dashboard's links point into the report, not beside it.
    status, h, body = fetch(srv, base + "/", headers=headers)
    assert 'href="%s/requests' % base in body, body[:2000]


def serve(extra, name, traffic="/index.html", host=None, **kw):
    srv = make_server(SqliteDb, extra=extra, name=name, **kw)
    headers = {"Host": host} if host else {}
    for _ in range(3):
        fetch(srv, traffic, headers=headers)
    wait_for(lambda: srv.db.scalar(
        "SELECT count(*) FROM profiler_requests") >= 3)
    wait_for(lambda: srv.db.scalar(
        "SELECT sum(count) FROM profiler_rollups") >= 3)
    return srv


def finish(srv):
    srv.graceful_stop()
    problems = srv.log_problems()
    srv.cleanup()
    assert not problems, "\n".join(problems)


def test_inside_a_location_with_profiler_directives():
    """The bug: <Location /> with a profiler directive made "/" the base,
    so /profiler/... was looked up as a page "/profiler/..." (404)."""
    srv = serve("""
<Location />
    Profiler On
    ProfilerServerTiming On
</Location>
<Location /profiler>
    SetHandler profiler-report
    Require ip 127.0.0.1
</Location>
<Location /profiler/api>
    ProfilerServerTiming Off
</Location>
""", "report-base-root")
    try:
        check_every_endpoint(srv, "/profiler")
    finally:
        finish(srv)


def test_quoted_location_and_handler():
    srv = serve("""
<Location "/prof/">
    SetHandler "profiler-report"
    Require ip 127.0.0.1
</Location>
<Location />
    ProfilerSample 1
</Location>
""", "report-base-quoted")
    try:
        # <Location "/prof/"> holds /prof/... but not /prof itself.
        check_every_endpoint(srv, "/prof", bare=False)
    finally:
        finish(srv)


def test_report_at_the_root():
    srv = serve("""
<VirtualHost 127.0.0.1:@PORT@>
    ServerName report.test
    <Location />
        # mod_dir would turn "/" into "/index.html" of the document root.
        DirectoryIndex disabled
        SetHandler profiler-report
        Require ip 127.0.0.1
        Profiler Off
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName app.test
</VirtualHost>
""", "report-base-vhost-root", host="app.test")
    try:
        check_every_endpoint(srv, "", host="report.test")
    finally:
        finish(srv)


def test_in_a_virtual_host():
    srv = serve("""
<VirtualHost 127.0.0.1:@PORT@>
    ServerName app.test
    <Location /app>
        ProfilerSample 1
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName ops.test
    <Location />
        Profiler On
    </Location>
    <Location /ops/profiler>
        SetHandler profiler-report
        Require ip 127.0.0.1
    </Location>
</VirtualHost>
""", "report-base-vhost", host="app.test")
    try:
        check_every_endpoint(srv, "/ops/profiler", host="ops.test")
        # The other host has no report there.
        assert fetch(srv, "/ops/profiler/api/v1/health",
                     headers={"Host": "app.test"})[0] == 404
    finally:
        finish(srv)


@pytest.mark.parametrize("with_base", [True, False])
def test_in_a_directory_behind_an_alias(with_base):
    """A <Directory> says nothing about URLs: ProfilerReportBase does (and
    without it the report still finds itself from its own names)."""
    srv = make_server(SqliteDb, name="report-base-dir", start=False, extra="""
Alias /stats "@ROOT@/stats"
<Directory "@ROOT@/stats">
    SetHandler profiler-report
    %s
    Require ip 127.0.0.1
    Profiler Off
</Directory>
<Location />
    Profiler On
</Location>
""" % ("ProfilerReportBase /stats/" if with_base else ""))
    os.makedirs(os.path.join(srv.root, "stats"))
    os.chmod(os.path.join(srv.root, "stats"), 0o755)
    srv.start()
    for _ in range(3):
        fetch(srv, "/index.html")
    wait_for(lambda: srv.db.scalar(
        "SELECT count(*) FROM profiler_requests") >= 3)
    try:
        # /stats is the directory: mod_dir redirects it to /stats/.
        check_every_endpoint(srv, "/stats", bare=False,
                             guessed=not with_base)
    finally:
        finish(srv)


@pytest.mark.parametrize("value,needle", [
    ("stats", "ProfilerReportBase: 'stats' is not valid"),
    ("\"/a b\"", "ProfilerReportBase: '/a b' is not valid"),
    ("/a?b", "ProfilerReportBase: '/a?b' is not valid"),
])
def test_bad_report_base_fails_configtest(value, needle):
    from harness import Httpd
    srv = Httpd("<Location /x>\nProfilerReportBase %s\n</Location>" % value,
                name="report-base-bad")
    try:
        res = srv.configtest()
    finally:
        srv.cleanup()
    assert res.returncode != 0 and needle in res.stdout + res.stderr, \
        res.stdout + res.stderr


def test_set_by_a_rewrite_rule():
    """RewriteRule [H=profiler-report] serves the report anywhere its
    pattern says: ProfilerReportBase tells where; the startup scan finds the
    rule and warns that no section around it controls access."""
    srv = make_server(SqliteDb, name="report-base-rewrite",
                      modules=("rewrite",), extra="""
RewriteEngine On
RewriteRule ^/stats(/|$) - [H=profiler-report]
<Location /stats>
    Require ip 127.0.0.1
    ProfilerReportBase /stats
</Location>
""")
    for _ in range(3):
        fetch(srv, "/index.html")
    wait_for(lambda: srv.db.scalar(
        "SELECT count(*) FROM profiler_requests") >= 3)
    wait_for(lambda: srv.db.scalar(
        "SELECT sum(count) FROM profiler_rollups") >= 3)
    try:
        check_every_endpoint(srv, "/stats")
    finally:
        srv.graceful_stop()
        log = srv.read_error_log()
        problems = srv.log_problems((r"PROF00024.*RewriteRule",))
        srv.cleanup()
    assert not problems, "\n".join(problems)
    assert "PROF00024" in log, log
