"""W3C Trace Context (ProfilerTraceContext): a request continues its
caller's trace or starts one, says it in its environment and in
Server-Timing, and passes it on to the backends mod_proxy sends it to; a
trace through two real httpd servers is one trace. Checked against what the
servers log (%{...}e, %{traceparent}i) and what the client receives."""
import http.client
import os
import re
import time

import pytest

from harness import MPMS, Httpd, h2c_get, parse_server_timing

TRACE_LOG = r"""
LogFormat "%{X-Test-Request}i %U %{PROFILER_TRACE_ID}e %{PROFILER_SPAN_ID}e tp=%{traceparent}i ts=%{tracestate}i" trace
CustomLog @ROOT@/logs/trace.log trace
"""

BACK = TRACE_LOG + r"""
Profiler On
ProfilerTraceContext On
"""

FRONT = TRACE_LOG + r"""
Profiler On
ProfilerServerTiming On
ProfilerTraceContext On
ProfilerServerTimingTraceparent On
ProxyPass /up/ http://127.0.0.1:@BACKPORT@/
<Location /no-st-tp>
    ProfilerServerTimingTraceparent Off
</Location>
# The first is the default for requests of any other name: it inherits
# the main server's settings.
<VirtualHost 127.0.0.1:@PORT@>
    ServerName traced.test
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName plain.test
    ProfilerTraceContext Off
</VirtualHost>
"""

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


# The id of the last request get() sent (its X-Test-Request header, which
# mod_proxy passes on): a test reads the lines of its own request, never
# one an earlier test's request logs after its response was read (the log
# phase runs after the response is sent).
_last = {"id": None}
LAST = object()


def trace_log(srv, n, timeout=10, req=LAST):
    """The first n lines of srv's trace log, as dicts: those of request req
    (by default the last get()'s; None: any)."""
    if req is LAST:
        req = _last["id"]
    path = os.path.join(srv.logs, "trace.log")
    deadline = time.time() + timeout
    while True:
        lines = open(path).read().splitlines() if os.path.exists(path) else []
        if req is not None:
            lines = [ln for ln in lines if ln.split(" ", 1)[0] == req]
        if len(lines) >= n or time.time() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) >= n, lines
    out = []
    for line in lines[:n]:
        _, path_, trace, span, tp, ts = line.split(" ", 5)
        out.append({"path": path_, "trace": trace, "span": span,
                    "tp": tp[3:], "ts": ts[3:]})
    return out


