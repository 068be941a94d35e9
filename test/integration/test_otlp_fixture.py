"""The OTLP/HTTP receiver in otlp.py, so that what it reports about the
module's exporter can be trusted: requests are encoded here by protoc from
protobuf text format (or written as OTLP/JSON by hand), sent over real
HTTP, and every normalised field is checked against values written out
below."""
import base64
import gzip
import http.client
import json
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request

import pytest

import otlp
from otlp import OtlpReceiver


def _octal(hexid):
    """A text format string literal for the bytes of a hex id, every byte
    as an octal escape (protoc prints them back its own way)."""
    return '"%s"' % "".join("\\%03o" % b for b in bytes.fromhex(hexid))


# Bytes that protoc prints as octal escapes, as C escapes (\" \' \\ \n
# \t) and as themselves (A, ~, ?, a).
TRACE = "0022275c0a41ff7f80092000fe7e3f61"
SERVER = "5c22270a00ff0141"
CLIENT = "1112131415161718"
INTERNAL = "2122232425262728"
LINKED_TRACE = "abcdef0123456789abcdef0123456789"
LINKED_SPAN = "0fedcba987654321"
OTHER_TRACE = "ffffffffffffffffffffffffffffffff"
OTHER_SPAN = "0000000000000001"
T0 = 1700000000123456789

REQUEST_TEXT = r"""
resource_spans {
  resource {
    attributes { key: "service.name" value { string_value: "mod_profiler-test" } }
    attributes { key: "host.name" value { string_value: "h\303\251te" } }
    dropped_attributes_count: 5
  }
  scope_spans {
    scope { name: "mod_profiler" version: "0.1.0" }
    spans {
      trace_id: %(trace)s
      span_id: %(server)s
      trace_state: "vendor=a,other=b"
      flags: 769
      name: "GET /caf\303\251"
      kind: SPAN_KIND_SERVER
      start_time_unix_nano: %(t0)d
      end_time_unix_nano: %(t0_end)d
      attributes { key: "http.request.method" value { string_value: "GET" } }
      attributes { key: "url.path"
                   value { string_value: "/caf\303\251?q=\"x\"\n\t\\" } }
      attributes { key: "http.response.status_code" value { int_value: 503 } }
      attributes { key: "big" value { int_value: 9223372036854775807 } }
      attributes { key: "neg" value { int_value: -9223372036854775808 } }
      attributes { key: "yes" value { bool_value: true } }
      attributes { key: "no" value { bool_value: false } }
      attributes { key: "ratio" value { double_value: 0.125 } }
      attributes { key: "huge" value { double_value: 1e300 } }
      attributes { key: "minus" value { double_value: -2.5 } }
      attributes { key: "whole" value { double_value: 3 } }
      attributes { key: "list" value { array_value {
          values { string_value: "a" }
          values { int_value: 1 }
          values { bool_value: true }
          values { double_value: 1.5 } } } }
      attributes { key: "map" value { kvlist_value {
          values { key: "k1" value { string_value: "v" } }
          values { key: "k2" value { int_value: 7 } } } } }
      attributes { key: "raw" value { bytes_value: "\000\001\"\377" } }
      attributes { key: "empty" value { } }
      dropped_attributes_count: 2
      events {
        time_unix_nano: %(t0_event)d
        name: "exception"
        attributes { key: "exception.type" value { string_value: "Timeout" } }
        dropped_attributes_count: 1
      }
      events { time_unix_nano: %(t0_event2)d name: "retry" }
      dropped_events_count: 3
      links {
        trace_id: %(linked_trace)s
        span_id: %(linked_span)s
        trace_state: "k=v"
        attributes { key: "link.kind" value { string_value: "follows" } }
        dropped_attributes_count: 6
        flags: 1
      }
      dropped_links_count: 4
      status { message: "upstream \"down\"" code: STATUS_CODE_ERROR }
    }
    spans {
      trace_id: %(trace)s
      span_id: %(client)s
      parent_span_id: %(server)s
      flags: 1
      name: "GET"
      kind: SPAN_KIND_CLIENT
      start_time_unix_nano: %(t0_client)d
      end_time_unix_nano: %(t0_client_end)d
      attributes { key: "server.address" value { string_value: "127.0.0.1" } }
      attributes { key: "server.port" value { int_value: 8080 } }
      status { code: STATUS_CODE_OK }
    }
    spans {
      trace_id: %(trace)s
      span_id: %(internal)s
      parent_span_id: %(server)s
      name: "handler"
      kind: SPAN_KIND_INTERNAL
      start_time_unix_nano: %(t0_client)d
      end_time_unix_nano: %(t0_client)d
    }
  }
}
resource_spans {
  resource {
    attributes { key: "service.name" value { string_value: "other" } }
  }
  scope_spans {
    scope { name: "s2" }
    spans {
      trace_id: %(other_trace)s
      span_id: %(other_span)s
      name: "lonely"
      start_time_unix_nano: 1
      end_time_unix_nano: 18446744073709551615
    }
  }
}
""" % {"trace": _octal(TRACE), "server": _octal(SERVER),
       "client": _octal(CLIENT), "internal": _octal(INTERNAL),
       "linked_trace": _octal(LINKED_TRACE), "linked_span": _octal(LINKED_SPAN),
       "other_trace": _octal(OTHER_TRACE), "other_span": _octal(OTHER_SPAN),
       "t0": T0, "t0_end": T0 + 100000000, "t0_event": T0 + 50000000,
       "t0_event2": T0 + 60000000, "t0_client": T0 + 1000,
       "t0_client_end": T0 + 90000000}

