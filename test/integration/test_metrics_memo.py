"""The request path remembers, per thread, the cell a key was counted in
(src/mod_profiler_collect.c, prof_collect_count()): a path seen again is
counted in that cell without the route and the look-up. These tests send
the same paths again and again over keep-alive connections, so that the
remembered way is the one taken, and check that everything the key is made
of still tells requests apart, exactly: the status (the same path found,
then gone), the method (HEAD is GET's number in httpd), the vhost, a
ProfilerRoute name, and that a fold (the route budget) is counted on
every request, not only the first."""
import http.client
import os

import pytest

from harness import MPMS
from metrics import samples, settled, total
from test_metrics import finish, make

VHOSTS = ('<VirtualHost 127.0.0.1:@PORT@>\n'
          '    ServerName 127.0.0.1\n'
          '</VirtualHost>\n'
          '<VirtualHost 127.0.0.1:@PORT@>\n'
          '    ServerName other.test\n'
          '</VirtualHost>\n')


def send(conn, method, path, host="127.0.0.1"):
    conn.request(method, path, headers={"Host": host})
    r = conn.getresponse()
    r.read()
    return r.status


def by_key(srv):
    out = {}
    for labels, v in samples(srv, "mod_profiler_requests_total").items():
        d = dict(labels)
        key = (d["vhost"].split(":")[0], d["route"], d["method"], d["code"])
        out[key] = out.get(key, 0) + int(v)
    return out


@pytest.mark.parametrize("mpm", MPMS)
def test_a_remembered_path_still_tells_status_method_and_vhost_apart(mpm):
    srv = make(mpm, extra=VHOSTS + "ProfilerRoute ^/api/ api\n",
               name="memo-" + mpm)
    try:
        srv.write("api/x.html", "api\n")
        srv.write("gone.html", "here for now\n")
        long_name = "l" * 120 + ".html"     # past what the memo keeps
        srv.write(long_name, "long\n")
        want = {}
        n = 0

        def count(key, k=1):
            want[key] = want.get(key, 0) + k

        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        try:
            for rnd in range(30):
                for host in ("127.0.0.1", "other.test"):
                    assert send(c, "GET", "/index.html", host) == 200
                    count((host, "/index.html", "GET", "200"))
                    assert send(c, "HEAD", "/index.html", host) == 200
                    count((host, "/index.html", "HEAD", "200"))
                    n += 2
                assert send(c, "GET", "/api/x.html") == 200
                count(("127.0.0.1", "api", "GET", "200"))
                assert send(c, "GET", "/api/none") == 404
                count(("127.0.0.1", "api", "GET", "404"))
                assert send(c, "GET", "/" + long_name) == 200
                count(("127.0.0.1", "/" + long_name, "GET", "200"))
                n += 3
                # the same path, found for the first half, then gone
                if rnd == 15:
                    os.remove(os.path.join(srv.docroot, "gone.html"))
                st = send(c, "GET", "/gone.html")
                assert st == (200 if rnd < 15 else 404), (rnd, st)
                count(("127.0.0.1", "/gone.html" if st == 200
                       else "(not found)", "GET", str(st)))
                n += 1
        finally:
            c.close()
        assert settled(srv, "mod_profiler_requests_total", n) == n
        got = by_key(srv)
        assert got == want, (got, want)
    finally:
        finish(srv)


def test_folds_count_on_every_request_of_a_remembered_path():
    """A route over the budget is folded every time it comes: its fold
    counter grows by one a request."""
    srv = make(extra="ProfilerMaxRoutes 1\n",
               name="memo-folds")
    try:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        try:
            # /r0.html takes the budget's one route
            for _ in range(5):
                assert send(c, "GET", "/r0.html") == 200
            for _ in range(20):
                assert send(c, "GET", "/r1.html") == 200
        finally:
            c.close()
        assert settled(srv, "mod_profiler_requests_total", 25) == 25
        got = by_key(srv)
        assert got[("127.0.0.1", "/r0.html", "GET", "200")] == 5, got
        assert got[("127.0.0.1", "(other)", "GET", "200")] == 20, got
        assert total(srv, "mod_profiler_metrics_route_folded_total") == 20
    finally:
        finish(srv)
