"""OpenTelemetry export (ProfilerOTLPEndpoint): real httpd servers export
to a real OTLP/HTTP receiver (otlp.py) that decodes what it gets with protoc
and the message definitions written from the specification (otlp/), never
with our encoder. Checked: the spans of a request (names, parents, times,
attributes) against what was sent and against the Server-Timing header;
a trace through two servers; sampling; JSON and gzip; a collector that is
down, refuses, or never answers; the queue bound; a graceful stop; https
with certificate checking."""
import http.client
import os
import re
import time
import urllib.request

import pytest

from harness import MPMS, Httpd, h2c_get, parse_server_timing
from metrics import promtool_check
from otlp import OtlpReceiver
from test_spans import TEST_MOD, test_module  # noqa: F401 (fixture)

PHASES = {"read", "postread", "quick", "translate", "storage", "headers",
          "access", "authn", "authz", "type", "fixups", "handler", "body",
          "log"}
def new_tp(flags="01"):
    """A caller's traceparent of a trace no other test uses."""
    return "00-%s-%s-%s" % (os.urandom(16).hex(), os.urandom(8).hex(), flags)


TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
SERVER, CLIENT, INTERNAL = 2, 3, 1
SLACK = 50_000      # ns: what rounding and two clocks may put between times

BASE = r"""
LoadModule profiler_test_module @TESTMOD@
Profiler On
ProfilerServerTiming On
ProfilerServerTimingTraceparent On
ProfilerOTLPEndpoint @ENDPOINT@
ProfilerOTLPServiceName shop-frontend
ProfilerOTLPResource deployment.environment test
ProfilerOTLPHeader X-Api-Key k-123
ProfilerOTLPBatch 64 50
Redirect 500 /boom
<Location /t>
    SetHandler profiler-test
</Location>
LogFormat "%U %{PROFILER_TRACE_ID}e %{PROFILER_SPAN_ID}e" trace
CustomLog @ROOT@/logs/trace.log trace
<Location /metrics>
    SetHandler profiler-metrics
    Require ip 127.0.0.1
</Location>
"""


def make(receiver, mpm="event", extra="", name="otlp", modules=(),
         endpoint=None):
    body = BASE.replace("@TESTMOD@", TEST_MOD).replace(
        "@ENDPOINT@", endpoint or receiver.url)
    srv = Httpd(body + extra, mpm=mpm, modules=list(modules),
                name="%s-%s" % (name, mpm))
    srv.write("index.html", "<p>hi</p>\n")
    srv.write("t", "")
    return srv.start()


