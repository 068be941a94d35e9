"""Live metrics in a real httpd (src/mod_profiler_metrics*.c): every request
that `Profiler On` times is counted exactly in shared memory, across
children, a graceful restart in the middle of the load, on every MPM; the
counters never go backwards on a graceful restart and start from zero on a
full one; the Prometheus endpoint's format, names and negotiation."""
import os
import signal
import socket
import time

import pytest

from harness import MPMS, Httpd
from metrics import (Load, get, parse, promtool_check, samples, scrape,
                     settled, total)

CONF = r"""
Profiler On
<Location /metrics>
    SetHandler profiler-metrics
    Require ip 127.0.0.1
</Location>
@EXTRA@
"""


def make(mpm="event", extra="", name="metrics", modules=(), start=True):
    srv = Httpd(CONF.replace("@EXTRA@", extra), mpm=mpm, name=name,
                modules=modules)
    srv.write("index.html", "<h1>hello</h1>\n")
    for i in range(8):
        srv.write("r%d.html" % i, "route %d\n" % i)
    return srv.start() if start else srv


def finish(srv, allowed=()):
    problems = srv.log_problems(allowed=allowed)
    srv.cleanup()
    assert not problems, "unexpected error log lines:\n" + "\n".join(problems)


def wait_up(srv, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if get(srv.port, "/metrics") == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("httpd did not come back")


def generation_done(srv, n, timeout=30):
    """Wait until the error log says the n-th generation is serving."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if srv.read_error_log().count("resuming normal operations") >= n:
            return
        time.sleep(0.1)
    raise AssertionError("no restart in the log:\n" + srv.read_error_log())


def requests_of(srv, route, want=None):
    if want is None:
        return total(srv, "mod_profiler_requests_total", route=route)
    return settled(srv, "mod_profiler_requests_total", want, route=route)


@pytest.fixture(params=MPMS)
def server(request):
    srv = make(request.param, name="metrics-" + request.param)
    yield srv
    finish(srv)


def test_exact_counts_across_a_graceful_restart(server):
    """8 connections at once, a graceful restart in the middle: every
    answered request counted once, by whichever child served it, and the
    counter never went backwards."""
    seen = []
    with Load(server.port, "/index.html", threads=8) as load:
        while load.answered() < 150:
            time.sleep(0.05)
        seen.append(requests_of(server, "/index.html"))
        server.graceful_restart()
        generation_done(server, 2)
        while load.answered() < 300:
            seen.append(requests_of(server, "/index.html"))
            time.sleep(0.05)
    answered = load.answered()
    assert set(load.counts) == {200}
    # the old children have finished their last requests by now
    deadline = time.time() + 10
    while requests_of(server, "/index.html") != answered \
            and time.time() < deadline:
        time.sleep(0.1)
    seen.append(requests_of(server, "/index.html"))
    assert seen[-1] == answered
    assert seen == sorted(seen), "a counter went backwards: %r" % seen
    # the scrapes themselves are not traffic
    assert requests_of(server, "/metrics", 0) == 0
    assert total(server, "mod_profiler_request_duration_seconds_count",
                 route="/index.html") == answered


def test_a_full_restart_starts_from_zero(server):
    for _ in range(5):
        assert get(server.port, "/index.html") == 200
    assert requests_of(server, "/index.html", 5) == 5
    server.graceful_restart()
    generation_done(server, 2)
    wait_up(server)
    assert get(server.port, "/index.html") == 200
    assert requests_of(server, "/index.html", 6) == 6
    server.proc.send_signal(signal.SIGHUP)
    generation_done(server, 3)
    wait_up(server)
    assert requests_of(server, "/index.html", 0) == 0
    assert get(server.port, "/index.html") == 200
    assert requests_of(server, "/index.html", 1) == 1


def test_not_found_and_the_route_budget():
    srv = make(extra="ProfilerMaxRoutes 3\n"
               "ProfilerRoute ^/named/ named\n", name="metrics-routes")
    try:
        for i in range(10):
            assert get(srv.port, "/scan%d.php" % i) == 404
        assert get(srv.port, "/named/x") == 404
        for i in range(8):
            assert get(srv.port, "/r%d.html" % i) == 200
        settled(srv, "mod_profiler_requests_total", 19)
        got = samples(srv, "mod_profiler_requests_total")
        routes = {}
        for labels, v in got.items():
            d = dict(labels)
            routes[(d["route"], d["code"])] = \
                routes.get((d["route"], d["code"]), 0) + int(v)
        # 404s without a route: one label, no route taken from the budget
        assert routes[("(not found)", "404")] == 10
        # "named" and the first two /rN.html routes to be counted fill the
        # budget of 3, the rest is (other). Which two: a request is counted
        # when it is logged, after its response left, so the next one (on
        # its own connection) may be counted first.
        admitted = {r for (r, c) in routes if r not in ("(not found)",
                                                        "(other)")}
        assert len(admitted) == 3, routes
        assert admitted <= {"named"} | {"/r%d.html" % i for i in range(8)}
        assert all(routes[k] == 1 for k in routes if k[0] in admitted), routes
        assert sum(v for k, v in routes.items() if k[0] == "(other)") == 6
        assert sum(routes.values()) == 19
        assert total(srv, "mod_profiler_metrics_route_folded_total") == 6
    finally:
        finish(srv)


def test_a_full_key_table_never_fails_a_request():
    srv = make(extra="ProfilerMetricsKeys 4\n", name="metrics-keys")
    try:
        for i in range(8):
            for _ in range(3):
                assert get(srv.port, "/r%d.html" % i) == 200
        assert get(srv.port, "/missing") == 404
        assert settled(srv, "mod_profiler_requests_total", 25) == 25
        assert total(srv, "mod_profiler_metrics_key_overflow_total") > 0
        assert total(srv, "mod_profiler_request_duration_seconds_count") == 25
    finally:
        finish(srv)


def test_a_layout_change_across_graceful_restarts_the_counters():
    srv = make(name="metrics-layout")
    try:
        for _ in range(4):
            assert get(srv.port, "/index.html") == 200
        assert requests_of(srv, "/index.html", 4) == 4
        with open(srv.conf) as f:
            text = f.read()
        with open(srv.conf, "w") as f:
            f.write(text + "\nProfilerMetricsKeys 64\n")
        srv.graceful_restart()
        generation_done(srv, 2)
        wait_up(srv)
        log = srv.read_error_log()
        assert "PROF00221" in log and "ProfilerMetricsKeys changed from " \
            "1024 to 64" in log, log
        assert requests_of(srv, "/index.html", 0) == 0
        assert get(srv.port, "/index.html") == 200
        assert requests_of(srv, "/index.html", 1) == 1
    finally:
        finish(srv)


def test_text_format_names_and_promtool():
    srv = make(extra="ProfilerMetricsBuckets 0.001 0.1 1\n",
               name="metrics-format")
    try:
        for _ in range(3):
            assert get(srv.port, "/index.html") == 200
        requests_of(srv, "/index.html", 3)
        status, ct, body = scrape(srv)
        assert status == 200
        assert ct == "text/plain; version=0.0.4; charset=utf-8"
        assert promtool_check(body) == ""
        names = {n for n, _, _ in parse(body)}
        for n in ("mod_profiler_requests_total",
                  "mod_profiler_request_duration_seconds_bucket",
                  "mod_profiler_request_duration_seconds_sum",
                  "mod_profiler_request_duration_seconds_count",
                  "mod_profiler_phase_seconds_total",
                  "mod_profiler_store_rows_total",
                  "mod_profiler_metrics_key_overflow_total",
                  "mod_profiler_metrics_route_folded_total",
                  "mod_profiler_metrics_span_overflow_total"):
            assert n in names, n
        req = samples(srv, "mod_profiler_requests_total", route="/index.html")
        assert len(req) == 1
        labels = dict(next(iter(req)))
        # the vhost from the configuration, not the Host header
        assert labels == {"vhost": "127.0.0.1:%d" % srv.port,
                          "route": "/index.html", "method": "GET",
                          "code": "200"}
        les = {dict(k)["le"] for k in samples(
            srv, "mod_profiler_request_duration_seconds_bucket",
            route="/index.html")}
        # three bounds (rounded to the histogram's edges) and +Inf
        assert len(les) == 4 and "+Inf" in les
        rows = samples(srv, "mod_profiler_store_rows_total")
        assert {dict(k)["result"] for k in rows} == {
            "written", "dropped", "failed", "sampled_out"}
    finally:
        finish(srv)


def test_openmetrics_by_accept():
    srv = make(name="metrics-om")
    try:
        assert get(srv.port, "/index.html") == 200
        status, ct, body = scrape(
            srv, accept="application/openmetrics-text;version=1.0.0,"
                        "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
        assert status == 200
        assert ct.startswith("application/openmetrics-text; version=1.0.0")
        assert body.endswith("# EOF\n")
        assert "# TYPE mod_profiler_requests counter" in body
        status, ct, body = scrape(srv, accept="text/plain")
        assert ct.startswith("text/plain; version=0.0.4")
        assert "# EOF" not in body
    finally:
        finish(srv)


def test_hostile_paths_and_hosts_stay_valid_exposition_text():
    """Raw bytes in paths (quotes, backslashes, invalid UTF-8, what looks
    like a sample) and a vhost named with a quote and a backslash: one
    scrape that promtool accepts, every request counted."""
    srv = make(extra='AliasMatch "^/h/" "@ROOT@/htdocs/index.html"\n'
               '<VirtualHost 127.0.0.1:@PORT@>\n'
               '    ServerName 127.0.0.1\n'
               '</VirtualHost>\n'
               '<VirtualHost 127.0.0.1:@PORT@>\n'
               '    ServerName "ev\\"il\\\\caf\u00e9"\n'
               '    ServerAlias weird.test\n'
               '</VirtualHost>\n', name="metrics-hostile")
    try:
        raw = [b'/h/a"b\\c', b"/h/caf\xc3\xa9", b"/h/\xff\xfe",
               b'/h/x{le="1"} 1', b"/h/%0A%22", b"/h/\xed\xa0\x80",
               b"/h/x%0A%23%20EOF"]
        # the second vhost's label is its hostile ServerName, never the
        # Host header
        hosts = [b"127.0.0.1", b"weird.test"]
        n = 0
        for host in hosts:
            for p in raw:
                target = p.replace(b" ", b"%20")
                with socket.create_connection(("127.0.0.1", srv.port),
                                              10) as s:
                    s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: " +
                              host + b"\r\nConnection: close\r\n\r\n")
                    head = b""
                    while True:
                        d = s.recv(65536)
                        if not d:
                            break
                        head += d
                    assert head.startswith(b"HTTP/1.1 200"), (target, head)
                    n += 1
        assert settled(srv, "mod_profiler_requests_total", n) == n
        _, _, body = scrape(srv)
        assert promtool_check(body) == ""
        vhosts = {dict(k)["vhost"] for k in
                  samples(srv, "mod_profiler_requests_total")}
        assert vhosts == {"127.0.0.1:%d" % srv.port,
                          'ev"il\\caf\u00e9:%d' % srv.port}, vhosts
        routes = {dict(k)["route"] for k in
                  samples(srv, "mod_profiler_requests_total")}
        assert '/h/a"b\\c' in routes and "/h/caf\u00e9" in routes, routes
        assert "/h/\ufffd\ufffd" in routes, routes
    finally:
        finish(srv)


def test_open_metrics_section_is_warned_about_at_configtest():
    srv = Httpd("Profiler On\n<Location /metrics>\n"
                "    SetHandler profiler-metrics\n</Location>\n",
                name="metrics-lint")
    try:
        r = srv.configtest()
        assert r.returncode == 0, r.stderr
        assert "PROF00226" in r.stderr and "/metrics" in r.stderr, r.stderr
    finally:
        srv.cleanup()


@pytest.mark.parametrize("directive, needle", [
    ("ProfilerMetricsBuckets 0.1 abc", "ProfilerMetricsBuckets: 'abc'"),
    ("ProfilerMetricsBuckets -1", "ProfilerMetricsBuckets: '-1'"),
    ("ProfilerMetricsKeys 0", "ProfilerMetricsKeys: '0'"),
    ("ProfilerMaxRoutes many", "ProfilerMaxRoutes: 'many'"),
    ("<VirtualHost *:80>\nProfilerMetricsKeys 10\n</VirtualHost>",
     "ProfilerMetricsKeys: "),
])
def test_bad_directives_fail_the_configtest(directive, needle):
    srv = Httpd("Profiler On\n" + directive + "\n", name="metrics-bad")
    try:
        r = srv.configtest()
        assert r.returncode != 0
        assert needle in r.stderr, r.stderr
    finally:
        srv.cleanup()


def _segment(pid):
    """Where the metrics segment starts in pid's memory: in the shared
    anonymous mapping whose first bytes hold our magic ("MPROFME2",
    little endian; APR keeps the segment's size before it)."""
    found = []
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            f = line.split()
            if "s" not in f[1] or "r" not in f[1]:
                continue
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            mem.seek(lo)
            head = mem.read(64)
            at = head.find(b"2EMFORPM")
            if at >= 0 and at % 8 == 0:
                found.append(lo + at)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("where", ["segment header", "table"])
def test_a_corrupt_segment_is_made_anew_with_a_log_line(where):
    """The segment is anonymous shared memory, out of reach of other
    processes; the test corrupts it where it lives, in the parent's memory
    (/proc/<pid>/mem, as a debugger would), then a graceful restart must
    find it, say so, and count from zero without failing a request."""
    srv = make(name="metrics-corrupt")
    try:
        for _ in range(3):
            assert get(srv.port, "/index.html") == 200
        assert requests_of(srv, "/index.html", 3) == 3
        start = _segment(srv.proc.pid)
        # our header is the first 128 bytes; prof_agg's follows
        at = start + (8 if where == "segment header" else 128 + 16)
        with open("/proc/%d/mem" % srv.proc.pid, "r+b", 0) as mem:
            mem.seek(at)
            mem.write(b"\xa5" * 24)
        srv.graceful_restart()
        generation_done(srv, 2)
        wait_up(srv)
        log = srv.read_error_log()
        assert "PROF00222" in log and "corrupt or foreign" in log, log
        assert requests_of(srv, "/index.html", 0) == 0
        for _ in range(2):
            assert get(srv.port, "/index.html") == 200
        assert requests_of(srv, "/index.html", 2) == 2
    finally:
        finish(srv, allowed=[r"PROF00222"])


def test_spans_and_metrics_of_other_modules_have_their_own_cells():
    """The span API's spans and metrics (a consumer module built with
    apxs) are counted per name: count, sum and histogram."""
    from store import build_test_module
    mod = build_test_module()
    srv = make(extra="LoadModule profiler_test_module %s\n"
               "<Location /t>\n    SetHandler profiler-test\n</Location>\n"
               % mod, name="metrics-spans")
    try:
        for _ in range(4):
            assert get(srv.port, "/t") == 200
        assert requests_of(srv, "/t", 4) == 4
        got = {dict(k)["name"]: int(v) for k, v in samples(
            srv, "mod_profiler_span_duration_seconds_count").items()}
        for name in ("fixup.work", "outer", "inner", "db", "cache"):
            assert got.get(name) == 4, got
        # the metric's duration is what the module gave: 1.5 ms each
        s = {dict(k)["name"]: v for k, v in samples(
            srv, "mod_profiler_span_duration_seconds_sum").items()}
        assert s["db"] == 0.006
        assert total(srv, "mod_profiler_metrics_span_overflow_total") == 0
    finally:
        finish(srv)
