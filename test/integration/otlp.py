"""A real OTLP/HTTP trace receiver for the tests.

OtlpReceiver is an HTTP/1.1 server (python's http.server, optionally behind
TLS) on a free 127.0.0.1 port that takes what an OpenTelemetry exporter
POSTs to /v1/traces, records every request and decodes the spans in it.

The decoding does not share anything with the module's C encoder:
protobuf bodies are decoded by Debian's protoc with the message definitions
of the OpenTelemetry specification in ./otlp (protoc --decode prints the
text format, parsed here); OTLP/JSON bodies are read by the rules of the
specification (lowerCamelCase keys, trace and span ids as hex, 64-bit
integers as numbers or strings, enums as integers, bytes as base64). Both
become the same plain structure, one dict per span (see normalise()).

Tests can make it misbehave like a real collector: answer an error status
(respond), accept a request and never answer it (hang), or go away and
come back on the same port (stop, start).
"""
import base64
import gzip
import http.server
import json
import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

OTLP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "otlp")
TRACE_SERVICE_PROTO = "opentelemetry/proto/collector/trace/v1/trace_service.proto"
REQUEST_MESSAGE = "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest"
TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# Enum values by name, from opentelemetry/proto/trace/v1/trace.proto.
SPAN_KINDS = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1,
              "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
              "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1,
                "STATUS_CODE_ERROR": 2}


class DecodeError(ValueError):
    """The body is not a valid ExportTraceServiceRequest."""


# -- protoc ----------------------------------------------------------------

def _protoc(mode, data, message):
    protoc = shutil.which("protoc")
    if protoc is None:
        raise RuntimeError("protoc is needed (Debian's protobuf-compiler)")
    r = subprocess.run(
        [protoc, "--%s=%s" % (mode, message), "--proto_path=%s" % OTLP_DIR,
         TRACE_SERVICE_PROTO], input=data, capture_output=True, timeout=30)
    if r.returncode != 0:
        raise DecodeError("protoc --%s: %s" % (
            mode, r.stderr.decode("utf-8", "replace").strip()))
    return r.stdout


def protoc_encode(text, message=REQUEST_MESSAGE):
    """The protobuf encoding of a message given in protobuf text format."""
    return _protoc("encode", text.encode("utf-8"), message)


def protoc_decode(data, message=REQUEST_MESSAGE):
    """protoc's text format rendering (str) of a protobuf encoded message."""
    # Latin-1 maps every byte to one character, so string contents
    # round-trip byte for byte through parse_text_format().
    return _protoc("decode", data, message).decode("latin-1")


