"""Helpers for the live metrics' tests: scrape a real httpd's
`SetHandler profiler-metrics` endpoint and read its text 0.0.4."""
import http.client
import re
import shutil
import subprocess
import threading

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def _unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n"
                  else m.group(1), v)


def parse(text):
    """Samples of a 0.0.4 text: [(name, {label: value}, float)]."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = {}
        if m.group(2):
            inner = m.group(2)[1:-1]
            pos = 0
            while pos < len(inner):
                lm = _LABEL.match(inner, pos)
                assert lm, "bad labels in %r" % line
                labels[lm.group(1)] = _unescape(lm.group(2))
                pos = lm.end()
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def scrape(srv, path="/metrics", accept=None, host=None):
    """(status, content-type, body text) of one GET."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
    headers = {"Accept": accept} if accept else {}
    if host:
        headers["Host"] = host
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    body = r.read().decode("utf-8")
    c.close()
    return r.status, r.getheader("Content-Type"), body


def samples(srv, name, path="/metrics", **match):
    """{tuple of label items: value} of the samples called name whose
    labels include match."""
    status, _, body = scrape(srv, path)
    assert status == 200, body
    got = {}
    for n, labels, v in parse(body):
        if n == name and all(labels.get(k) == w for k, w in match.items()):
            got[tuple(sorted(labels.items()))] = v
    return got


def total(srv, name, path="/metrics", **match):
    return int(sum(samples(srv, name, path, **match).values()))


def get(port, path, host=None, keep=None):
    """One GET; its status, or None when the connection failed before any
    response (the request was then not served)."""
    c = keep or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path, headers={"Host": host} if host else {})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        if keep is None:
            c.close()


class Load:
    """n threads, each on its own connection after another (one request
    per connection: a request is either answered, and counted, or refused
    before it was read, never in between), until stopped. Counts the
    answers by status."""

    def __init__(self, port, path, threads=8):
        self.port, self.path = port, path
        self.counts = {}
        self.errors = 0
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(threads)]

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                st = get(self.port, self.path)
            except (ConnectionError, http.client.RemoteDisconnected):
                with self.lock:
                    self.errors += 1
                continue
            with self.lock:
                self.counts[st] = self.counts.get(st, 0) + 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for t in self.threads:
            t.join(60)

    def answered(self):
        with self.lock:
            return sum(self.counts.values())


def promtool_check(text):
    """What `promtool check metrics` prints for text ("" when fine)."""
    tool = shutil.which("promtool")
    assert tool, "Debian's prometheus package is needed (promtool)"
    r = subprocess.run([tool, "check", "metrics"], input=text.encode("utf-8"),
                       capture_output=True)
    return (r.stdout + r.stderr).decode("utf-8", "replace")


def settled(srv, name, want, path="/metrics", timeout=10, **match):
    """total() once it equals want, or its last value after timeout: a
    request is counted when it is logged, just after its response left."""
    import time
    deadline = time.time() + timeout
    while True:
        got = total(srv, name, path, **match)
        if got == want or time.time() >= deadline:
            return got
        time.sleep(0.05)
