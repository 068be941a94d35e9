#!/usr/bin/env python3
"""Keep-alive client for the callgrind runs of bench/run.sh.

Sends N identical HTTP/1.1 GET requests, one at a time, over ONE keep-alive
connection and checks that every answer is a 200 with the expected body
length and keeps the connection open. One client, one connection, no
pipelining: the server does the same work for every request, so the
instruction count of a run grows linearly with N.

usage: kaclient.py PORT N [--path /1k.html] [--size 1024] [--gap-ms 0]
                          [--show] [--header NAME]
  --show     print the response headers of the last request to stderr
  --gap-ms   sleep this long before each request (default 0)
  --header   also report the length of header NAME's value in the answers
             (min, max, mean; 0 where it is missing): bench/run.sh sizes the
             floor's constant header by it

Connection refused is retried for up to --connect-timeout seconds (the
server may still be starting under valgrind); only a connection that is
accepted counts, and it is the one the requests use.
"""
import argparse
import json
import os
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--path", default="/1k.html")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--gap-ms", type=float, default=0.0)
    ap.add_argument("--connect-timeout", type=float, default=180.0)
    ap.add_argument("--show", action="store_true")
    ap.add_argument("--header", default=None)
    ap.add_argument("--pid", type=int, default=0,
                    help="give up waiting for the server when this pid exits")
    a = ap.parse_args()

    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: profbench/1\r\n"
           "Accept: */*\r\n\r\n" % (a.path, a.host)).encode("ascii")

    deadline = time.monotonic() + a.connect_timeout
    while True:
        try:
            s = socket.create_connection((a.host, a.port), timeout=120)
            break
        except (ConnectionRefusedError, ConnectionResetError):
            if a.pid:
                try:
                    os.kill(a.pid, 0)
                except ProcessLookupError:
                    sys.exit("kaclient: server pid %d is gone" % a.pid)
            if time.monotonic() > deadline:
                sys.exit("kaclient: cannot connect to %s:%d" % (a.host, a.port))
            time.sleep(0.1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    buf = b""
    hlen_min = hlen_max = None
    last_head = b""
    want = a.header.lower().encode("ascii") if a.header else None
    vlens = []
    for i in range(a.n):
        if a.gap_ms:
            time.sleep(a.gap_ms / 1000.0)
        s.sendall(req)
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("kaclient: connection closed after %d responses" % i)
            buf += chunk
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ", 2)
        if len(status) < 2 or status[1] != b"200":
            sys.exit("kaclient: response %d: %r" % (i, lines[0]))
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            hdrs[k.strip().lower()] = v.strip()
        if want is not None:
            vlens.append(len(hdrs.get(want, b"")))
        if hdrs.get(b"connection", b"").lower() == b"close":
            sys.exit("kaclient: response %d closes the connection" % i)
        clen = int(hdrs.get(b"content-length", b"-1"))
        if clen != a.size:
            sys.exit("kaclient: response %d: Content-Length %d, want %d"
                     % (i, clen, a.size))
        while len(buf) < clen:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("kaclient: connection closed in body %d" % i)
            buf += chunk
        buf = buf[clen:]
        if buf:
            sys.exit("kaclient: unexpected bytes after response %d" % i)
        hl = len(head) + 4
        hlen_min = hl if hlen_min is None else min(hlen_min, hl)
        hlen_max = hl if hlen_max is None else max(hlen_max, hl)
        last_head = head
    s.close()
    if a.show:
        sys.stderr.write(last_head.decode("latin-1") + "\n")
    out = {"requests": a.n, "status200": a.n,
           "head_bytes_min": hlen_min, "head_bytes_max": hlen_max}
    if vlens:
        out.update({"header": a.header, "value_len_min": min(vlens),
                    "value_len_max": max(vlens),
                    "value_len_mean": sum(vlens) / len(vlens)})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
