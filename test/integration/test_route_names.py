"""ProfilerRoute names: whatever the directive accepts, the report accepts.
Names with spaces, punctuation and UTF-8 are stored as routes, and every
dashboard link to them answers 200 and lists their requests; what the
directive refuses fails at configuration time with a message that names
ProfilerRoute and what is allowed. Real apache2, real SQLite."""
import html
import re
import urllib.parse

import pytest

from harness import Httpd
from report import fetch, report_server
from store import SqliteDb, build_test_module, wait_for

# regex, name, a path it matches
ROUTES = [
    (r"^/checkout", "checkout page", "/checkout/step/1"),
    (r"^/api/v2/", "api.v2", "/api/v2/items"),
    (r"^/odd", "search & more? #yes +plus", "/odd/x"),
    (r"^/cafe", "caf\u00e9 (alt) \u20ac", "/cafe"),
    (r"^/user/([a-z]+)", "user $1 profile", "/user/alice"),
]


@pytest.fixture(scope="module")
def test_module(built_module):
    return build_test_module()


def conf_line(regex, name):
    return 'ProfilerRoute "%s" "%s"' % (regex, name)


def test_every_accepted_name_is_a_working_dashboard_link(test_module):
    extra = "\n".join(conf_line(r, n) for r, n, _ in ROUTES) + "\n"
    srv = report_server(SqliteDb, test_module, extra=extra, name="routenames",
                        traffic=False)
    try:
        for _, _, path in ROUTES:
            for _ in range(3):
                assert fetch(srv, path)[0] == 404
        names = [n.replace("$1", "alice") for _, n, _ in ROUTES]
        wait_for(lambda: srv.db.scalar(
            "SELECT count(*) FROM profiler_requests") == 3 * len(ROUTES))
        stored = {r for (r,) in srv.db.query(
            "SELECT DISTINCT route FROM profiler_requests")}
        assert stored == set(names)
        wait_for(lambda: srv.db.scalar(
            "SELECT sum(count) FROM profiler_rollups") == 3 * len(ROUTES))

        status, _, body = fetch(srv, "/profiler/")
        assert status == 200
        links = {}
        for href, label in re.findall(
                r'<a class="route" href="([^"]+)">(.*?)</a>', body):
            links[html.unescape(label)] = html.unescape(href)
        for name in names:
            assert name in links, (name, sorted(links))
            href = links[name]
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
            assert query["route"] == [name]
            status, _, page = fetch(srv, href)
            assert status == 200, (name, href, page[:300])
            # it lists the route's requests: three of them
            assert page.count(">%s<" % html.escape(name, quote=False)) >= 3, name
            # and the API answers for it too
            status, _, js = fetch(srv, "/profiler/api/v1/requests?" +
                                  urllib.parse.urlencode({"route": name}))
            assert status == 200 and js.count('"route"') == 3, (name, js[:300])
    finally:
        srv.graceful_stop()
        problems = srv.log_problems()
        srv.cleanup()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name,why", [
    (" padded", "starts with a space"),
    ("padded ", "ends with a space"),
    ("tab\there", "holds a control character"),
    ("x" * 257, "is longer than 256 bytes"),
    ("it's", "holds a character a route name cannot have"),
    ("a;b", "holds a character a route name cannot have"),
    ("100%", "holds a character a route name cannot have"),
])
def test_refused_names_fail_at_config_time(name, why):
    srv = Httpd(conf_line("^/x", name), name="routename-bad")
    try:
        out = srv.configtest()
        assert out.returncode != 0
        assert "ProfilerRoute: the route name" in out.stderr
        assert why in out.stderr and "UTF-8" in out.stderr, out.stderr
    finally:
        srv.cleanup()


def test_invalid_utf8_is_refused(tmp_path):
    srv = Httpd("", name="routename-utf8")
    try:
        with open(srv.conf, "ab") as f:
            f.write(b'ProfilerRoute "^/x" "caf\xe9"\n')
        out = srv.configtest()
        assert out.returncode != 0
        assert "is not valid UTF-8" in out.stderr, out.stderr
    finally:
        srv.cleanup()