# The same request as OTLP/JSON: hex ids (one in upper case), 64-bit
# integers as strings and as numbers, enums as integers.
REQUEST_JSON = {"resourceSpans": [{
    "resource": {
        "attributes": [
            {"key": "service.name", "value": {"stringValue": "mod_profiler-test"}},
            {"key": "host.name", "value": {"stringValue": "h\u00e9te"}}],
        "droppedAttributesCount": 5},
    "scopeSpans": [{
        "scope": {"name": "mod_profiler", "version": "0.1.0"},
        "spans": [{
            "traceId": TRACE, "spanId": SERVER,
            "traceState": "vendor=a,other=b", "flags": 769,
            "name": "GET /caf\u00e9", "kind": 2,
            "startTimeUnixNano": str(T0),
            "endTimeUnixNano": T0 + 100000000,
            "attributes": [
                {"key": "http.request.method", "value": {"stringValue": "GET"}},
                {"key": "url.path",
                 "value": {"stringValue": "/caf\u00e9?q=\"x\"\n\t\\"}},
                {"key": "http.response.status_code", "value": {"intValue": 503}},
                {"key": "big", "value": {"intValue": "9223372036854775807"}},
                {"key": "neg", "value": {"intValue": -9223372036854775808}},
                {"key": "yes", "value": {"boolValue": True}},
                {"key": "no", "value": {"boolValue": False}},
                {"key": "ratio", "value": {"doubleValue": 0.125}},
                {"key": "huge", "value": {"doubleValue": 1e300}},
                {"key": "minus", "value": {"doubleValue": -2.5}},
                {"key": "whole", "value": {"doubleValue": 3}},
                {"key": "list", "value": {"arrayValue": {"values": [
                    {"stringValue": "a"}, {"intValue": "1"},
                    {"boolValue": True}, {"doubleValue": 1.5}]}}},
                {"key": "map", "value": {"kvlistValue": {"values": [
                    {"key": "k1", "value": {"stringValue": "v"}},
                    {"key": "k2", "value": {"intValue": 7}}]}}},
                {"key": "raw", "value": {"bytesValue": base64.b64encode(
                    b"\x00\x01\"\xff").decode()}},
                {"key": "empty", "value": {}}],
            "droppedAttributesCount": 2,
            "events": [
                {"timeUnixNano": str(T0 + 50000000), "name": "exception",
                 "attributes": [{"key": "exception.type",
                                 "value": {"stringValue": "Timeout"}}],
                 "droppedAttributesCount": 1},
                {"timeUnixNano": T0 + 60000000, "name": "retry"}],
            "droppedEventsCount": 3,
            "links": [{
                "traceId": LINKED_TRACE.upper(), "spanId": LINKED_SPAN,
                "traceState": "k=v",
                "attributes": [{"key": "link.kind",
                                "value": {"stringValue": "follows"}}],
                "droppedAttributesCount": 6, "flags": 1}],
            "droppedLinksCount": 4,
            "status": {"message": "upstream \"down\"", "code": 2},
        }, {
            "traceId": TRACE, "spanId": CLIENT, "parentSpanId": SERVER,
            "flags": 1, "name": "GET", "kind": 3,
            "startTimeUnixNano": str(T0 + 1000),
            "endTimeUnixNano": str(T0 + 90000000),
            "attributes": [
                {"key": "server.address", "value": {"stringValue": "127.0.0.1"}},
                {"key": "server.port", "value": {"intValue": "8080"}}],
            "status": {"code": 1},
        }, {
            "traceId": TRACE, "spanId": INTERNAL, "parentSpanId": SERVER,
            "name": "handler", "kind": 1,
            "startTimeUnixNano": str(T0 + 1000),
            "endTimeUnixNano": str(T0 + 1000),
        }]}]}, {
    "resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "other"}}]},
    "scopeSpans": [{
        "scope": {"name": "s2"},
        "spans": [{
            "traceId": OTHER_TRACE, "spanId": OTHER_SPAN, "parentSpanId": "",
            "name": "lonely", "startTimeUnixNano": "1",
            "endTimeUnixNano": "18446744073709551615"}]}]}]}

