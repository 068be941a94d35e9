"""Shared pieces of the report tests: a server with the store and the report
handler, traffic whose counts the tests know, and HTTP helpers."""
import json
import math
import urllib.error
import urllib.parse
import urllib.request

from store import make_server, wait_for

# A 404 that no ProfilerRoute names is stored under "(not found)" (issue
# 11): the items' 404s have a route of their own, and the script path
# answers 410, a 4xx that keeps its folded route.
REPORT = """
<Location /profiler>
    SetHandler profiler-report
    Require ip 127.0.0.1
</Location>
ProfilerRoute ^/item/[0-9]+$ /item/:id
RedirectMatch gone "^/<script>"
"""

# A path a browser would send for /<script>alert("x")</script>'q.html.
SCRIPT_PATH = "/%3Cscript%3Ealert(%22x%22)%3C/script%3E'q.html"
SCRIPT_ROUTE = "/<script>alert(\"x\")</script>'q.html"

# What send_traffic() sends: route -> [(method, status class, count)].
TRAFFIC = {
    "/index.html": [("GET", 2, 40), ("POST", 2, 5)],
    "/t": [("GET", 5, 6), ("GET", 2, 5)],
    "/item/:id": [("GET", 4, 25)],
    SCRIPT_ROUTE: [("GET", 4, 3)],
}
TOTAL = sum(n for v in TRAFFIC.values() for _, _, n in v)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
       "img-src 'self'; connect-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def fetch(srv, path, method="GET", headers=None, data=None):
    """(status, headers, body text) without raising on HTTP errors."""
    req = urllib.request.Request(srv.url(path), method=method, data=data,
                                 headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=60) as r:
            return r.status, r.headers, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8")


def api(srv, endpoint, **params):
    q = urllib.parse.urlencode(params)
    status, headers, body = fetch(
        srv, "/profiler/api/v1/%s%s" % (endpoint, "?" + q if q else ""))
    return status, (json.loads(body) if body.startswith("{") else body)


def send_traffic(srv):
    for _ in range(40):
        fetch(srv, "/index.html")
    for _ in range(5):
        fetch(srv, "/index.html", method="POST", data=b"x=1")
    for _ in range(6):
        fetch(srv, "/t?status=503")
    for _ in range(5):
        fetch(srv, "/t?sleep_ms=30")
    for i in range(25):
        fetch(srv, "/item/%d" % (1000 + i))
    for _ in range(3):
        fetch(srv, SCRIPT_PATH)


def report_server(db_factory, test_module, extra="", name="report",
                  traffic=True, **kw):
    srv = make_server(db_factory, extra=REPORT + extra, name=name,
                      test_module=test_module, **kw)
    if traffic:
        send_traffic(srv)
        wait_for(lambda: srv.db.scalar(
            "SELECT count(*) FROM profiler_requests") == TOTAL)
        wait_for(lambda: srv.db.scalar(
            "SELECT sum(count) FROM profiler_rollups") == TOTAL)
    return srv


def nearest_rank(values, p):
    """The exact p-th percentile by nearest rank, as prof_hist defines it."""
    v = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(v)))
    return v[rank - 1]
