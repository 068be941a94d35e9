"""The whole record (body and log included) as the trace log shows it.

With ProfilerServerTiming Off the only reader of the record is the trace
log; the output filter must still be inserted for it, so that handler ends
at the first body brigade and body and log are measured.
"""
import re
import time
import urllib.request

import pytest

from harness import Httpd

PHASES = ["read", "postread", "quick", "translate", "storage", "headers",
          "access", "authn", "authz", "type", "fixups", "handler", "body", "log"]
LINE = re.compile(r"profile of (\S+): total=(\d+)us ttfb=(\d+)us (.*)$")


@pytest.fixture(scope="module")
def server():
    srv = Httpd("Profiler On\nProfilerServerTiming Off\n"
                "<Location /quiet>\n  LogLevel profiler:info\n</Location>\n",
                loglevel="warn profiler:trace1", name="record")
    srv.write("index.html", "x" * 200000)
    srv.write("quiet/index.html", "q")
    srv.start()
    yield srv
    problems = srv.log_problems()
    srv.cleanup()
    assert not problems, "\n".join(problems)


def records(srv, path):
    out = []
    for line in srv.read_error_log().splitlines():
        m = LINE.search(line)
        if m and m.group(1) == path:
            phases = dict((k, int(v)) for k, v in
                          (kv.split("=") for kv in m.group(4).split()))
            out.append((int(m.group(2)), int(m.group(3)), phases))
    return out


def test_trace_log_has_the_whole_record(server):
    with urllib.request.urlopen(server.url("/index.html")) as resp:
        assert resp.status == 200 and "Server-Timing" not in resp.headers
        assert len(resp.read()) == 200000
    for _ in range(50):                 # logging runs after the response
        recs = records(server, "/index.html")
        if recs:
            break
        time.sleep(0.05)
    assert len(recs) == 1
    total, ttfb, phases = recs[0]
    assert phases.pop("spans_dropped") == 0
    assert sorted(phases, key=PHASES.index) == PHASES
    # body was measured: the filter was there although no header was sent
    assert phases["handler"] > 0 and phases["body"] > 0
    assert ttfb <= total
    assert sum(phases.values()) <= total


def test_no_reader_no_record_line(server):
    with urllib.request.urlopen(server.url("/quiet/index.html")) as resp:
        assert resp.status == 200
    time.sleep(0.3)
    assert records(server, "/quiet/index.html") == []