RESOURCE = {"service.name": "mod_profiler-test", "host.name": "h\u00e9te"}


def _span(**fields):
    span = {"resource": RESOURCE, "scope": "mod_profiler",
            "scope_version": "0.1.0", "trace_id": TRACE, "parent_span_id": "",
            "trace_state": "", "flags": 0, "kind": 0, "attributes": {},
            "dropped_attributes_count": 0, "events": [],
            "dropped_events_count": 0, "links": [], "dropped_links_count": 0,
            "status_code": 0, "status_message": ""}
    span.update(fields)
    return span


EXPECTED = [
    _span(span_id=SERVER, trace_state="vendor=a,other=b", flags=769,
          name="GET /caf\u00e9", kind=2, start=T0, end=T0 + 100000000,
          attributes={
              "http.request.method": "GET",
              "url.path": "/caf\u00e9?q=\"x\"\n\t\\",
              "http.response.status_code": 503,
              "big": 2**63 - 1,
              "neg": -2**63,
              "yes": True,
              "no": False,
              "ratio": 0.125,
              "huge": 1e300,
              "minus": -2.5,
              "whole": 3.0,
              "list": ["a", 1, True, 1.5],
              "map": {"k1": "v", "k2": 7},
              "raw": b"\x00\x01\"\xff",
              "empty": None},
          dropped_attributes_count=2,
          events=[{"name": "exception", "time": T0 + 50000000,
                   "attributes": {"exception.type": "Timeout"},
                   "dropped_attributes_count": 1},
                  {"name": "retry", "time": T0 + 60000000, "attributes": {},
                   "dropped_attributes_count": 0}],
          dropped_events_count=3,
          links=[{"trace_id": LINKED_TRACE, "span_id": LINKED_SPAN,
                  "trace_state": "k=v", "flags": 1,
                  "attributes": {"link.kind": "follows"},
                  "dropped_attributes_count": 6}],
          dropped_links_count=4,
          status_code=2, status_message="upstream \"down\""),
    _span(span_id=CLIENT, parent_span_id=SERVER, flags=1, name="GET", kind=3,
          start=T0 + 1000, end=T0 + 90000000,
          attributes={"server.address": "127.0.0.1", "server.port": 8080},
          status_code=1),
    _span(span_id=INTERNAL, parent_span_id=SERVER, name="handler", kind=1,
          start=T0 + 1000, end=T0 + 1000),
    _span(resource={"service.name": "other"}, scope="s2", scope_version="",
          trace_id=OTHER_TRACE, span_id=OTHER_SPAN, name="lonely",
          start=1, end=2**64 - 1),
]


def typed(value):
    """value with the type of every scalar in it, so that comparisons tell
    3 from 3.0 and 1 from True."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def post(receiver, body, content_type=otlp.PROTOBUF, headers=None,
         path=otlp.TRACES_PATH, timeout=5, context=None, method="POST"):
    """(status, response headers, response body) of one request."""
    if receiver.tls:
        conn = http.client.HTTPSConnection("127.0.0.1", receiver.port,
                                           timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port,
                                          timeout=timeout)
    try:
        h = {"Content-Type": content_type}
        h.update(headers or {})
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


@pytest.fixture(scope="session")
def built_module():
    """Overrides conftest.py's: the receiver needs no mod_profiler build."""
    return None


