"""The metrics exposition of the core (src/prof_prom.c), scraped by a real
Prometheus server (Debian's prometheus package), in both formats it
negotiates: text 0.0.4 and OpenMetrics 1.0.0.

promtool check metrics (the unit tests run it) parses only the 0.0.4
text; Prometheus's own OpenMetrics parser is the strict judge of the other
format. build/prom_dump writes the text of a block fed with a fixed set of
hostile requests and spans (quotes, backslashes, newlines, invalid UTF-8,
control characters, a route that looks like a sample and '# EOF'), this
test serves it over HTTP with each format's Content-Type, and the query API
must return exactly the counts prom_dump recorded, with invalid bytes
become U+FFFD, and both scrapes healthy.

No httpd here: the handler that serves the same text is the httpd layer's,
and its tests scrape the real server.
"""
import http.server
import os
import subprocess
import threading

import pytest

import promserver
from harness import ROOT, free_port
from promserver import query

DUMP = os.path.join(ROOT, "build", "prom_dump")
CT = {
    "text": "text/plain; version=0.0.4; charset=utf-8",
    "openmetrics": "application/openmetrics-text; version=1.0.0; "
                   "charset=utf-8",
}
R = "\ufffd"

# (vhost, route, method, code) -> count, as prom_dump.c records them and
# Prometheus must store them.
REQUESTS = {
    ("(other)", "(other)", "(other)", "2xx"): 6,
    ("(other)", "(other)", "(other)", "5xx"): 3,
    ("caf\u00e9.example", "/caf\u00e9", "GET", "404"): 5,
    ('evil"host\\\n', '/a"b', "GET", "200"): 3,
    ("www.example.com", "(not found)", "GET", "404"): 11,
    ("www.example.com", "/", "GET", "200"): 7,
    ("www.example.com", "/ctl" + R * 3, "GET", "302"): 1,
    ("www.example.com", "/x", "GET", "200"): 4,
    ("www.example.com", '/{le="+Inf"} 1\n# EOF', "GET", "500"): 2,
    (R * 2 + ".example", "/" + R * 5, "POST", "201"): 2,
}
SPANS = {"db": 10, 'a"b\\c\nd': 2, R: 1, "cache": 3, "(other)": 3}


@pytest.fixture(scope="module")
def bodies():
    subprocess.run(["make", "-s", "-f", "Makefile.apxs", "WERROR=1",
                    "build/prom_dump"], cwd=ROOT, check=True)
    return {f: subprocess.run([DUMP, f], check=True,
                              capture_output=True).stdout
            for f in ("text", "openmetrics")}


@pytest.fixture(scope="module")
def exporter(bodies):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            fmt = self.path.strip("/")
            body = bodies.get(fmt)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", CT[fmt])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()),
                                             Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def prometheus(exporter, tmp_path_factory):
    with promserver.prometheus(tmp_path_factory.mktemp("prometheus"), [
            (f, "/" + f, exporter) for f in ("text", "openmetrics")]) as found:
        yield found

def test_both_formats_are_scraped_without_error(prometheus):
    base, targets = prometheus
    health = {t["labels"]["job"]: (t["health"], t["lastError"])
              for t in targets}
    assert health == {"text": ("up", ""), "openmetrics": ("up", "")}


@pytest.mark.parametrize("job", ["text", "openmetrics"])
def test_prometheus_stores_the_exact_counts(prometheus, job):
    base, _ = prometheus
    got = {(m["metric"]["vhost"], m["metric"]["route"], m["metric"]["method"],
            m["metric"]["code"]): int(m["value"][1])
           for m in (x for x in query(base, 'mod_profiler_requests_total{job="%s"}'
                                      % job))}
    assert got == REQUESTS
    # the histogram agrees: per (vhost, route, method), summed over codes
    counts = {}
    for (v, r, m, _), n in REQUESTS.items():
        counts[(v, r, m)] = counts.get((v, r, m), 0) + n
    got = {(x["metric"]["vhost"], x["metric"]["route"], x["metric"]["method"]):
           int(x["value"][1]) for x in query(
               base, 'mod_profiler_request_duration_seconds_count{job="%s"}'
               % job)}
    assert got == counts
    inf = {(x["metric"]["vhost"], x["metric"]["route"], x["metric"]["method"]):
           int(x["value"][1]) for x in query(
               base, 'mod_profiler_request_duration_seconds_bucket'
                     '{job="%s",le="+Inf"}' % job)}
    assert inf == counts
    # seven requests of 1.2 ms on /: the sum is exact
    s = query(base, 'mod_profiler_request_duration_seconds_sum{job="%s",'
                    'route="/"}' % job)
    assert [x["value"][1] for x in s] == ["0.0084"]
    spans = {x["metric"]["name"]: int(x["value"][1]) for x in query(
        base, 'mod_profiler_span_duration_seconds_count{job="%s"}' % job)}
    assert spans == SPANS
    over = query(base, 'mod_profiler_metrics_key_overflow_total{job="%s"}'
                 % job)
    assert [x["value"][1] for x in over] == ["9"]
    # and a quantile over the rounded buckets works: 7 requests of 1.2 ms
    q = query(base, 'histogram_quantile(0.5, '
                    'mod_profiler_request_duration_seconds_bucket'
                    '{job="%s",route="/"})' % job)
    assert len(q) == 1 and 0 < float(q[0]["value"][1]) <= 0.00487
