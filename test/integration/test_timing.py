"""Phase timing and Server-Timing against a real apache2, on each MPM."""
import base64
import http.client
import os
import re
import socket
import subprocess
import time

import pytest

from harness import MPMS, Httpd, dur_us, parse_server_timing

PHASES = ["read", "postread", "quick", "translate", "storage", "headers",
          "access", "authn", "authz", "type", "fixups", "handler", "body",
          "log", "total"]
HEADER_PHASES = [p for p in PHASES if p not in ("body", "log")]

CONF = r"""
Profiler On
ProfilerServerTiming On
DirectoryIndex index.html
ErrorDocument 404 /errors/404.html
ErrorDocument 500 "custom 500 text"
Redirect 500 /boom
Protocols h2c http/1.1

<Location /off>
    Profiler Off
</Location>
<Location /st-off>
    ProfilerServerTiming Off
</Location>
<Location /gated-header>
    ProfilerServerTiming "expr=%{HTTP:X-Profile} == 'yes'"
</Location>
<Location /gated-ip-in>
    ProfilerServerTiming "expr=-R '127.0.0.0/8'"
</Location>
<Location /gated-ip-out>
    ProfilerServerTiming "expr=-R '10.0.0.0/8'"
</Location>
<Location /forbidden>
    Require all denied
</Location>
<Location /cached>
    ExpiresActive On
    ExpiresDefault "access plus 5 minutes"
</Location>
# At server level: mod_cache's quick handler only sees these.
CacheEnable socache /cached
CacheSocache shmcb
<Location /small>
    ProfilerServerTimingMaxSize 40
</Location>
<Location /preset>
    Header set Server-Timing "cdn;dur=5;desc=\"edge cache\""
</Location>
<Location /preset-pass>
    Header set Server-Timing "cdn;dur=5;desc=\"edge cache\""
    ProfilerUpstreamTiming pass
</Location>
<Location /preset-drop>
    Header set Server-Timing "cdn;dur=5;desc=\"edge cache\""
    ProfilerUpstreamTiming drop
</Location>
<Location /private>
    AuthType Basic
    AuthName "test"
    AuthBasicProvider file
    AuthUserFile @ROOT@/htpasswd
    Require valid-user
</Location>
<Directory @ROOT@/htdocs/rw>
    RewriteEngine On
    RewriteRule ^target\.html$ - [L]
    RewriteRule ^(.*)$ target.html [L]
</Directory>
<Directory @ROOT@/htdocs/ssi>
    Options +Includes
    AddOutputFilter INCLUDES .shtml
</Directory>

<VirtualHost 127.0.0.1:@PORT@>
    ServerName main.test
    RewriteEngine On
    RewriteRule ^/pt/(.*)$ /$1 [PT]
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName inherit.test
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName off.test
    Profiler Off
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName loc.test
    Profiler Off
    <Location /on>
        Profiler On
    </Location>
</VirtualHost>
"""

MODULES = ["rewrite", "headers", "include", "auth_basic", "authn_file",
           "authz_user", "expires", "cache", "cache_socache", "socache_shmcb",
           "http2"]


def make_server(mpm):
    """The server every timing test talks to, with all its content."""
    # mod_http2 does not run on prefork (it says so in a warning and leaves
    # HTTP/2 off), so the prefork server is HTTP/1.1 only.
    mods = [m for m in MODULES if not (mpm == "prefork" and m == "http2")]
    body = CONF if mpm != "prefork" else CONF.replace("Protocols h2c http/1.1", "")
    srv = Httpd(body, mpm=mpm, modules=mods, name="timing-" + mpm)
    srv.write("index.html", "<h1>hello</h1>\n")
    srv.write("errors/404.html", "<h1>custom not found</h1>\n")
    for d in ("off", "st-off", "gated-header", "gated-ip-in", "gated-ip-out",
              "small", "preset", "preset-pass", "preset-drop", "private", "on",
              "dir", "cached"):
        srv.write(d + "/index.html", "<p>%s</p>\n" % d)
    srv.write("rw/target.html", "<p>rewritten target</p>\n")
    srv.write("ssi/page.shtml",
              'a<!--#include virtual="/index.html" -->b'
              '<!--#include virtual="/dir/index.html" -->c\n')
    subprocess.run(["htpasswd", "-cbB", "-C", "10", os.path.join(srv.root, "htpasswd"),
                    "alice", "secret"], check=True, capture_output=True)
    os.chmod(os.path.join(srv.root, "htpasswd"), 0o644)
    return srv.start()