@pytest.fixture(scope="module")
def encoded():
    return otlp.protoc_encode(REQUEST_TEXT)


@pytest.fixture
def receiver():
    with OtlpReceiver() as r:
        yield r


def test_protobuf(receiver, encoded):
    assert receiver.url == "http://127.0.0.1:%d/v1/traces" % receiver.port
    status, headers, body = post(receiver, encoded,
                                 headers={"User-Agent": "fixture-test"})
    assert (status, body) == (200, b"")
    assert headers["Content-Type"] == "application/x-protobuf"
    [r] = receiver.requests
    assert r.error is None and r.warnings == [], r
    assert (r.method, r.path, r.status) == ("POST", "/v1/traces", 200)
    assert r.content_type == "application/x-protobuf" and r.encoding is None
    assert r.body == r.data == encoded
    assert r.headers["user-agent"] == r.headers["USER-AGENT"] == "fixture-test"
    assert "content-length" in r.headers
    assert r.time <= time.time()
    for got, want in zip(r.spans, EXPECTED):
        assert typed(got) == typed(want)
    assert r.spans == EXPECTED
    assert receiver.spans() == EXPECTED
    assert receiver.wait_for_spans(4, timeout=1) == EXPECTED


def test_protobuf_gzip(receiver, encoded):
    packed = gzip.compress(encoded)
    status, _, _ = post(receiver, packed, headers={"Content-Encoding": "gzip"})
    assert status == 200
    [r] = receiver.requests
    assert r.encoding == "gzip" and r.body == packed and r.data == encoded
    assert typed(r.spans) == typed(EXPECTED)


def test_json_gives_the_same(receiver):
    body = json.dumps(REQUEST_JSON).encode()
    for headers in ({}, {"Content-Encoding": "gzip"}):
        data = gzip.compress(body) if headers else body
        status, rh, rbody = post(receiver, data, "application/json; charset=utf-8",
                                 headers)
        assert (status, json.loads(rbody)) == (200, {})
        assert rh["Content-Type"] == "application/json"
    for r in receiver.requests:
        assert r.content_type == "application/json"
        assert r.error is None and r.warnings == [], r
        assert typed(r.spans) == typed(EXPECTED)
    assert receiver.spans() == EXPECTED + EXPECTED


def test_decoding_sees_changes(receiver, encoded):
    """A different request decodes differently: nothing is taken for
    granted."""
    text = REQUEST_TEXT.replace("SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER") \
        .replace('int_value: 8080', 'int_value: 8081')
    post(receiver, otlp.protoc_encode(text))
    spans = receiver.spans()
    assert spans != EXPECTED
    assert (spans[1]["kind"], spans[1]["attributes"]["server.port"]) == (4, 8081)
    # A byte changed on the wire: one letter of the span name.
    at = encoded.index(b"handler")
    post(receiver, encoded[:at] + b"H" + encoded[at + 1:])
    assert receiver.requests[1].spans[2]["name"] == "Handler"


def test_json_rules(receiver):
    """OTLP/JSON is not plain proto3 JSON: ids are hex, not base64; enums are
    integers; snake_case keys are unknown and ignored."""
    def one_span(**fields):
        span = {"traceId": TRACE, "spanId": SERVER, "name": "x", "kind": 2}
        span.update(fields)
        return json.dumps({"resourceSpans": [{"scopeSpans": [
            {"spans": [span]}]}]}).encode()

    b64 = base64.b64encode(bytes.fromhex(TRACE)).decode()
    assert post(receiver, one_span(traceId=b64), otlp.JSON)[0] == 400
    assert "hex" in receiver.requests[-1].error
    assert post(receiver, one_span(kind="SPAN_KIND_SERVER"), otlp.JSON)[0] == 400
    assert "enum" in receiver.requests[-1].error
    assert post(receiver, one_span(startTimeUnixNano="12x"), otlp.JSON)[0] == 400
    assert post(receiver, b"{not json", otlp.JSON)[0] == 400
    assert receiver.spans() == []

    assert post(receiver, one_span(trace_id="00", startTimeUnixNano=5),
                otlp.JSON)[0] == 200
    r = receiver.requests[-1]
    assert r.warnings == ["JSON: $.resourceSpans[0].scopeSpans[0].spans[0]"
                          ".trace_id: unknown key ignored"]
    [span] = receiver.spans()
    assert (span["trace_id"], span["span_id"], span["kind"], span["start"],
            span["resource"], span["scope"]) == (TRACE, SERVER, 2, 5, {}, "")


