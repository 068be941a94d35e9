"""A real Prometheus server (Debian's prometheus package) scrapes a real
httpd's `SetHandler profiler-metrics`, in both formats: OpenMetrics, which
Prometheus asks for first in its Accept header, and the text format 0.0.4
(a second job whose Accept mod_headers rewrites to text/plain). Its query
API must return exactly the requests sent, hostile paths included, and
both scrapes must be healthy."""
import socket

import pytest

import promserver
from metrics import get, settled
from promserver import query
from test_metrics import finish, make

EXTRA = r"""
AliasMatch "^/h/" "@ROOT@/htdocs/index.html"
<Location /metrics-text>
    SetHandler profiler-metrics
    RequestHeader set Accept "text/plain; version=0.0.4"
    Require ip 127.0.0.1
</Location>
"""
R = "\ufffd"
HOSTILE = {b'/h/a"b\\c': '/h/a"b\\c', b"/h/caf\xc3\xa9": "/h/caf\u00e9",
           b"/h/\xff\xfe": "/h/" + R + R}


def raw_get(port, target):
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Connection: close\r\n\r\n")
        head = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            head += d
    assert head.startswith(b"HTTP/1.1 200"), head


@pytest.fixture(scope="module")
def served():
    srv = make(extra=EXTRA, name="metrics-prom", modules=("headers",))
    sent = {"/index.html": 17, "(not found)": 5}
    for _ in range(17):
        assert get(srv.port, "/index.html") == 200
    for i in range(5):
        assert get(srv.port, "/nothing%d" % i) == 404
    for target, route in HOSTILE.items():
        for _ in range(2):
            raw_get(srv.port, target)
        sent[route] = 2
    n = sum(sent.values())
    assert settled(srv, "mod_profiler_requests_total", n) == n
    yield srv, sent
    finish(srv)


@pytest.fixture(scope="module")
def prometheus(served, tmp_path_factory):
    srv, _ = served
    with promserver.prometheus(tmp_path_factory.mktemp("prometheus"), [
            ("openmetrics", "/metrics", srv.port),
            ("text", "/metrics-text", srv.port)]) as found:
        yield found

def test_both_formats_are_scraped_without_error(prometheus):
    _, targets = prometheus
    health = {t["labels"]["job"]: (t["health"], t["lastError"])
              for t in targets}
    assert health == {"text": ("up", ""), "openmetrics": ("up", "")}


@pytest.mark.parametrize("job", ["openmetrics", "text"])
def test_prometheus_returns_the_exact_totals(served, prometheus, job):
    _, sent = served
    base, _ = prometheus
    got = {}
    for x in query(base, 'sum by (route) (mod_profiler_requests_total'
                         '{job="%s"})' % job):
        got[x["metric"]["route"]] = int(x["value"][1])
    assert got == sent
    count = query(base, 'sum(mod_profiler_request_duration_seconds_count'
                        '{job="%s"})' % job)
    assert [int(x["value"][1]) for x in count] == [sum(sent.values())]
    inf = query(base, 'sum(mod_profiler_request_duration_seconds_bucket'
                      '{job="%s",le="+Inf"})' % job)
    assert [int(x["value"][1]) for x in inf] == [sum(sent.values())]
    # the scrapes themselves are not counted: totals stay put
    rows = query(base, 'mod_profiler_store_rows_total{job="%s"}' % job)
    assert sorted(x["metric"]["result"] for x in rows) == [
        "dropped", "failed", "sampled_out", "written"]
    q = query(base, 'histogram_quantile(0.5, sum by (le) ('
                    'mod_profiler_request_duration_seconds_bucket'
                    '{job="%s",route="/index.html"}))' % job)
    assert len(q) == 1 and 0 < float(q[0]["value"][1]) < 1