# -- protobuf text format ----------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>-?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)[fF]?)
  | (?P<ident>-?[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[{}<>\[\]:,;])
""", re.VERBOSE)

_ESCAPES = {"n": 10, "r": 13, "t": 9, "a": 7, "b": 8, "f": 12, "v": 11,
            "\\": 92, "'": 39, '"': 34, "?": 63}


def _unescape(body):
    """The bytes a text format string literal (without its quotes) stands
    for: C escapes, octal (\\NNN) and hex (\\xHH) bytes, \\u and \\U code
    points; other characters are bytes already (see protoc_decode)."""
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("latin-1") if ord(c) < 256 else c.encode("utf-8")
            i += 1
            continue
        i += 1
        if i >= len(body):
            raise DecodeError("text format: string ends in a backslash")
        c = body[i]
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
            i += 1
        elif c in "01234567":
            m = re.match(r"[0-7]{1,3}", body[i:])
            out.append(int(m.group(), 8) & 0xFF)
            i += len(m.group())
        elif c in "xX":
            m = re.match(r"[0-9a-fA-F]{1,2}", body[i + 1:])
            if not m:
                raise DecodeError("text format: bad \\x escape")
            out.append(int(m.group(), 16))
            i += 1 + len(m.group())
        elif c in "uU":
            n = 4 if c == "u" else 8
            digits = body[i + 1:i + 1 + n]
            if not re.fullmatch(r"[0-9a-fA-F]{%d}" % n, digits):
                raise DecodeError("text format: bad \\%s escape" % c)
            out += chr(int(digits, 16)).encode("utf-8")
            i += 1 + n
        else:
            raise DecodeError("text format: unknown escape \\%s" % c)
    return bytes(out)


def _scalar(kind, text):
    if kind == "number":
        t = text.rstrip("fF") if not re.search(r"0[xX]", text) else text
        if re.fullmatch(r"-?0[xX][0-9a-fA-F]+", t):
            return int(t, 16)
        if re.fullmatch(r"-?\d+", t):
            return int(t)
        return float(t)
    low = text.lower()
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    if low in ("inf", "infinity", "-inf", "-infinity", "nan", "-nan"):
        return float(low.replace("infinity", "inf"))
    return text  # an enum value name


def parse_text_format(text):
    """Parse protobuf text format (as printed by protoc --decode) into
    nested dicts: field name -> list of values, in order. A value is a
    dict (message), bytes (string and bytes fields alike), int, float,
    bool, or str (enum value name). Unknown fields keep their number as
    name."""
    tokens = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise DecodeError("text format: unexpected %r at offset %d"
                              % (text[pos:pos + 20], pos))
        pos = m.end()
        if m.lastgroup != "space":
            tokens.append((m.lastgroup, m.group()))
    tokens.append(("end", ""))
    at = [0]

    def peek():
        return tokens[at[0]]

    def take(kind=None, value=None):
        tok = tokens[at[0]]
        if (kind and tok[0] != kind) or (value and tok[1] != value):
            raise DecodeError("text format: expected %s, got %r"
                              % (value or kind, tok[1]))
        at[0] += 1
        return tok

    def message(close):
        fields = {}
        while True:
            kind, name = peek()
            if kind == "end" and close is None:
                return fields
            if kind == "punct" and name == close:
                take()
                return fields
            if kind not in ("ident", "number"):
                raise DecodeError("text format: expected a field name, got %r"
                                  % name)
            take()
            values = fields.setdefault(name, [])
            if peek() == ("punct", ":"):
                take()
            if peek() == ("punct", "["):
                take()
                while peek() != ("punct", "]"):
                    values.append(value())
                    if peek() == ("punct", ","):
                        take()
                take()
            else:
                values.append(value())
            if peek() in (("punct", ","), ("punct", ";")):
                take()

    def value():
        kind, text = peek()
        if kind == "punct" and text in "{<":
            take()
            return message("}" if text == "{" else ">")
        if kind == "string":
            data = b""
            while peek()[0] == "string":  # adjacent literals concatenate
                data += _unescape(take()[1][1:-1])
            return data
        if kind in ("number", "ident"):
            take()
            return _scalar(kind, text)
        raise DecodeError("text format: expected a value, got %r" % text)

    return message(None)


# -- OTLP/JSON ---------------------------------------------------------------

# For each message: JSON key -> (field name, type, repeated). Types are the
# names of other messages here, or scalar kinds handled by _json_value().
_JSON_SCHEMA = {
    "ExportTraceServiceRequest": {
        "resourceSpans": ("resource_spans", "ResourceSpans", True)},
    "ResourceSpans": {
        "resource": ("resource", "Resource", False),
        "scopeSpans": ("scope_spans", "ScopeSpans", True),
        "schemaUrl": ("schema_url", "string", False)},
    "Resource": {
        "attributes": ("attributes", "KeyValue", True),
        "droppedAttributesCount": ("dropped_attributes_count", "uint32", False),
        "entityRefs": ("entity_refs", "ignored", True)},
    "ScopeSpans": {
        "scope": ("scope", "InstrumentationScope", False),
        "spans": ("spans", "Span", True),
        "schemaUrl": ("schema_url", "string", False)},
    "InstrumentationScope": {
        "name": ("name", "string", False),
        "version": ("version", "string", False),
        "attributes": ("attributes", "KeyValue", True),
        "droppedAttributesCount": ("dropped_attributes_count", "uint32", False)},
    "Span": {
        "traceId": ("trace_id", "hexid", False),
        "spanId": ("span_id", "hexid", False),
        "traceState": ("trace_state", "string", False),
        "parentSpanId": ("parent_span_id", "hexid", False),
        "flags": ("flags", "uint32", False),
        "name": ("name", "string", False),
        "kind": ("kind", "enum", False),
        "startTimeUnixNano": ("start_time_unix_nano", "uint64", False),
        "endTimeUnixNano": ("end_time_unix_nano", "uint64", False),
        "attributes": ("attributes", "KeyValue", True),
        "droppedAttributesCount": ("dropped_attributes_count", "uint32", False),
        "events": ("events", "Event", True),
        "droppedEventsCount": ("dropped_events_count", "uint32", False),
        "links": ("links", "Link", True),
        "droppedLinksCount": ("dropped_links_count", "uint32", False),
        "status": ("status", "Status", False)},
    "Event": {
        "timeUnixNano": ("time_unix_nano", "uint64", False),
        "name": ("name", "string", False),
        "attributes": ("attributes", "KeyValue", True),
        "droppedAttributesCount": ("dropped_attributes_count", "uint32", False)},
    "Link": {
        "traceId": ("trace_id", "hexid", False),
        "spanId": ("span_id", "hexid", False),
        "traceState": ("trace_state", "string", False),
        "attributes": ("attributes", "KeyValue", True),
        "droppedAttributesCount": ("dropped_attributes_count", "uint32", False),
        "flags": ("flags", "uint32", False)},
    "Status": {
        "message": ("message", "string", False),
        "code": ("code", "enum", False)},
    "KeyValue": {
        "key": ("key", "string", False),
        "value": ("value", "AnyValue", False)},
    "AnyValue": {
        "stringValue": ("string_value", "string", False),
        "boolValue": ("bool_value", "bool", False),
        "intValue": ("int_value", "int64", False),
        "doubleValue": ("double_value", "double", False),
        "arrayValue": ("array_value", "ArrayValue", False),
        "kvlistValue": ("kvlist_value", "KeyValueList", False),
        "bytesValue": ("bytes_value", "bytes", False)},
    "ArrayValue": {"values": ("values", "AnyValue", True)},
    "KeyValueList": {"values": ("values", "KeyValue", True)},
}

_INT_RANGES = {"uint32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1),
               "int64": (-2**63, 2**63 - 1), "enum": (-2**31, 2**31 - 1)}


def _json_int(v, typ, where):
    if isinstance(v, bool):
        raise DecodeError("JSON: %s: a boolean where an integer belongs" % where)
    if typ == "enum" and not isinstance(v, int):
        raise DecodeError("JSON: %s: enums are integers in OTLP/JSON, got %r"
                          % (where, v))
    if isinstance(v, str) and re.fullmatch(r"-?\d+", v):
        v = int(v)
    elif isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int):
        raise DecodeError("JSON: %s: not an integer: %r" % (where, v))
    lo, hi = _INT_RANGES[typ]
    if not lo <= v <= hi:
        raise DecodeError("JSON: %s: %d out of range for %s" % (where, v, typ))
    return v


def _json_value(v, typ, where, warnings):
    if typ in _JSON_SCHEMA:
        return _json_message(v, typ, where, warnings)
    if typ == "string":
        if not isinstance(v, str):
            raise DecodeError("JSON: %s: not a string: %r" % (where, v))
        return v.encode("utf-8")
    if typ == "hexid":
        # OTLP/JSON: ids are hex, not base64 as proto3 JSON would have it.
        if not isinstance(v, str) or not re.fullmatch(r"(?:[0-9a-fA-F]{2})*", v):
            raise DecodeError("JSON: %s: not a hex encoded id: %r" % (where, v))
        return bytes.fromhex(v)
    if typ == "bytes":
        if not isinstance(v, str):
            raise DecodeError("JSON: %s: not a base64 string: %r" % (where, v))
        try:
            return base64.b64decode(v.replace("-", "+").replace("_", "/")
                                    + "=" * (-len(v) % 4), validate=True)
        except ValueError:
            raise DecodeError("JSON: %s: not base64: %r" % (where, v))
    if typ == "bool":
        if not isinstance(v, bool):
            raise DecodeError("JSON: %s: not a boolean: %r" % (where, v))
        return v
    if typ == "double":
        if isinstance(v, str) and v in ("NaN", "Infinity", "-Infinity"):
            return float(v.replace("Infinity", "inf"))
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise DecodeError("JSON: %s: not a number: %r" % (where, v))
        return float(v)
    return _json_int(v, typ, where)


def _json_message(obj, typ, where, warnings):
    """A JSON object of message type typ as a parse_text_format() tree."""
    if not isinstance(obj, dict):
        raise DecodeError("JSON: %s: not an object: %r" % (where, obj))
    schema = _JSON_SCHEMA[typ]
    fields = {}
    for key, v in obj.items():
        here = "%s.%s" % (where, key)
        if key not in schema:
            # The specification: unknown keys are ignored. Original
            # (snake_case) field names are not valid keys, so they are
            # unknown too; note them for the tests.
            warnings.append("JSON: %s: unknown key ignored" % here)
            continue
        name, ftyp, repeated = schema[key]
        if v is None or ftyp == "ignored":
            continue
        if repeated:
            if not isinstance(v, list):
                raise DecodeError("JSON: %s: not an array" % here)
            fields[name] = [_json_value(x, ftyp, "%s[%d]" % (here, i), warnings)
                            for i, x in enumerate(v)]
        else:
            fields[name] = [_json_value(v, ftyp, here, warnings)]
    return fields


# -- normalisation -----------------------------------------------------------

def _one(msg, name, default=None):
    values = msg.get(name)
    return values[-1] if values else default  # the last one wins


def _string(msg, name):
    v = _one(msg, name, b"")
    if not isinstance(v, bytes):
        raise DecodeError("%s: not a string: %r" % (name, v))
    try:
        return v.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("%s: not UTF-8: %r" % (name, v))


def _hex(msg, name):
    v = _one(msg, name, b"")
    if not isinstance(v, bytes):
        raise DecodeError("%s: not bytes: %r" % (name, v))
    return v.hex()


def _int(msg, name):
    v = _one(msg, name, 0)
    if isinstance(v, bool) or not isinstance(v, int):
        raise DecodeError("%s: not an integer: %r" % (name, v))
    return v


def _enum(msg, name, names):
    v = _one(msg, name, 0)
    if isinstance(v, str):
        if v not in names:
            raise DecodeError("%s: unknown enum value %s" % (name, v))
        return names[v]
    return _int(msg, name)


def _any_value(av):
    """An AnyValue as a python value (None for an empty AnyValue)."""
    if not av:
        return None
    if len(av) > 1 or len(next(iter(av.values()))) > 1:
        raise DecodeError("AnyValue: more than one value: %r" % av)
    kind = next(iter(av))
    v = av[kind][0]
    if kind == "string_value":
        return _string(av, kind)
    if kind == "bool_value":
        if not isinstance(v, bool):
            raise DecodeError("bool_value: %r" % v)
        return v
    if kind == "int_value":
        return _int(av, kind)
    if kind == "double_value":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise DecodeError("double_value: %r" % v)
        return float(v)
    if kind == "bytes_value":
        if not isinstance(v, bytes):
            raise DecodeError("bytes_value: %r" % v)
        return v
    if kind == "array_value":
        return [_any_value(x) for x in v.get("values", [])]
    if kind == "kvlist_value":
        return _attributes(v.get("values", []), [], "kvlist_value")
    raise DecodeError("AnyValue: unexpected %s" % kind)


def _attributes(kvs, warnings, where):
    """A list of KeyValue as a dict; a repeated key is noted and the last
    one kept."""
    out = {}
    for kv in kvs:
        key = _string(kv, "key")
        if key in out:
            warnings.append("%s: attribute %r repeated" % (where, key))
        out[key] = _any_value(_one(kv, "value", {}))
    return out


def normalise(request, warnings=None):
    """The spans of an ExportTraceServiceRequest (a parse_text_format()
    tree) as a list of dicts:

      resource        {attribute: value} of the span's Resource
      scope           InstrumentationScope name ("" if none)
      scope_version   InstrumentationScope version
      trace_id        hex ("" if absent), likewise span_id, parent_span_id
      trace_state     str
      flags           int
      name            str
      kind            int (SPAN_KINDS)
      start, end      int, nanoseconds since the epoch
      attributes      {key: value}: str, bool, int, float, bytes, list
                      (array_value), dict (kvlist_value) or None (empty)
      dropped_attributes_count, dropped_events_count, dropped_links_count
      events          [{name, time, attributes, dropped_attributes_count}]
      links           [{trace_id, span_id, trace_state, flags, attributes,
                        dropped_attributes_count}]
      status_code     int (STATUS_CODES)
      status_message  str

    Problems short of invalid (repeated attribute keys) go to warnings."""
    if warnings is None:
        warnings = []
    spans = []
    for rs in request.get("resource_spans", []):
        resource = _attributes(_one(rs, "resource", {}).get("attributes", []),
                               warnings, "resource")
        for ss in rs.get("scope_spans", []):
            scope = _one(ss, "scope", {})
            for sp in ss.get("spans", []):
                name = _string(sp, "name")
                status = _one(sp, "status", {})
                spans.append({
                    "resource": resource,
                    "scope": _string(scope, "name"),
                    "scope_version": _string(scope, "version"),
                    "trace_id": _hex(sp, "trace_id"),
                    "span_id": _hex(sp, "span_id"),
                    "parent_span_id": _hex(sp, "parent_span_id"),
                    "trace_state": _string(sp, "trace_state"),
                    "flags": _int(sp, "flags"),
                    "name": name,
                    "kind": _enum(sp, "kind", SPAN_KINDS),
                    "start": _int(sp, "start_time_unix_nano"),
                    "end": _int(sp, "end_time_unix_nano"),
                    "attributes": _attributes(sp.get("attributes", []),
                                              warnings, "span %r" % name),
                    "dropped_attributes_count": _int(sp, "dropped_attributes_count"),
                    "events": [{
                        "name": _string(ev, "name"),
                        "time": _int(ev, "time_unix_nano"),
                        "attributes": _attributes(ev.get("attributes", []),
                                                  warnings, "event"),
                        "dropped_attributes_count":
                            _int(ev, "dropped_attributes_count"),
                    } for ev in sp.get("events", [])],
                    "dropped_events_count": _int(sp, "dropped_events_count"),
                    "links": [{
                        "trace_id": _hex(ln, "trace_id"),
                        "span_id": _hex(ln, "span_id"),
                        "trace_state": _string(ln, "trace_state"),
                        "flags": _int(ln, "flags"),
                        "attributes": _attributes(ln.get("attributes", []),
                                                  warnings, "link"),
                        "dropped_attributes_count":
                            _int(ln, "dropped_attributes_count"),
                    } for ln in sp.get("links", [])],
                    "dropped_links_count": _int(sp, "dropped_links_count"),
                    "status_code": _enum(status, "code", STATUS_CODES),
                    "status_message": _string(status, "message"),
                })
    return spans


def decode_protobuf(data, warnings=None):
    """(tree, spans) of a protobuf encoded ExportTraceServiceRequest."""
    tree = parse_text_format(protoc_decode(data))
    return tree, normalise(tree, warnings)


def decode_json(data, warnings=None):
    """(tree, spans) of an OTLP/JSON ExportTraceServiceRequest (bytes)."""
    if warnings is None:
        warnings = []
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise DecodeError("JSON: %s" % e)
    tree = _json_message(obj, "ExportTraceServiceRequest", "$", warnings)
    return tree, normalise(tree, warnings)


# -- the server ----------------------------------------------------------------

class Headers(dict):
    """Request headers: keys as sent, lookups case-insensitive. A header
    sent more than once has its values joined with ", "."""

    def _key(self, name):
        for k in dict.keys(self):
            if k.lower() == name.lower():
                return k
        return name

    def __getitem__(self, name):
        return dict.__getitem__(self, self._key(name))

    def __contains__(self, name):
        return dict.__contains__(self, self._key(name))

    def get(self, name, default=None):
        return dict.get(self, self._key(name), default)


class Request:
    """One request as received, and what became of it.

    method, path, headers (Headers), body (bytes as sent, maybe gzipped),
    data (the body after Content-Encoding), content_type (media type,
    lower case, no parameters), encoding (Content-Encoding or None), time
    (time.time() when the body was in), tree (parse_text_format() form of
    the request, None if undecoded), spans (normalise() form, [] if
    undecoded), error (why it was not decoded, or None), warnings (list),
    status (the status answered; None while held by hang() or if never
    answered)."""

    def __init__(self, method, path, headers):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = b""
        self.data = b""
        self.content_type = None
        self.encoding = None
        self.time = None
        self.tree = None
        self.spans = []
        self.error = None
        self.warnings = []
        self.status = None

    @property
    def accepted(self):
        """Answered with success: its spans count as received."""
        return self.status is not None and 200 <= self.status < 300 \
            and self.error is None

    def __repr__(self):
        return "<Request %s %s %s %s status=%s spans=%d error=%r>" % (
            self.method, self.path, self.content_type, self.encoding or "",
            self.status, len(self.spans), self.error)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a collector does
    server_version = "mod_profiler-otlp-test"

    def setup(self):
        super().setup()
        self.server.receiver._connection(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.receiver._connection(self.connection, False)

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        self.server.receiver._handle(self)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, receiver, port):
        self.receiver = receiver
        super().__init__(("127.0.0.1", port), _Handler)

    def finish_request(self, request, client_address):
        ctx = self.receiver._tls_context
        if ctx is not None:
            request.settimeout(10)
            try:
                request = ctx.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as e:
                self.receiver._tls_error(e)
                request.close()
                return
            request.settimeout(None)
            try:
                super().finish_request(request, client_address)
            finally:
                # shutdown_request() closes only the plain socket given
                # to this method, which wrap_socket() has emptied.
                self.shutdown_request(request)
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # a client going away mid-request is no news here


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _make_ca(d, name):
    """A self-signed CA certificate and key: (cert path, key path)."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", "/CN=mod_profiler test %s" % name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-keyout", name + ".key", "-out", name + ".pem", cwd=d)
    return os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")


class OtlpReceiver:
    """An OTLP/HTTP trace receiver on 127.0.0.1 (see the module docstring).

    Use as a context manager, or start() and close(). Answers POST
    /v1/traces with an empty ExportTraceServiceResponse (protobuf: empty
    body; JSON: {}), or 400 if the body does not decode, 415 for another
    Content-Type or Content-Encoding, 404 for another path, 405 for
    another method. Everything is recorded in .requests."""

    def __init__(self, tls=False):
        self.port = None
        self.tls = tls
        self.dir = tempfile.mkdtemp(prefix="mod_profiler-otlp-")
        self.ca_file = self.other_ca_file = None
        self.cert_file = self.key_file = None
        self._tls_context = None
        self.tls_errors = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests = []
        self._canned = None  # [status, headers, body, times left or None]
        self._hang = False
        self._hanging = 0
        self._stopping = False
        self._connections = set()
        self._server = None
        self._thread = None
        if tls:
            self._make_certificates()

    # -- life cycle --------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def endpoint(self):
        """scheme://127.0.0.1:port, without a path."""
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http",
                                      self.port)

    @property
    def url(self):
        """The traces URL, e.g. http://127.0.0.1:PORT/v1/traces."""
        return self.endpoint + TRACES_PATH

    def running(self):
        return self._server is not None

    def start(self):
        """Listen (again): on a free port the first time, then on the same
        port."""
        if self._server is not None:
            return
        server = _Server(self, self.port or 0)
        self.port = server.server_address[1]
        self._stopping = False
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def stop(self):
        """Close the listener and every open connection, without answering
        held requests: the collector is down. start() brings it back."""
        server = self._server
        if server is None:
            return
        with self._lock:
            self._stopping = True
            self._changed.notify_all()
            conns = list(self._connections)
        server.shutdown()
        server.server_close()
        for c in conns:
            try:
                # socket.socket's own shutdown, also under an SSLSocket: it
                # wakes a thread blocked reading without touching its TLS
                # state.
                socket.socket.shutdown(c, socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(10)
        deadline = time.time() + 5
        while self._connections and time.time() < deadline:
            time.sleep(0.01)
        self._server = None

    def close(self):
        """stop() and remove the certificates."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- behaviour -----------------------------------------------------------
    def respond(self, status=200, headers=None, times=None, body=None):
        """Answer the next `times` requests (all, if None) with `status`,
        `headers` (dict) and `body` (bytes; default empty) instead of the
        usual answer; then answer as usual again. respond() restores the
        usual answers at once. A 2xx status counts the spans as accepted
        (e.g. a partial success body)."""
        with self._lock:
            if status == 200 and headers is None and body is None:
                self._canned = None
            else:
                self._canned = [status, dict(headers or {}), body, times]

    def hang(self, on=True):
        """hang(True): read each request, record it, and hold the
        connection without answering until hang(False) (then it gets its
        answer as usual), the client closes it, or stop()."""
        with self._lock:
            self._hang = on
            self._changed.notify_all()

    @property
    def hanging(self):
        """How many requests are held right now."""
        with self._lock:
            return self._hanging

    # -- results ---------------------------------------------------------------
    @property
    def requests(self):
        """Every request so far, in arrival order (a copy of the list)."""
        with self._lock:
            return list(self._requests)

    def spans(self):
        """The spans of every accepted request so far, in arrival order."""
        with self._lock:
            return [s for r in self._requests if r.accepted for s in r.spans]

    def clear(self):
        """Forget the requests (and their spans) so far."""
        with self._lock:
            self._requests = []
            self.tls_errors = []

    def wait_for_requests(self, n, timeout=10):
        """The requests once at least n have arrived (answered or not)."""
        return self._wait(lambda: len(self._requests) >= n,
                          lambda: list(self._requests), timeout,
                          "%d requests" % n)

    def wait_for_spans(self, n, timeout=10):
        """spans() once at least n spans were accepted; AssertionError,
        with what did arrive, after timeout seconds."""
        def count():
            return sum(len(r.spans) for r in self._requests if r.accepted)
        return self._wait(lambda: count() >= n,
                          lambda: [s for r in self._requests if r.accepted
                                   for s in r.spans], timeout, "%d spans" % n)

    def _wait(self, done, result, timeout, what):
        deadline = time.time() + timeout
        with self._lock:
            while not done():
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(
                        "OTLP receiver: no %s within %ss; requests: %r; TLS "
                        "errors: %r" % (what, timeout, self._requests,
                                        self.tls_errors))
                self._changed.wait(min(left, 0.1))
            return result()

    # -- internals -----------------------------------------------------------
    def _connection(self, conn, opened):
        with self._lock:
            (self._connections.add if opened else self._connections.discard)(conn)

    def _tls_error(self, e):
        with self._lock:
            self.tls_errors.append(str(e))
            self._changed.notify_all()

    def _handle(self, h):
        headers = Headers()
        for k, v in h.headers.items():
            headers[k] = headers[k] + ", " + v if k in headers else v
        req = Request(h.command, h.path, headers)
        try:
            req.body = h.read_body()
        except (OSError, ValueError):
            h.close_connection = True
            return
        req.time = time.time()
        status = self._decode(req)
        with self._lock:
            self._requests.append(req)
            self._changed.notify_all()
        if not self._hold(h):
            h.close_connection = True
            return
        with self._lock:
            canned = self._canned
            if canned is not None:
                if canned[3] is not None:
                    canned[3] -= 1
                    if canned[3] <= 0:
                        self._canned = None
                status, extra, body = canned[0], canned[1], canned[2]
            else:
                extra, body = {}, None
        if body is None:
            body = b"{}" if (status == 200 and req.content_type == JSON) else b""
        # Recorded first: the client may look at the receiver as soon as
        # it has the answer.
        with self._lock:
            req.status = status
            self._changed.notify_all()
        try:
            h.send_response(status)
            h.send_header("Content-Type", req.content_type
                          if req.content_type in (PROTOBUF, JSON) else PROTOBUF)
            for k, v in extra.items():
                h.send_header(k, str(v))
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            h.wfile.flush()
        except OSError:
            with self._lock:
                req.status = None
            h.close_connection = True

    def _decode(self, req):
        """Decode req in place; the status to answer (unless respond())."""
        if req.method != "POST":
            req.error = "method %s" % req.method
            return 405
        if req.path.split("?")[0] != TRACES_PATH:
            req.error = "path %s" % req.path
            return 404
        ctype = req.headers.get("Content-Type", "")
        req.content_type = ctype.split(";")[0].strip().lower()
        req.encoding = req.headers.get("Content-Encoding")
        enc = (req.encoding or "identity").strip().lower()
        if req.content_type not in (PROTOBUF, JSON):
            req.error = "Content-Type %r" % ctype
            return 415
        if enc not in ("identity", "gzip"):
            req.error = "Content-Encoding %r" % req.encoding
            return 415
        try:
            req.data = gzip.decompress(req.body) if enc == "gzip" else req.body
            decode = decode_protobuf if req.content_type == PROTOBUF else decode_json
            req.tree, req.spans = decode(req.data, req.warnings)
        except (DecodeError, OSError, EOFError) as e:
            req.error = str(e)
            req.spans = []
            return 400
        return 200

    def _hold(self, h):
        """Wait while hang() is on; False if the client went away or the
        receiver stopped meanwhile."""
        conn = h.connection
        with self._lock:
            if not self._hang:
                return True
            self._hanging += 1
        try:
            while True:
                with self._lock:
                    if self._stopping:
                        return False
                    if not self._hang:
                        return True
                    self._changed.wait(0.05)
                try:
                    readable = select.select([conn], [], [], 0)[0]
                    if readable:
                        if isinstance(conn, ssl.SSLSocket):
                            # No peeking under TLS: a client waiting for
                            # its answer sends nothing, so whatever comes
                            # (close_notify, EOF) means it is going away.
                            conn.settimeout(0.05)
                            try:
                                gone = conn.recv(1) == b""
                            except socket.timeout:
                                gone = False
                            finally:
                                conn.settimeout(None)
                        else:
                            gone = conn.recv(1, socket.MSG_PEEK) == b""
                        if gone:
                            return False
                except (OSError, ValueError):
                    return False
        finally:
            with self._lock:
                self._hanging -= 1
                self._changed.notify_all()

    def _make_certificates(self):
        """A throw-away CA, a server certificate from it for 127.0.0.1 and
        localhost, and a second CA that signed nothing here."""
        d = self.dir
        self.ca_file, ca_key = _make_ca(d, "ca")
        self.other_ca_file, _ = _make_ca(d, "other-ca")
        with open(os.path.join(d, "server.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes",
                 "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
                 "-out", "server.csr", cwd=d)
        _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem",
                 "-CAkey", "ca.key", "-set_serial",
                 str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
                 "-extfile", "server.ext", "-out", "server.pem", cwd=d)
        self.cert_file = os.path.join(d, "server.pem")
        self.key_file = os.path.join(d, "server.key")
        # The children of a root httpd run as www-data and must read the CAs.
        os.chmod(d, 0o755)
        for f in (self.ca_file, self.other_ca_file, self.cert_file):
            os.chmod(f, 0o644)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        self._tls_context = ctx