def test_bad_requests(receiver, encoded):
    assert post(receiver, b"\xff\xff\xff")[0] == 400
    assert "protoc --decode" in receiver.requests[-1].error
    assert post(receiver, b"not gzip", headers={"Content-Encoding": "gzip"})[0] == 400
    assert post(receiver, encoded, headers={"Content-Encoding": "br"})[0] == 415
    assert post(receiver, encoded, "text/plain")[0] == 415
    assert post(receiver, encoded, path="/v1/metrics")[0] == 404
    assert post(receiver, None, method="GET")[0] == 405
    assert [r.status for r in receiver.requests] == [400, 400, 415, 415, 404, 405]
    assert all(r.error for r in receiver.requests)
    assert receiver.spans() == []
    receiver.clear()
    assert receiver.requests == []


def test_chunked_and_expect_continue(receiver, encoded):
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    conn.request("POST", "/v1/traces", body=iter([encoded[:100], encoded[100:]]),
                 headers={"Content-Type": otlp.PROTOBUF}, encode_chunked=True)
    assert conn.getresponse().status == 200
    conn.close()
    # curl's way for larger bodies: wait for "100 Continue" first.
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as s:
        s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/x-protobuf\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n"
                  % len(encoded))
        assert s.recv(100).startswith(b"HTTP/1.1 100 ")
        s.sendall(encoded)
        assert s.recv(100).startswith(b"HTTP/1.1 200 ")
    receiver.wait_for_requests(2)
    assert [r.spans for r in receiver.requests] == [EXPECTED, EXPECTED]
    assert receiver.requests[0].headers["Transfer-Encoding"] == "chunked"


def test_keep_alive(receiver, encoded):
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    try:
        for _ in range(3):
            conn.request("POST", "/v1/traces", body=encoded,
                         headers={"Content-Type": otlp.PROTOBUF})
            r = conn.getresponse()
            assert (r.status, r.read()) == (200, b"")
    finally:
        conn.close()
    assert len(receiver.wait_for_spans(12)) == 12


def test_respond(receiver, encoded):
    receiver.respond(429, {"Retry-After": "2"}, times=1)
    status, headers, _ = post(receiver, encoded)
    assert (status, headers["Retry-After"]) == (429, "2")
    status, headers, _ = post(receiver, encoded)
    assert (status, headers["Retry-After"]) == (200, None)
    receiver.respond(503, {"Retry-After": "1"})
    assert [post(receiver, encoded)[0] for _ in range(3)] == [503] * 3
    receiver.respond()
    assert post(receiver, encoded)[0] == 200
    assert [r.status for r in receiver.requests] == [429, 200, 503, 503, 503, 200]
    # Refused requests are decoded, but their spans were not accepted.
    assert receiver.requests[0].spans == EXPECTED
    assert receiver.spans() == EXPECTED + EXPECTED
    # A partial success is a success with a body.
    partial = otlp.protoc_encode(
        'partial_success { rejected_spans: 1 error_message: "too old" }',
        "opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse")
    receiver.respond(200, body=partial, times=1)
    assert post(receiver, encoded)[2] == partial
    assert post(receiver, encoded)[2] == b""


def test_wait_for_spans_times_out(receiver):
    started = time.time()
    with pytest.raises(AssertionError, match="no 1 spans"):
        receiver.wait_for_spans(1, timeout=0.3)
    assert time.time() - started < 2


def test_hang(receiver, encoded):
    receiver.hang(True)
    # The client gives up: the receiver lets the connection go.
    with pytest.raises(socket.timeout):
        post(receiver, encoded, timeout=0.5)
    [r] = receiver.requests
    assert r.status is None and r.spans == EXPECTED
    deadline = time.time() + 3
    while receiver.hanging and time.time() < deadline:
        time.sleep(0.02)
    assert receiver.hanging == 0 and r.status is None
    assert receiver.spans() == []

    # Turned off while a client still waits: it gets its answer.
    result = []
    t = threading.Thread(target=lambda: result.append(post(receiver, encoded,
                                                           timeout=10)))
    t.start()
    receiver.wait_for_requests(2)
    time.sleep(0.3)
    assert result == [] and receiver.hanging == 1
    receiver.hang(False)
    t.join(5)
    assert result[0][0] == 200
    assert receiver.spans() == EXPECTED