def get(srv, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Server-Timing")
    finally:
        conn.close()


def st_tp(value):
    for name, params in parse_server_timing(value or ""):
        if name == "traceparent":
            return TP_RE.match(params.get("desc", "")).groups()
    return None


def trace_of(receiver, trace_id, n, timeout=10, servers=1):
    """The spans of one trace, once n of them, servers of them SERVER
    spans, arrived."""
    deadline = time.time() + timeout
    while True:
        spans = [s for s in receiver.spans() if s["trace_id"] == trace_id]
        if (len(spans) >= n and len([s for s in spans if s["kind"] == SERVER])
                >= servers) or time.time() > deadline:
            return spans
        time.sleep(0.05)


def finish(srv, allowed=()):
    srv.stop()
    problems = srv.log_problems(allowed=list(allowed))
    srv.cleanup()
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def receiver():
    with OtlpReceiver() as r:
        yield r


@pytest.mark.parametrize("mpm", MPMS)
def test_a_request_becomes_a_trace(receiver, test_module, mpm):
    srv = make(receiver, mpm)
    try:
        tp = new_tp()
        before = time.time_ns()
        status, st = get(srv, "/t?x=1", {"traceparent": tp,
                                         "tracestate": "vendor=abc",
                                         "User-Agent": "otlp-test/1"})
        after = time.time_ns()
        assert status == 200
        trace, span, flags = st_tp(st)
        assert trace == tp[3:35] and flags == "01"
        # server span + phases + the module's spans (outer, inner, db,
        # cache, fixup.work)
        spans = trace_of(receiver, trace, 8)
        by_id = {s["span_id"]: s for s in spans}
        server, = [s for s in spans if s["kind"] == SERVER]
        assert server["span_id"] == span
        assert server["parent_span_id"] == tp[36:52]
        assert server["trace_state"] == "vendor=abc"
        assert server["name"] == "GET /t"
        # r->request_time: when the request line was read (the end may come
        # after the client has its answer: logging follows the response)
        assert before - 10**9 <= server["start"] <= after <= server["end"] + 10**9
        assert server["start"] < server["end"]
        attrs = server["attributes"]
        assert attrs["http.request.method"] == "GET"
        assert attrs["url.path"] == "/t"
        assert attrs["url.scheme"] == "http"
        assert attrs["http.route"] == "/t"
        assert attrs["http.response.status_code"] == 200
        assert attrs["server.port"] == srv.port
        assert attrs["server.address"] == "127.0.0.1"
        assert attrs["client.address"] == "127.0.0.1"
        assert attrs["network.protocol.version"] == "1.1"
        assert attrs["user_agent.original"] == "otlp-test/1"
        assert server["status_code"] == 0
        res = server["resource"]
        assert res["service.name"] == "shop-frontend"
        assert res["deployment.environment"] == "test"
        assert res["host.name"] and res["service.instance.id"]
        # The phases that ran, children of the server span, inside it.
        phases = [s for s in spans if s["name"] in PHASES]
        assert {"read", "translate", "handler"} <= {s["name"] for s in phases}
        for s in spans:
            assert s["trace_id"] == trace
            if s is not server:
                assert s["parent_span_id"] in by_id, s
                assert server["start"] - SLACK <= s["start"] <= s["end"] <= server["end"] + SLACK, s
        for s in phases:
            assert s["parent_span_id"] == span and s["kind"] == INTERNAL
        # The module's spans, nested as they were, with their real times:
        # inner slept 2 ms inside outer.
        outer, = [s for s in spans if s["name"] == "outer"]
        inner, = [s for s in spans if s["name"] == "inner"]
        assert inner["parent_span_id"] == outer["span_id"]
        assert outer["parent_span_id"] == span
        assert inner["end"] - inner["start"] >= 2_000_000
        assert outer["start"] <= inner["start"] <= inner["end"] <= outer["end"]
        assert outer["attributes"]["mod_profiler.desc"] == "handler work"
        # (the span API keeps CLOCK_MONOTONIC microseconds, the phases
        # ticks: a few microseconds apart at most)
        handler, = [s for s in phases if s["name"] == "handler"]
        assert handler["start"] - SLACK <= outer["start"] <= outer["end"] <= handler["end"] + SLACK
        # The access log names the same trace and span.
        deadline = time.time() + 5
        logged = []
        while not logged and time.time() < deadline:
            logged = [l.split() for l in open(os.path.join(srv.logs, "trace.log"))
                      if l.startswith("/t ")]
            time.sleep(0.05)
        assert logged and logged[-1][1:] == [trace, span], logged
        # The vendor's header came with the export.
        assert any(r.headers.get("X-Api-Key") == "k-123" for r in receiver.requests)
        assert any(r.headers.get("Content-Type") == "application/x-protobuf"
                   for r in receiver.requests)
    finally:
        finish(srv)


def test_new_trace_5xx_and_not_found(receiver, test_module):
    srv = make(receiver)
    try:
        status, st = get(srv, "/t?status=503")
        assert status == 503
        trace, span, _ = st_tp(st)
        server, = [s for s in trace_of(receiver, trace, 1)
                   if s["kind"] == SERVER]
        assert server["parent_span_id"] == ""
        assert server["status_code"] == 2          # ERROR for 5xx
        assert server["attributes"]["http.response.status_code"] == 503
        status, st = get(srv, "/nothing/here/42")
        assert status == 404
        trace, _, _ = st_tp(st)
        server, = [s for s in trace_of(receiver, trace, 1)
                   if s["kind"] == SERVER]
        assert server["name"] == "GET (not found)"
        assert server["status_code"] == 0
    finally:
        finish(srv)


def test_two_servers_one_trace(receiver):
    back = Httpd(r"""
Profiler On
ProfilerOTLPEndpoint %s
ProfilerOTLPServiceName backend
ProfilerOTLPBatch 64 50
""" % receiver.url, name="otlp-back")
    back.write("index.html", "<p>back</p>\n")
    back.start()
    front = make(receiver, extra="ProxyPass /up/ http://127.0.0.1:%d/\n"
                 % back.port, modules=["proxy", "proxy_http"],
                 name="otlp-front")
    try:
        status, st = get(front, "/up/index.html")
        assert status == 200
        trace, span, _ = st_tp(st)
        spans = trace_of(receiver, trace, 2 * 3, servers=2)
        servers = [s for s in spans if s["kind"] == SERVER]
        assert {s["resource"]["service.name"] for s in servers} == {
            "shop-frontend", "backend"}
        fs, = [s for s in servers if s["resource"]["service.name"] == "shop-frontend"]
        bs, = [s for s in servers if s["resource"]["service.name"] == "backend"]
        up, = [s for s in spans if s["kind"] == CLIENT]
        # front server -> its upstream (client) span -> the backend's server
        assert fs["span_id"] == span
        assert up["name"] == "upstream" and up["parent_span_id"] == span
        assert bs["parent_span_id"] == up["span_id"]
    finally:
        finish(front)
        finish(back)


def test_sampling_new_and_parent_based(receiver):
    srv = make(receiver, extra="ProfilerOTLPSample 0\n", name="otlp-sample")
    try:
        receiver.clear()
        _, st = get(srv, "/index.html")
        new_trace, _, flags = st_tp(st)
        assert flags == "00"                      # not sampled: not exported
        yes, no = new_tp("01"), new_tp("00")
        _, st = get(srv, "/index.html", {"traceparent": yes})
        assert st_tp(st)[2] == "01"               # the caller decided
        _, st = get(srv, "/index.html", {"traceparent": no})
        assert st_tp(st)[2] == "00"
        assert trace_of(receiver, yes[3:35], 3)
        time.sleep(0.5)                            # ten batch delays
        exported = {s["trace_id"] for s in receiver.spans()}
        assert exported == {yes[3:35]}, exported
    finally:
        finish(srv)


def test_json_and_gzip(receiver):
    srv = make(receiver, extra="ProfilerOTLPProtocol http/json\n"
               "ProfilerOTLPCompression gzip\n", name="otlp-json")
    try:
        receiver.clear()
        _, st = get(srv, "/index.html", {"traceparent": new_tp(),
                                         "User-Agent": "caf\xe9 \"q\"\\"})
        trace, span, _ = st_tp(st)
        spans = trace_of(receiver, trace, 3)
        server, = [s for s in spans if s["kind"] == SERVER]
        assert server["span_id"] == span
        assert server["attributes"]["http.response.status_code"] == 200
        # a byte that is not UTF-8 became U+FFFD; quotes and backslashes
        # survived the JSON escaping
        assert server["attributes"]["user_agent.original"] == "caf\ufffd \"q\"\\"
        reqs = [r for r in receiver.requests if r.spans]
        assert reqs and all(r.headers.get("Content-Type") == "application/json"
                            and r.headers.get("Content-Encoding") == "gzip"
                            for r in reqs)
    finally:
        finish(srv)


def test_collector_down_costs_nothing_and_export_resumes():
    with OtlpReceiver() as rcv:
        srv = make(rcv, extra="ProfilerOTLPTimeout 200\n", name="otlp-down")
        try:
            rcv.stop()
            t0 = time.time()
            for i in range(30):
                assert get(srv, "/index.html?i=%d" % i)[0] == 200
            # 30 requests while every export fails: they are not held up
            # by it (each export may take the 200 ms timeout)
            assert time.time() - t0 < 3
            time.sleep(1)
            rcv.start()
            tp = new_tp()
            _, st = get(srv, "/index.html", {"traceparent": tp})
            # a new attempt at least every 5 s: back within seconds
            assert trace_of(rcv, tp[3:35], 1, timeout=12)
            deadline = time.time() + 5
            while "PROF00394" not in srv.read_error_log() and time.time() < deadline:
                time.sleep(0.1)
            log = srv.read_error_log()
            # once per outage, not per request or per attempt
            assert log.count("PROF00396") == 1, log
            assert log.count("PROF00394") == 1, log
        finally:
            finish(srv, allowed=[r"PROF00396"])


@pytest.mark.parametrize("code", [429, 503])
def test_refusal_with_retry_after_is_honoured(code):
    with OtlpReceiver() as rcv:
        srv = make(rcv, name="otlp-%d" % code)
        try:
            rcv.respond(code, {"Retry-After": "1"}, times=1)
            tp = new_tp()
            t0 = time.time()
            _, st = get(srv, "/index.html", {"traceparent": tp})
            assert trace_of(rcv, tp[3:35], 1, timeout=10)
            assert time.time() - t0 >= 0.9        # waited as it was told
            codes = [r.status for r in rcv.requests]
            assert codes[:2] == [code, 200], codes
            assert srv.read_error_log().count("PROF00395") == 1
        finally:
            finish(srv, allowed=[r"PROF00395"])


def test_hanging_collector_timeout_and_full_queue():
    with OtlpReceiver() as rcv:
        srv = make(rcv, extra="ProfilerOTLPTimeout 200\nProfilerOTLPQueue 5\n"
                   "ProfilerOTLPBatch 2 10\n", name="otlp-hang")
        try:
            rcv.hang(True)
            t0 = time.time()
            for i in range(40):
                assert get(srv, "/index.html?i=%d" % i)[0] == 200
            assert time.time() - t0 < 4
            with urllib.request.urlopen(srv.url("/metrics"), timeout=10) as r:
                text = r.read().decode()
            m = re.search(r'mod_profiler_otlp_requests_total\{result="dropped"\} (\d+)', text)
            assert m and int(m.group(1)) > 0, text
            assert promtool_check(text) == ""
            # Held longer than the export timeout (200 ms), whatever the
            # speed of the requests above: an outage, said once.
            time.sleep(0.8)
            rcv.hang(False)
            # Export resumes (at the next attempt, within 5 s); the queue,
            # full now, takes new requests again once it has drained.
            deadline, back = time.time() + 15, []
            while not back and time.time() < deadline:
                tp = new_tp()
                get(srv, "/index.html", {"traceparent": tp})
                back = trace_of(rcv, tp[3:35], 1, timeout=0.5)
            assert back
            # said once, with what the outage cost
            deadline = time.time() + 5
            while "PROF00394" not in srv.read_error_log() and time.time() < deadline:
                time.sleep(0.1)
            m = re.search(r"PROF00394: .* (\d+) requests were dropped",
                          srv.read_error_log())
            assert m and int(m.group(1)) > 0, srv.read_error_log()
        finally:
            finish(srv, allowed=[r"PROF00396"])


def test_graceful_stop_flushes_the_queue():
    with OtlpReceiver() as rcv:
        srv = make(rcv, extra="ProfilerOTLPBatch 1000 60000\n", name="otlp-stop")
        try:
            traces = []
            for i in range(10):
                _, st = get(srv, "/index.html?i=%d" % i)
                traces.append(st_tp(st)[0])
            time.sleep(0.3)
            assert not rcv.spans()                # the batch waits: 60 s
            t0 = time.time()
            srv.graceful_stop()
            assert time.time() - t0 < 10
            got = {s["trace_id"] for s in rcv.spans() if s["kind"] == SERVER}
            assert got == set(traces)
        finally:
            problems = srv.log_problems()
            srv.cleanup()
            assert not problems, problems


def test_https_with_certificate_checking():
    with OtlpReceiver(tls=True) as rcv:
        good = make(rcv, extra="ProfilerOTLPCACertificateFile %s\n" % rcv.ca_file,
                    name="otlp-tls")
        bad = make(rcv, extra="ProfilerOTLPCACertificateFile %s\n"
                   % rcv.other_ca_file, name="otlp-tls-bad")
        try:
            assert rcv.url.startswith("https://")
            _, st = get(good, "/index.html")
            assert trace_of(rcv, st_tp(st)[0], 1)
            _, st = get(bad, "/index.html")
            bad_trace = st_tp(st)[0]
            deadline = time.time() + 5
            while "PROF00396" not in bad.read_error_log() and time.time() < deadline:
                time.sleep(0.1)
            assert "PROF00396" in bad.read_error_log()
            assert not [s for s in rcv.spans() if s["trace_id"] == bad_trace]
        finally:
            finish(good)
            finish(bad, allowed=[r"PROF00396"])


def test_h2_streams_exported(receiver):
    srv = make(receiver, extra="Protocols h2c http/1.1\n", modules=["http2"],
               name="otlp-h2")
    try:
        res = h2c_get(srv.port, ["/index.html?s=%d" % i for i in range(4)])
        traces = [st_tp(dict(h).get("server-timing"))[0] for _, h, _ in res]
        for t in traces:
            server, = [s for s in trace_of(receiver, t, 1) if s["kind"] == SERVER]
            assert server["attributes"]["network.protocol.version"] == "2"
    finally:
        finish(srv)
