"""Every response of the report carries each security header exactly once
(they were sent twice: set in headers_out and in err_headers_out, which
httpd adds together), and every API error, a wrong method included, is
JSON like the others. Read from the raw bytes on the wire: a client
library would merge repeated headers."""
import json
import socket

import pytest

from report import CSP, report_server
from store import SqliteDb, build_test_module

SECURITY = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": CSP,
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.fixture(scope="module")
def srv(built_module):
    s = report_server(SqliteDb, build_test_module(), name="report-headers")
    yield s
    s.graceful_stop()
    problems = s.log_problems((r"PROF00019",))
    s.cleanup()
    assert not problems, "\n".join(problems)


def raw(srv, method, path, headers=(), body=b""):
    """(status, [(name, value)], body) as sent."""
    # HTTP/1.0: no chunked body to decode.
    req = ["%s %s HTTP/1.0" % (method, path),
           "Host: 127.0.0.1:%d" % srv.port] + list(headers)
    if body:
        req.append("Content-Length: %d" % len(body))
    data = ("\r\n".join(req) + "\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", srv.port), 30) as s:
        s.sendall(data)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    head, _, rest = got.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]]
    return status, hdrs, rest


def origin(srv):
    return "Origin: http://127.0.0.1:%d" % srv.port


CASES = [
    ("GET", "/profiler/", (), 200, "text/html"),
    ("GET", "/profiler/requests", (), 200, "text/html"),
    ("GET", "/profiler/requests?route=/t", (), 200, "text/html"),
    ("GET", "/profiler/requests/1", (), 404, "text/html"),
    ("GET", "/profiler/nothing", (), 404, "text/html"),
    ("GET", "/profiler/?limit=0", (), 400, "text/html"),
    ("POST", "/profiler/", (), 405, None),
    ("HEAD", "/profiler/api/v1/summary", (), 200, "application/json"),
    ("GET", "/profiler/api/v1/summary", (), 200, "application/json"),
    ("GET", "/profiler/api/v1/summary?format=csv", (), 200, "text/csv"),
    ("GET", "/profiler/api/v1/timeseries", (), 200, "application/json"),
    ("GET", "/profiler/api/v1/histogram", (), 200, "application/json"),
    ("GET", "/profiler/api/v1/requests", (), 200, "application/json"),
    ("GET", "/profiler/api/v1/health", (), 200, "application/json"),
    ("GET", "/profiler/api/v1/route?route=/t", (), 200, "application/json"),
    ("GET", "/profiler/api/v1/summary?limit=0", (), 400, "application/json"),
    ("GET", "/profiler/api/v1/requests/1", (), 404, "application/json"),
    ("GET", "/profiler/api/v1/nothing", (), 404, "application/json"),
    ("GET", "/profiler/api/", (), 404, "application/json"),
    ("POST", "/profiler/api/v1/summary", (), 405, "application/json"),
    ("DELETE", "/profiler/api/v1/requests/1", (), 405, "application/json"),
    ("OPTIONS", "/profiler/api/v1/health", (), 405, "application/json"),
    ("GET", "/profiler/assets/app.css", (), 200, "text/css"),
    ("GET", "/profiler/assets/nothing.js", (), 404, None),
    ("POST", "/profiler/assets/app.js", (), 405, None),
    ("GET", "/profiler/actions/prune", (), 405, "application/json"),
    ("POST", "/profiler/actions/prune", (), 403, "application/json"),
    ("POST", "/profiler/actions/nothing", ("ORIGIN",), 404,
     "application/json"),
    ("POST", "/profiler/actions/prune", ("ORIGIN",), 303, None),
]


@pytest.mark.parametrize("method,path,extra,status,ctype", CASES)
def test_each_security_header_once(srv, method, path, extra, status, ctype):
    headers = [origin(srv) if h == "ORIGIN" else h for h in extra]
    got, hdrs, body = raw(srv, method, path, headers)
    assert got == status, (method, path, got, body[:300])
    names = [n.lower() for n, _ in hdrs]
    for name, value in SECURITY.items():
        assert names.count(name) == 1, (method, path, name, hdrs)
        assert dict((n.lower(), v) for n, v in hdrs)[name] == value
    if ctype:
        h = dict((n.lower(), v) for n, v in hdrs)
        assert h["content-type"].startswith(ctype), (method, path, hdrs)
        if ctype == "application/json" and method != "HEAD":
            d = json.loads(body)
            if status >= 400:
                assert d["error"]["status"] == status, d


def test_wrong_method_on_the_api_says_what_is_allowed(srv):
    got, hdrs, body = raw(srv, "POST", "/profiler/api/v1/requests")
    assert got == 405
    h = dict((n.lower(), v) for n, v in hdrs)
    assert "GET" in h["allow"]
    d = json.loads(body)
    assert d["error"]["status"] == 405 and "GET" in d["error"]["message"]