def test_stop_start_same_port(receiver, encoded):
    port = receiver.port
    kept = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    kept.request("POST", "/v1/traces", body=encoded,
                 headers={"Content-Type": otlp.PROTOBUF})
    assert kept.getresponse().read() == b""
    receiver.hang(True)
    held = []
    t = threading.Thread(target=lambda: held.append(
        _error_of(lambda: post(receiver, encoded, timeout=10))))
    t.start()
    receiver.wait_for_requests(2)

    receiver.stop()
    t.join(5)
    assert held and isinstance(held[0], (ConnectionError, http.client.HTTPException))
    with pytest.raises(ConnectionRefusedError):
        post(receiver, encoded)
    # The kept-alive connection is gone too.
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        kept.request("POST", "/v1/traces", body=encoded,
                     headers={"Content-Type": otlp.PROTOBUF})
        kept.getresponse()
    kept.close()

    receiver.hang(False)
    receiver.start()
    assert receiver.port == port and receiver.url.endswith(":%d/v1/traces" % port)
    assert post(receiver, encoded)[0] == 200
    assert [r.status for r in receiver.requests] == [200, None, 200]
    assert receiver.spans() == EXPECTED + EXPECTED


def _error_of(fn):
    try:
        return fn()
    except Exception as e:
        return e


def test_tls(encoded):
    with OtlpReceiver(tls=True) as receiver:
        assert receiver.url.startswith("https://127.0.0.1:")
        ok = ssl.create_default_context(cafile=receiver.ca_file)
        for host in ("127.0.0.1", "localhost"):
            req = urllib.request.Request(
                "https://%s:%d/v1/traces" % (host, receiver.port), data=encoded,
                headers={"Content-Type": otlp.PROTOBUF})
            with urllib.request.urlopen(req, context=ok, timeout=5) as r:
                assert (r.status, r.read()) == (200, b"")
        assert receiver.spans() == EXPECTED + EXPECTED

        bad = ssl.create_default_context(cafile=receiver.other_ca_file)
        req = urllib.request.Request(receiver.url, data=encoded,
                                     headers={"Content-Type": otlp.PROTOBUF})
        with pytest.raises(urllib.error.URLError) as e:
            urllib.request.urlopen(req, context=bad, timeout=5)
        assert isinstance(e.value.reason, ssl.SSLCertVerificationError)
        assert len(receiver.requests) == 2
        deadline = time.time() + 3
        while not receiver.tls_errors and time.time() < deadline:
            time.sleep(0.02)
        assert "unknown ca" in receiver.tls_errors[0].lower()
        # Plain HTTP to the TLS port gets nowhere.
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port,
                                          timeout=5)
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            conn.request("POST", "/v1/traces", body=encoded)
            conn.getresponse()
        conn.close()

        # Held and stopped under TLS as well.
        receiver.hang(True)
        with pytest.raises(socket.timeout):
            post(receiver, encoded, timeout=0.5, context=ok)
        receiver.stop()
        receiver.hang(False)
        receiver.start()
        assert post(receiver, encoded, context=ok)[0] == 200
        d = receiver.dir
    assert not os.path.exists(d)


def test_text_format_parser():
    tree = otlp.parse_text_format(
        'a: "x\\101\\x42\\u00e9\\n" "y"\n'
        'b { c: 1 c: -2 d: 0x10 e: 1.5e-3 f: inf g: SPAN_KIND_SERVER } '
        'h: [1, 2] i: true 99: 7 # comment\n'
        "j: 'q\\'' k < l: false >")
    assert tree == {
        "a": [b"xAB\xc3\xa9\ny"],
        "b": [{"c": [1, -2], "d": [16], "e": [0.0015], "f": [float("inf")],
               "g": ["SPAN_KIND_SERVER"]}],
        "h": [1, 2], "i": [True], "99": [7], "j": [b"q'"],
        "k": [{"l": [False]}]}
    with pytest.raises(otlp.DecodeError):
        otlp.parse_text_format("a { b: 1")
    with pytest.raises(otlp.DecodeError):
        otlp.parse_text_format('a: "\\q"')
