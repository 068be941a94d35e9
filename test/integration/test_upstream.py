"""Server-Timing from backends: mod_proxy to a backend on the same test
server whose responses (mod_asis files) carry crafted Server-Timing fields,
valid, malformed and several; what the client receives is checked."""
import http.client

import pytest

from harness import MPMS, Httpd, dur_us, parse_server_timing

PHASES = ["read", "postread", "quick", "translate", "storage", "headers",
          "access", "authn", "authz", "type", "fixups", "handler", "total"]

CONF = r"""
Profiler On
ProfilerServerTiming On
AddHandler send-as-is asis
<Location /backend>
    # The backend answers as any server would: not profiled itself.
    Profiler Off
</Location>
ProxyPass /up/ http://127.0.0.1:@PORT@/backend/
ProxyPass /up-prefix/ http://127.0.0.1:@PORT@/backend/
ProxyPass /up-pass/ http://127.0.0.1:@PORT@/backend/
ProxyPass /up-drop/ http://127.0.0.1:@PORT@/backend/
<Location /up-prefix/>
    ProfilerUpstreamPrefix be-
</Location>
<Location /up-pass/>
    ProfilerUpstreamTiming pass
</Location>
<Location /up-drop/>
    ProfilerUpstreamTiming drop
</Location>
"""

ASIS = {
    "valid.asis": ["db;dur=53", 'cache;desc="hit", app;dur=47.2;desc="render, html"'],
    # fields are joined before parsing, as browsers do: an unterminated
    # quote would swallow the fields after it, so it comes last
    "bad.asis": [';;, ,good;dur=1, bad name;dur=x, (x)',
                 'dup;dur=2;dur=3;DESC=a;desc=b, junk;dur=4 trailing;desc=c, '
                 'q;desc="unterminated'],
    "none.asis": [],
}


@pytest.fixture(scope="module", params=MPMS)
def server(request):
    srv = Httpd(CONF, mpm=request.param, name="upstream-" + request.param,
                modules=["proxy", "proxy_http", "asis"])
    for name, fields in ASIS.items():
        head = "Status: 200 OK\nContent-Type: text/plain\n"
        head += "".join("Server-Timing: %s\n" % f for f in fields)
        srv.write("backend/" + name, head + "\nbody of %s\n" % name)
    srv.start()
    yield srv
    problems = srv.log_problems()
    srv.cleanup()
    assert not problems, "\n".join(problems)


def get(srv, path):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    fields = r.headers.get_all("Server-Timing") or []
    c.close()
    return r.status, body, fields


def split(entries):
    """(upstream entries, our phase entries, our spans)"""
    names = [n for n, _ in entries]
    first = next(i for i, n in enumerate(names) if n in PHASES)
    total = names.index("total")
    return entries[:first], entries[first:total + 1], entries[total + 1:]


def test_valid_fields_are_merged_first_in_order(server):
    status, body, fields = get(server, "/up/valid.asis")
    assert status == 200 and body == b"body of valid.asis\n"
    assert len(fields) == 1
    theirs, ours, spans = split(parse_server_timing(fields[0]))
    assert theirs == [("db", {"dur": "53.000"}), ("cache", {"desc": "hit"}),
                      ("app", {"dur": "47.200", "desc": "render, html"})]
    assert "handler" in [n for n, _ in ours]
    # the wait for the backend, as a span of ours
    assert [n for n, _ in spans] == ["upstream"]
    assert dur_us(spans[0][1]) > 0


def test_malformed_fields_arrive_clean(server):
    status, body, fields = get(server, "/up/bad.asis")
    assert status == 200 and len(fields) == 1
    # parse_server_timing is strict: this alone proves the value is valid
    theirs, ours, _ = split(parse_server_timing(fields[0]))
    got = dict(theirs)
    assert [n for n, _ in theirs] == ["good", "bad", "dup", "junk", "q"]
    assert got["good"] == {"dur": "1.000"}
    assert got["bad"] == {"dur": "0"}                 # not a number: 0
    assert got["q"] == {"desc": ""}                   # unterminated: empty
    assert got["dup"] == {"dur": "2.000", "desc": "a"}  # first ones win
    assert got["junk"] == {"dur": "4.000", "desc": "c"}  # junk skipped to ';'


def test_prefix(server):
    _, _, fields = get(server, "/up-prefix/valid.asis")
    theirs, _, _ = split(parse_server_timing(fields[0]))
    assert [n for n, _ in theirs] == ["be-db", "be-cache", "be-app"]


def test_pass_keeps_their_fields_as_sent(server):
    # (mod_proxy_http itself joins the backend's repeated fields with ", ")
    _, _, fields = get(server, "/up-pass/valid.asis")
    assert len(fields) == 2
    assert fields[0] == ", ".join(ASIS["valid.asis"])
    theirs, ours, _ = split(parse_server_timing(fields[1]))
    assert theirs == [] and ours[-1][0] == "total"


def test_drop_removes_their_fields(server):
    _, _, fields = get(server, "/up-drop/bad.asis")
    assert len(fields) == 1
    theirs, ours, spans = split(parse_server_timing(fields[0]))
    assert theirs == [] and [n for n, _ in spans] == ["upstream"]


