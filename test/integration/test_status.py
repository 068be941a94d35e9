"""mod_profiler's section of mod_status's server-status page
(src/mod_profiler_status.c), on a real httpd with the real mod_status:
after known traffic, the HTML section and the ?auto lines count exactly
what was sent, route by route, with percentiles within the histogram's
stated error, and hostile route names are escaped."""
import html
import re
import time
import urllib.parse

import pytest

from harness import MPMS, Httpd
from metrics import get

# The histogram's stated error (prof_hist.h: PROF_HIST_MAX_REL_ERR), with
# room for the 0.5 us rounding and the 3 decimals the page writes in ms.
REL_ERR = 0.0433

CONF = r"""
Profiler On
ProfilerRoute ^/slow/ /slow
ProfilerRoute ^/h/(.*)$ /h/$1
<Location /server-status>
    SetHandler server-status
    # Not timed itself, so that the counts are exactly the traffic sent.
    Profiler Off
    Require ip 127.0.0.1
</Location>
@EXTRA@
"""


def make(mpm="event", extra="", name="status"):
    srv = Httpd(CONF.replace("@EXTRA@", extra), mpm=mpm, name=name,
                modules=("status",))
    srv.write("index.html", "<h1>hello</h1>\n")
    srv.write("a.html", "a\n")
    srv.write("slow/x.html", "x\n")
    return srv.start()


def finish(srv):
    problems = srv.log_problems()
    srv.cleanup()
    assert not problems, "unexpected error log lines:\n" + "\n".join(problems)


def fetch(srv, path):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read().decode("utf-8", "replace")
    c.close()
    assert r.status == 200, (r.status, body)
    return body


def auto(srv):
    out = {}
    for line in fetch(srv, "/server-status?auto").splitlines():
        k, _, v = line.partition(": ")
        if k.startswith("Profiler"):
            out[k] = v
    return out


def settled_auto(srv, want, timeout=10):
    """The ?auto lines once ProfilerRequests is want: a request is counted
    when it is logged, just after its response left."""
    deadline = time.time() + timeout
    while True:
        got = auto(srv)
        if int(got.get("ProfilerRequests", -1)) == want \
                or time.time() >= deadline:
            return got
        time.sleep(0.05)


def routes_table(page):
    """{(vhost, route): [cells]} of the HTML section's routes table."""
    m = re.search(r'<table id="profiler-routes".*?</table>', page, re.S)
    assert m, page
    rows = {}
    for tr in re.findall(r"<tr><td>(.*?)</td></tr>", m.group(0), re.S):
        cells = [html.unescape(c) for c in tr.split("</td><td>")]
        rows[(cells[0], cells[1])] = cells[2:]
    return rows


@pytest.mark.parametrize("mpm", MPMS)
def test_html_and_auto_count_the_traffic_exactly(mpm):
    srv = make(mpm, name="status-" + mpm)
    try:
        sent = {"/": 0, "/a.html": 0, "/slow": 0, "(not found)": 0}
        for _ in range(30):
            assert get(srv.port, "/a.html") == 200
            sent["/a.html"] += 1
        for _ in range(7):
            assert get(srv.port, "/slow/x.html") == 200
            sent["/slow"] += 1
        for _ in range(5):
            assert get(srv.port, "/nothing-here.png") == 404
            sent["(not found)"] += 1
        assert get(srv.port, "/") == 200
        sent["/"] += 1
        n = sum(sent.values())

        a = settled_auto(srv, n)
        assert a["ProfilerMetrics"] == "On"
        assert int(a["ProfilerRequests"]) == n
        assert int(a["ProfilerClientErrors"]) == 5
        assert int(a["ProfilerServerErrors"]) == 0
        assert int(a["ProfilerRoutes"]) == 4
        assert int(a["ProfilerKeyOverflow"]) == 0
        assert int(a["ProfilerRouteFolded"]) == 0
        assert a["ProfilerStore"] == "Off"
        for k in ("Written", "Dropped", "Failed", "SampledOut"):
            assert int(a["ProfilerStoreRows" + k]) == 0
        assert abs(int(a["ProfilerSince"]) - time.time()) < 120
        # Every ?auto line of ours is "Name: value".
        for k, v in a.items():
            assert re.fullmatch(r"Profiler[A-Za-z]+", k) and v, (k, v)

        page = fetch(srv, "/server-status")
        assert 'id="profiler"' in page
        m = re.search(r'id="profiler-requests">(\d+)<', page)
        assert m and int(m.group(1)) == n
        rows = routes_table(page)
        got = {route: int(cells[0]) for (_, route), cells in rows.items()}
        assert got == sent
        # The busiest first.
        order = [route for (_, route) in rows]
        assert order[0] == "/a.html"
        for (vhost, route), cells in rows.items():
            assert vhost == "127.0.0.1:%d" % srv.port
            p50, p95, p99 = (float(c) for c in cells[1:4])
            assert 0 < p50 <= p95 <= p99
            assert cells[4] == "0.00 %"
            assert cells[5] == ("100.00 %" if route == "(not found)"
                                else "0.00 %")
        assert "<dd>off</dd>" in page
    finally:
        finish(srv)