def finish_server(srv):
    # The one error line our tests provoke on purpose: the 403 test.
    problems = srv.log_problems(
        allowed=[r"AH01630: client denied by server configuration: .*/forbidden"])
    srv.cleanup()
    assert not problems, "unexpected error log lines:\n" + "\n".join(problems)


@pytest.fixture(scope="module", params=MPMS)
def server(request):
    srv = make_server(request.param)
    yield srv
    finish_server(srv)


def request(srv, path, method="GET", headers=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    c.request(method, path, headers=headers or {})
    resp = c.getresponse()
    body = resp.read()
    fields = resp.headers.get_all("Server-Timing") or []
    if conn is None:
        c.close()
    return resp, body, fields


def our_entries(fields):
    """Our Server-Timing field: the last one (we append after others)."""
    assert fields, "no Server-Timing header"
    return parse_server_timing(fields[-1])


def check_phases(entries, must=("read", "total")):
    names = [n for n, _ in entries]
    assert len(names) == len(set(names)), names
    for n in names:
        assert n in HEADER_PHASES, "unexpected entry %r" % n
    assert names == sorted(names, key=HEADER_PHASES.index), names
    assert names[-1] == "total"
    for m in must:
        assert m in names, (m, names)
    durs = {n: dur_us(p) for n, p in entries}
    assert sum(v for n, v in durs.items() if n != "total") <= durs["total"], durs
    return durs


def test_phases_present_and_within_total(server):
    resp, body, fields = request(server, "/index.html")
    assert resp.status == 200 and body == b"<h1>hello</h1>\n"
    assert len(fields) == 1
    check_phases(our_entries(fields),
                 must=("read", "translate", "storage", "handler", "total"))


def test_slow_phase_is_charged_to_it(server):
    # A large directory walk is storage's; a body the handler sends is the
    # handler's. Both should dominate a request for a file deep in a tree.
    # The median of several requests, so that one preempted phase on a
    # busy machine cannot decide the test.
    deep = "/".join("d%d" % i for i in range(30))
    server.write(deep + "/f.html", "x")
    diffs = []
    for _ in range(7):
        resp, _, fields = request(server, "/" + deep + "/f.html")
        assert resp.status == 200
        durs = check_phases(our_entries(fields), must=("storage", "handler"))
        diffs.append(durs["storage"] - durs.get("translate", 0))
    assert sorted(diffs)[3] > 0, diffs


def test_off_in_location(server):
    resp, _, fields = request(server, "/off/index.html")
    assert resp.status == 200 and fields == []


def test_server_timing_off_in_location(server):
    resp, _, fields = request(server, "/st-off/index.html")
    assert resp.status == 200 and fields == []


@pytest.mark.parametrize("host,path,expected", [
    ("main.test", "/index.html", True),
    ("inherit.test", "/index.html", True),
    ("off.test", "/index.html", False),
    ("loc.test", "/index.html", False),
    ("loc.test", "/on/index.html", True),
])
def test_vhosts(server, host, path, expected):
    resp, _, fields = request(server, path, headers={"Host": host})
    assert resp.status == 200
    assert bool(fields) == expected, (host, path, fields)
    if expected:
        check_phases(our_entries(fields))


def test_expr_gate(server):
    assert request(server, "/gated-header/")[2] == []
    assert request(server, "/gated-header/", headers={"X-Profile": "no"})[2] == []
    fields = request(server, "/gated-header/", headers={"X-Profile": "yes"})[2]
    check_phases(our_entries(fields))
    check_phases(our_entries(request(server, "/gated-ip-in/")[2]))
    assert request(server, "/gated-ip-out/")[2] == []


def test_403_from_access(server):
    resp, _, fields = request(server, "/forbidden/x")
    assert resp.status == 403
    durs = check_phases(our_entries(fields), must=("access",))
    assert "handler" not in durs and "type" not in durs


def test_401_and_authn_authz(server):
    resp, _, fields = request(server, "/private/index.html")
    assert resp.status == 401
    # Phases under a microsecond are left out of the header, so only the
    # phases with real work in them are required: bcrypt is authn's.
    check_phases(our_entries(fields), must=("authn",))
    auth = "Basic " + base64.b64encode(b"alice:secret").decode()
    resp, _, fields = request(server, "/private/index.html",
                              headers={"Authorization": auth})
    assert resp.status == 200
    durs = check_phases(our_entries(fields), must=("authn", "handler"))
    # bcrypt at cost 10 (tens of ms) makes authentication the slowest phase
    # by far, and visibly so.
    assert durs["authn"] >= 5000, durs
    assert durs["authn"] == max(v for n, v in durs.items() if n != "total")


def test_404_plain_and_error_document(server):
    # ErrorDocument /errors/404.html: an internal redirect after the handler.
    resp, body, fields = request(server, "/missing.html")
    assert resp.status == 404 and b"custom not found" in body
    assert len(fields) == 1
    check_phases(our_entries(fields), must=("handler",))


def test_500_with_string_error_document(server):
    resp, body, fields = request(server, "/boom")
    assert resp.status == 500 and b"custom 500 text" in body
    assert len(fields) == 1
    check_phases(our_entries(fields), must=("translate",))


@pytest.mark.parametrize("path,text", [
    ("/dir/", b"<p>dir</p>"),              # DirectoryIndex: subrequest + fast redirect
    ("/pt/index.html", b"<h1>hello</h1>"),  # mod_rewrite [PT] in server context
    ("/rw/anything", b"rewritten target"),  # per-dir rewrite: internal redirect
])
def test_internal_redirects(server, path, text):
    resp, body, fields = request(server, path)
    assert resp.status == 200 and text in body
    assert len(fields) == 1
    check_phases(our_entries(fields), must=("handler",))


def test_subrequests_are_not_requests_of_their_own(server):
    resp, body, fields = request(server, "/ssi/page.shtml")
    assert resp.status == 200 and b"hello" in body and b"<p>dir</p>" in body
    assert len(fields) == 1
    check_phases(our_entries(fields), must=("handler",))


def test_head(server):
    resp, body, fields = request(server, "/index.html", method="HEAD")
    assert resp.status == 200 and body == b""
    check_phases(our_entries(fields), must=("handler",))


def test_keepalive_each_request_its_own(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    totals = []
    for i in range(3):
        if i:
            time.sleep(0.3)   # idle time on the connection is no request's
        resp, _, fields = request(server, "/index.html", conn=conn)
        assert resp.status == 200 and resp.getheader("Connection") != "close"
        totals.append(check_phases(our_entries(fields))["total"])
    conn.close()
    assert all(t < 300000 for t in totals), totals


def test_max_size_drops_whole_entries(server):
    resp, _, fields = request(server, "/small/index.html")
    assert resp.status == 200
    assert len(fields) == 1 and len(fields[0]) <= 40
    entries = parse_server_timing(fields[0])
    full = our_entries(request(server, "/index.html")[2])
    assert 0 < len(entries) < len(full)


def test_existing_server_timing_merged_pass_drop(server):
    # merge (default): one field, theirs first (re-written by our writer)
    resp, _, fields = request(server, "/preset/index.html")
    assert resp.status == 200 and len(fields) == 1
    entries = parse_server_timing(fields[0])
    assert entries[0] == ("cdn", {"dur": "5.000", "desc": "edge cache"})
    check_phases(entries[1:])
    # pass: theirs untouched, ours in a field of its own after it
    resp, _, fields = request(server, "/preset-pass/index.html")
    assert len(fields) == 2 and fields[0] == 'cdn;dur=5;desc="edge cache"'
    check_phases(parse_server_timing(fields[1]))
    # drop: ours only
    resp, _, fields = request(server, "/preset-drop/index.html")
    assert len(fields) == 1
    check_phases(parse_server_timing(fields[0]))


def test_cache_hit_is_quick(server):
    # The first request fills mod_cache; the second is answered by its
    # quick handler, before translation: the profile must say so.
    resp, _, fields = request(server, "/cached/index.html")
    assert resp.status == 200
    check_phases(our_entries(fields), must=("handler",))
    for _ in range(20):
        resp, body, fields = request(server, "/cached/index.html")
        if resp.getheader("Age") is not None:
            break
        time.sleep(0.05)
    assert resp.status == 200 and body == b"<p>cached</p>\n"
    assert resp.getheader("Age") is not None, "not served from the cache"
    durs = check_phases(our_entries(fields), must=("quick",))
    assert not {"translate", "storage", "access", "handler"} & set(durs), durs