def get(srv, path, headers=None, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        h = dict(headers or {})
        _last["id"] = h["X-Test-Request"] = os.urandom(6).hex()
        if host:
            h["Host"] = host
        conn.request("GET", path, headers=h)
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Server-Timing")
    finally:
        conn.close()


def st_traceparent(value):
    for name, params in parse_server_timing(value or ""):
        if name == "traceparent":
            return params.get("desc")
    return None


@pytest.fixture(scope="module", params=MPMS)
def servers(request):
    mpm = request.param
    back = Httpd(BACK, mpm=mpm, name="trace-back-" + mpm)
    back.write("index.html", "<p>back</p>\n")
    back.start()
    front = Httpd(FRONT.replace("@BACKPORT@", str(back.port)),
                  mpm=mpm, modules=["proxy", "proxy_http"],
                  name="trace-front-" + mpm)
    front.write("index.html", "<p>front</p>\n")
    front.write("no-st-tp/index.html", "<p>x</p>\n")
    front.start()
    yield front, back
    problems = front.log_problems() + back.log_problems()
    front.cleanup()
    back.cleanup()
    assert not problems, "\n".join(problems)


def fresh_logs(*srvs):
    for s in srvs:
        path = os.path.join(s.logs, "trace.log")
        if os.path.exists(path):
            open(path, "w").close()


def test_new_trace_and_two_servers_one_trace(servers):
    front, back = servers
    fresh_logs(front, back)
    status, st = get(front, "/up/index.html")
    assert status == 200
    tp = st_traceparent(st)
    m = TP_RE.match(tp or "")
    assert m, st
    trace, span, flags = m.groups()
    assert flags == "01"
    f, = trace_log(front, 1)
    b, = trace_log(back, 1)
    # The front's environment says its trace and span, as the header does.
    assert (f["trace"], f["span"]) == (trace, span)
    # The backend continues the same trace, under the span of the wait for
    # it (not the front's own span), and has a span of its own.
    bm = TP_RE.match(b["tp"])
    assert bm, b
    assert bm.group(1) == trace and b["trace"] == trace
    assert bm.group(2) not in (span, "0" * 16)
    assert bm.group(3) == "01"
    assert b["span"] not in (span, bm.group(2))
    # Another request: another trace.
    status, st2 = get(front, "/index.html")
    assert TP_RE.match(st_traceparent(st2)).group(1) != trace


def test_incoming_traceparent_is_continued(servers):
    front, back = servers
    fresh_logs(front, back)
    status, st = get(front, "/up/index.html",
                     {"traceparent": TP.replace("-01", "-00"),
                      "tracestate": "vendor=abc,other=1"})
    assert status == 200
    trace, span, flags = TP_RE.match(st_traceparent(st)).groups()
    assert trace == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span != "00f067aa0ba902b7"
    assert flags == "00"        # the caller's sampling decision
    b, = trace_log(back, 1)
    bt, bspan, bflags = TP_RE.match(b["tp"]).groups()
    assert (bt, bflags) == (trace, "00")
    assert bspan not in (span, "00f067aa0ba902b7")
    assert b["ts"] == "vendor=abc,other=1"     # tracestate went along


@pytest.mark.parametrize("bad", [
    TP.upper(),
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    TP + "-extra",
    "garbage",
])
def test_invalid_traceparent_starts_a_new_trace(servers, bad):
    front, back = servers
    fresh_logs(front, back)
    status, st = get(front, "/up/index.html",
                     {"traceparent": bad, "tracestate": "vendor=abc"})
    assert status == 200
    trace, _, flags = TP_RE.match(st_traceparent(st)).groups()
    assert trace not in ("4bf92f3577b34da6a3ce929d0e0e4736", "0" * 32)
    assert flags == "01"
    b, = trace_log(back, 1)
    assert TP_RE.match(b["tp"]).group(1) == trace
    # A tracestate without a valid traceparent belongs to no trace.
    assert b["ts"] == "-"


def test_off_leaves_everything_as_it_came(servers):
    front, back = servers
    fresh_logs(front, back)
    status, st = get(front, "/up/index.html",
                     {"traceparent": TP, "tracestate": "vendor=abc"},
                     host="plain.test")
    assert status == 200
    assert st_traceparent(st) is None
    f, = trace_log(front, 1)
    assert (f["trace"], f["span"]) == ("-", "-")
    b, = trace_log(back, 1)
    # The backend got the client's header as it was, and continued it.
    assert b["tp"] == TP and b["ts"] == "vendor=abc"
    assert b["trace"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_vhost_inherits_and_location_turns_the_entry_off(servers):
    front, _ = servers
    status, st = get(front, "/index.html", host="traced.test")
    assert status == 200 and TP_RE.match(st_traceparent(st) or "")
    status, st = get(front, "/no-st-tp/index.html")
    assert status == 200 and st_traceparent(st) is None
    assert "total" in st        # the rest of the header is there


def test_h2_streams_each_their_own_trace():
    """Concurrent HTTP/2 streams of one connection (mod_http2, event MPM):
    each its own trace and span, in its header and its environment."""
    srv = Httpd("Protocols h2c http/1.1\n" + FRONT.replace("@BACKPORT@", "9"),
                mpm="event", modules=["proxy", "proxy_http", "http2"],
                name="trace-h2")
    try:
        for i in range(4):
            srv.write("s%d.html" % i, "<p>%d</p>\n" % i)
        srv.start()
        res = h2c_get(srv.port, ["/s%d.html" % i for i in range(4)])
        seen = []
        for status, hdrs, _ in res:
            assert status == 200
            tp = st_traceparent(dict(hdrs).get("server-timing"))
            seen.append(TP_RE.match(tp or "").groups()[:2])
        logged = {(e["trace"], e["span"])
                  for e in trace_log(srv, 4, req=None)}
        assert logged == set(seen)
        assert len({t for t, _ in seen}) == 4
        srv.stop()
        assert not srv.log_problems(), srv.log_problems()
    finally:
        srv.cleanup()
