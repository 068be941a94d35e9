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