def test_no_field_no_upstream_entries(server):
    _, _, fields = get(server, "/up/none.asis")
    theirs, ours, spans = split(parse_server_timing(fields[0]))
    assert theirs == [] and [n for n, _ in spans] == ["upstream"]


# -- A backend of its own: a second apache2, without mod_profiler -----------

BACKEND_CONF = r"""
AddHandler send-as-is asis
"""

FRONT_CONF = r"""
Profiler On
ProfilerServerTiming On
ProxyPass /merge/ http://127.0.0.1:@BACKEND@/
ProxyPass /drop/ http://127.0.0.1:@BACKEND@/
ProxyPass /drop-st-off/ http://127.0.0.1:@BACKEND@/
ProxyPass /drop-expr-false/ http://127.0.0.1:@BACKEND@/
ProxyPass /drop-unprofiled/ http://127.0.0.1:@BACKEND@/
ProxyPass /drop-bare/ http://127.0.0.1:@BACKEND@/
<Location /drop/>
    ProfilerUpstreamTiming drop
</Location>
<Location /drop-st-off/>
    ProfilerUpstreamTiming drop
    ProfilerServerTiming Off
</Location>
<Location /drop-expr-false/>
    ProfilerUpstreamTiming drop
    ProfilerServerTiming "expr=%{REQUEST_URI} =~ m#^/nowhere#"
</Location>
<Location /drop-unprofiled/>
    ProfilerUpstreamTiming drop
    Profiler Off
</Location>
"""

# Tabs inside quoted-strings, as qdtext and as a quoted-pair; a tab is the
# one control byte a quoted-string may hold.
BACKEND_ASIS = {
    "tab.asis": ("200 OK", ['app;dur=2;desc="a\tb", db;desc="x\\\ty"']),
    "valid.asis": ("200 OK", ['db;dur=53, cache;desc="hit"']),
    "missing.asis": ("404 Not Found", ['db;dur=1;desc="lookup"']),
    "broken.asis": ("500 Internal Server Error", ['app;dur=9']),
}


@pytest.fixture(scope="module", params=MPMS)
def front(request):
    backend = Httpd(BACKEND_CONF, mpm=request.param, profiler=False,
                    name="backend-" + request.param, modules=["asis"])
    for name, (status, fields) in BACKEND_ASIS.items():
        head = "Status: %s\nContent-Type: text/plain\n" % status
        head += "".join("Server-Timing: %s\n" % f for f in fields)
        backend.write(name, head + "\nbody of %s\n" % name)
    backend.start()
    srv = Httpd(FRONT_CONF.replace("@BACKEND@", str(backend.port)),
                mpm=request.param, name="front-" + request.param,
                modules=["proxy", "proxy_http"])
    try:
        srv.start()
        yield srv
        problems = srv.log_problems() + backend.log_problems()
    finally:
        srv.cleanup()
        backend.cleanup()
    assert not problems, "\n".join(problems)


def raw_fields(srv, path):
    """The Server-Timing fields as the bytes on the wire (latin-1)."""
    import socket
    with socket.create_connection(("127.0.0.1", srv.port), 10) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close"
                   "\r\n\r\n" % path).encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    return status, [line.split(":", 1)[1].lstrip(" ")
                    for line in head[1:]
                    if line.lower().startswith("server-timing:")]


def test_merge_keeps_a_tab_in_a_description(front):
    status, fields = raw_fields(front, "/merge/tab.asis")
    assert status == 200 and len(fields) == 1
    # byte for byte on the wire: the tab stays a tab, not a space
    assert fields[0].startswith('app;dur=2.000;desc="a\tb", db;desc="x\ty", ')
    theirs, _, _ = split(parse_server_timing(fields[0]))
    assert theirs == [("app", {"dur": "2.000", "desc": "a\tb"}),
                      ("db", {"desc": "x\ty"})]


@pytest.mark.parametrize("where", ["drop", "drop-st-off", "drop-expr-false",
                                   "drop-unprofiled"])
@pytest.mark.parametrize("page,code", [("valid.asis", 200),
                                       ("missing.asis", 404),
                                       ("broken.asis", 500)])
def test_drop_holds_whether_or_not_ours_is_sent(front, where, page, code):
    status, fields = raw_fields(front, "/%s/%s" % (where, page))
    assert status == code
    if where == "drop":
        # ours only
        assert len(fields) == 1
        theirs, ours, _ = split(parse_server_timing(fields[0]))
        assert theirs == [] and ours[-1][0] == "total"
    else:
        # no field of ours here, and still none of theirs
        assert fields == []


def test_merge_without_drop_still_passes_theirs(front):
    # the control: the same backend pages do carry a field
    status, fields = raw_fields(front, "/merge/missing.asis")
    assert status == 404 and len(fields) == 1
    theirs, _, _ = split(parse_server_timing(fields[0]))
    assert theirs == [("db", {"dur": "1.000", "desc": "lookup"})]
