"""HTTP/2 (h2c with prior knowledge): every stream is a request of its own.

mod_http2 runs requests on secondary connections, on threads of its own
worker pool: the event and worker MPMs. It does not run on prefork."""
import pytest

from harness import h2c_get, parse_server_timing
from test_timing import check_phases, finish_server, make_server


@pytest.fixture(scope="module", params=["event", "worker"])
def h2server(request):
    srv = make_server(request.param)
    yield srv
    finish_server(srv)


def test_concurrent_streams_each_get_their_own_timings(h2server):
    paths = ["/index.html", "/dir/", "/missing.html", "/forbidden/",
             "/index.html", "/off/index.html", "/ssi/page.shtml"] * 3
    results = h2c_get(h2server.port, paths)
    expect = {"/index.html": 200, "/dir/": 200, "/missing.html": 404,
              "/forbidden/": 403, "/off/index.html": 200, "/ssi/page.shtml": 200}
    assert [r[0] for r in results] == [expect[p] for p in paths]
    totals = []
    for path, (status, headers, body) in zip(paths, results):
        st = [v for k, v in headers if k == "server-timing"]
        if path.startswith("/off/"):
            assert st == []
            continue
        assert len(st) == 1, (path, headers)
        durs = check_phases(parse_server_timing(st[0]),
                            must=("access",) if status == 403 else ("handler",))
        totals.append(durs["total"])
    # Streams run side by side: no stream may carry another's time, so no
    # total may exceed the wall time of the whole exchange (a few ms here).
    assert max(totals) < 2_000_000
