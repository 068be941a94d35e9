"""Live metrics over HTTP/2 (h2c with prior knowledge): streams run on
mod_http2's own worker threads, on secondary connections; each is a
request of its own and counted exactly once, also with 8 connections at
once and a graceful restart in the middle. mod_http2 does not run on
prefork, so event and worker only."""
import socket
import threading
import time

import h2.config
import h2.connection
import h2.events
import pytest

from test_metrics import finish, generation_done, make, requests_of


EXPECT = {"/index.html": 200, "/r1.html": 200, "/missing.html": 404}


def h2c_streams(port, paths, timeout=10):
    """GET every path as concurrent streams on one h2c connection. Returns
    {path index: status} of the streams the server served.

    A graceful restart ends the connection with GOAWAY: first a shutdown
    notice (last stream id 2^31-1), then the real one. The h2 library
    closes the connection at the first and refuses later frames, so from
    there on the frames are read here: a HEADERS frame answers its stream
    (with the status its path always has), the last GOAWAY's stream id
    says that the streams above it were not processed (RFC 9113 6.8), and
    a stream at or below it that was never answered fails the test: we
    could not tell whether it was served."""
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True))
    sock = socket.create_connection(("127.0.0.1", port), timeout)
    ids, got, last_id, closing = {}, {}, None, False
    try:
        conn.initiate_connection()
        for i, p in enumerate(paths):
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(":method", "GET"), (":path", p),
                                    (":scheme", "http"),
                                    (":authority", "127.0.0.1:%d" % port)],
                              end_stream=True)
            ids[sid] = i
        sock.sendall(conn.data_to_send())
        open_ids = set(ids)
        buf = b""
        while open_ids:
            data = sock.recv(65536)
            if not data:
                break
            buf += data
            while len(buf) >= 9:
                n = 9 + int.from_bytes(buf[:3], "big")
                if len(buf) < n:
                    break
                frame, buf = buf[:n], buf[n:]
                ftype, sid = frame[3], \
                    int.from_bytes(frame[5:9], "big") & 0x7fffffff
                if ftype == 0x7:            # GOAWAY
                    last_id = int.from_bytes(frame[9:13], "big") & 0x7fffffff
                    closing = True
                    open_ids = {x for x in open_ids if x <= last_id}
                    continue
                if closing:
                    if ftype == 0x1 and sid in ids:     # HEADERS
                        got[ids[sid]] = EXPECT[paths[ids[sid]]]
                    if ftype in (0x0, 0x1) and frame[4] & 0x1:  # END_STREAM
                        open_ids.discard(sid)
                    if ftype == 0x3:                    # RST_STREAM
                        open_ids.discard(sid)
                    continue
                for ev in conn.receive_data(frame):
                    if isinstance(ev, h2.events.ResponseReceived):
                        got[ids[ev.stream_id]] = \
                            int(dict(ev.headers)[b":status"])
                    elif isinstance(ev, h2.events.DataReceived):
                        conn.acknowledge_received_data(
                            ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, (h2.events.StreamEnded,
                                         h2.events.StreamReset)):
                        open_ids.discard(ev.stream_id)
            if not closing:
                sock.sendall(conn.data_to_send())
    finally:
        sock.close()
    unknown = [sid for sid, i in ids.items() if i not in got
               and (last_id is None or sid <= last_id)]
    assert not unknown, "streams %r neither answered nor refused" % unknown
    return got


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

    errors = []

    def client():
        try:
            while not stop.is_set():
                res = h2c_streams(h2server.port, paths)
                with lock:
                    for i, status in res.items():
                        k = (paths[i], status)
                        done["status"][k] = done["status"].get(k, 0) + 1
                    done["streams"] += len(res)
        except Exception as e:  # reported by the test, not lost in a thread
            errors.append(e)
            stop.set()

    def wait_streams(n):
        deadline = time.time() + 120
        while done["streams"] < n and not errors:
            assert time.time() < deadline, done
            time.sleep(0.05)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        wait_streams(400)
        before = requests_of(h2server, "/index.html")
        h2server.graceful_restart()
        generation_done(h2server, 2)
        wait_streams(800)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors
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
