#!/usr/bin/env python3
"""A collector for bench/otlp.py: `otlp_sink.py PORT ok` reads every POST
and answers 200 at once (no decoding: its CPU time is not what is
measured); `otlp_sink.py PORT hang` reads it and never answers."""
import http.server
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if sys.argv[2] == "hang":
            threading.Event().wait()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