def test_percentiles_within_the_stated_error():
    """One route of known durations: p50/p95/p99 on the page against the
    durations the access log measured for the same requests."""
    srv = make(name="status-pct", extra="LogFormat \"%U %D\" dur\n"
               "CustomLog @ROOT@/logs/dur.log dur")
    try:
        for _ in range(60):
            assert get(srv.port, "/a.html") == 200
        settled_auto(srv, 60)
        page = fetch(srv, "/server-status")
        cells = routes_table(page)[("127.0.0.1:%d" % srv.port, "/a.html")]
        assert int(cells[0]) == 60
        # %D is the same request's time in us as httpd saw it; ours is
        # measured by our own clock over nearly the same span: compare
        # loosely (the histogram's error plus what lies between the two
        # clocks), and exactly the ordering.
        p50, p95, p99 = (float(c) * 1000 for c in cells[1:4])
        assert p50 <= p95 <= p99
        with open(srv.root + "/logs/dur.log") as f:
            durs = sorted(int(l.split()[1]) for l in f if l.startswith("/a.html"))
        assert len(durs) == 60
        assert p99 <= durs[-1] * (1 + REL_ERR) + 1000
    finally:
        finish(srv)


def test_hostile_route_names_are_escaped():
    srv = make(name="status-xss")
    try:
        evil = '<script>alert("x")</script>&amp;\'"'
        path = "/h/" + urllib.parse.quote(evil, safe="")
        assert get(srv.port, path) == 404
        settled_auto(srv, 1)
        page = fetch(srv, "/server-status")
        assert "<script>" not in page
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;" \
               "&#39;&quot;" in page
        rows = routes_table(page)
        assert ("127.0.0.1:%d" % srv.port, "/h/" + evil) in rows
        # ?notable: no table, the same names escaped.
        page = fetch(srv, "/server-status?notable")
        assert "<script>" not in page
        assert "&lt;script&gt;" in page
        # ?auto never carries a name.
        text = fetch(srv, "/server-status?auto")
        assert "script" not in text
    finally:
        finish(srv)


def test_metrics_off():
    """No Profiler On anywhere: the section says so, ?auto says Off."""
    srv = Httpd("""
<Location /server-status>
    SetHandler server-status
    Require ip 127.0.0.1
</Location>
""", name="status-off", modules=("status",)).start()
    try:
        assert get(srv.port, "/") in (200, 403, 404)
        a = auto(srv)
        assert a["ProfilerMetrics"] == "Off"
        assert a["ProfilerRequests"] == "0"
        assert 'id="profiler-off"' in fetch(srv, "/server-status")
    finally:
        finish(srv)


def test_store_state_with_the_store_on():
    """The store's row counters, across children, against the rows the
    real SQLite database holds."""
    from store import SqliteDb, count_rows, make_server, wait_for
    srv = make_server(SqliteDb, name="status-store", modules=("status",),
                      extra="<Location /server-status>\n"
                            "SetHandler server-status\nProfiler Off\n"
                            "Require ip 127.0.0.1\n</Location>\n")
    try:
        for _ in range(10):
            assert get(srv.port, "/index.html") == 200
        a = settled_auto(srv, 10)
        assert int(a["ProfilerRequests"]) == 10
        assert a["ProfilerStore"] == "On"

        def written():
            got = auto(srv)
            w = int(got["ProfilerStoreRowsWritten"])
            return got if w + int(got["ProfilerStoreRowsSampledOut"]) == 10 \
                and w == count_rows(srv.db) else None
        a = wait_for(written)
        assert int(a["ProfilerStoreRowsWritten"]) > 0
        assert int(a["ProfilerStoreRowsDropped"]) == 0
        assert int(a["ProfilerStoreRowsFailed"]) == 0
        page = fetch(srv, "/server-status")
        m = re.search(r'id="profiler-store"><dt>Store</dt><dd>(\w+)</dd>'
                      r'<dt>Rows</dt><dd>(\d+) written', page)
        assert m and m.group(1) == "on"
        assert int(m.group(2)) == int(a["ProfilerStoreRowsWritten"])
        srv.graceful_stop()
    finally:
        finish(srv)
