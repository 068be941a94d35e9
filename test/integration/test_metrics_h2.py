"""Live metrics over HTTP/2 (h2c with prior knowledge): streams run on
mod_http2's own worker threads, on secondary connections; each is a
request of its own and counted exactly once, also with 8 connections at
once and a graceful restart in the middle. mod_http2 does not run on
prefork, so event and worker only."""
import threading
import time

import pytest

from harness import h2c_get
from test_metrics import finish, generation_done, make, requests_of


@pytest.fixture(params=["event", "worker"])
def h2server(request):
    srv = make(request.param, extra="Protocols h2c http/1.1\n",
               name="metrics-h2-" + request.param, modules=("http2",))
    yield srv
    finish(srv)


def test_exact_counts_over_h2_across_a_graceful_restart(h2server):
    paths = ["/index.html"] * 6 + ["/r1.html", "/missing.html"]
    done = {"streams": 0, "status": {}}
    lock = threading.Lock()
    stop = threading.Event()

    def client():
        while not stop.is_set():
            res = h2c_get(h2server.port, paths)
            with lock:
                for p, r in zip(paths, res):
                    done["status"][(p, r[0])] = \
                        done["status"].get((p, r[0]), 0) + 1
                done["streams"] += len(res)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        while done["streams"] < 400:
            time.sleep(0.05)
        before = requests_of(h2server, "/index.html")
        h2server.graceful_restart()
        generation_done(h2server, 2)
        while done["streams"] < 800:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    st = done["status"]
    assert set(st) == {("/index.html", 200), ("/r1.html", 200),
                       ("/missing.html", 404)}, st
    want = st[("/index.html", 200)]
    assert before <= want
    assert requests_of(h2server, "/index.html", want) == want
    assert requests_of(h2server, "/r1.html", st[("/r1.html", 200)]) \
        == st[("/r1.html", 200)]
    assert requests_of(h2server, "(not found)", st[("/missing.html", 404)]) \
        == st[("/missing.html", 404)]
