"""CPU profiles (issue 12), the httpd side: the whole-server profile behind
"SetHandler profiler-profile" and the per-request profile that
ProfilerRequestProfile selects, on a real apache2 with every MPM.

The test module (test/modules/mod_profiler_test.c) burns the CPU in a
static, never inlined function, proftest_burn_cpu(), built by apxs with
Debian's -O2 and no frame pointers: it must lead `go tool pprof -top` of
a whole-server profile taken while requests burn, with samples from
several children, which needs a real unwinder and the module's own
symbol table."""
import gzip
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

from harness import Httpd
from store import SqliteDb, build_test_module, store_conf

GO = shutil.which("go") or "/usr/bin/go"
BURN = "proftest_burn_cpu"


def server(mpm, extra="", name="cpu", loglevel="warn profiler:debug",
           start=True, handler=True, children=3, store=False):
    """With store: the measurement store on SQLite, which a request
    profile needs (its id is the row's, from the store's writer)."""
    mod = build_test_module()
    body = "\n".join([
        "LoadModule profiler_test_module %s" % mod,
        "Profiler On",
        # Several children, so that a whole-server profile must merge.
        ("StartServers %d\nMinSpareServers %d\nMaxSpareServers 16"
         % (children, children)) if mpm == "prefork" else
        ("StartServers %d\nMinSpareThreads 25\nMaxSpareThreads 100"
         % children),
        "<Location /burn>\n  SetHandler profiler-test-burn\n</Location>",
        ("<Location /profiler/cpu>\n  SetHandler profiler-profile\n"
         "  Require ip 127.0.0.1\n</Location>") if handler else "",
        extra,
    ])
    srv = Httpd(body, mpm=mpm, name=name, loglevel=loglevel)
    if store:
        with open(srv.conf, "a") as f:
            f.write(store_conf(SqliteDb(srv.root)).replace(
                "Profiler On\n", "") + "\n")
    if not start:
        return srv
    srv.start()
    if store:
        wait_for_ids(srv)
    return srv


def wait_for_ids(srv, path="/burn?ms=1", timeout=15):
    """The store's writer gives ids once it has reached the database:
    shortly after each child starts."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, _, _, st = get(srv, path, headers={"X-Profile": "let-me-in"})
        if profile_id(st):
            return
        time.sleep(0.2)
    raise AssertionError("no profile id within %ss" % timeout)


def get(srv, path, headers=None, timeout=60):
    req = urllib.request.Request(srv.url(path), headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read(), \
                resp.headers.get_all("Server-Timing") or []
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read(), \
            e.headers.get_all("Server-Timing") or []


class Load:
    """Requests that burn the CPU, from several connections at once, for
    as long as it runs."""

    def __init__(self, srv, conns=6, path="/burn?ms=20"):
        self.srv, self.path, self.stop = srv, path, threading.Event()
        self.count = 0
        self.threads = [threading.Thread(target=self.run) for _ in range(conns)]

    def run(self):
        while not self.stop.is_set():
            try:
                # A new connection each time: the children share them out.
                status, _, _, _ = get(self.srv, self.path, timeout=10)
                if status == 200:
                    self.count += 1
            except OSError:
                time.sleep(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def pprof(args, data):
    """go tool pprof on a profile, with the names it holds (no lookup of
    its own)."""
    with tempfile.NamedTemporaryFile(suffix=".pb.gz") as f:
        f.write(data)
        f.flush()
        env = dict(os.environ, HOME=tempfile.gettempdir(),
                   GOCACHE=os.path.join(tempfile.gettempdir(), "gocache"))
        r = subprocess.run([GO, "tool", "pprof", "-symbolize=none"] + args
                           + [f.name], capture_output=True, text=True,
                           env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def top_flat(text):
    """The rows of pprof -top: (flat%, name)."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*[\d.]+\w*\s+([\d.]+)%\s+[\d.]+%\s+[\d.]+\w*\s+"
                     r"[\d.]+%\s+(.+)$", line)
        if m:
            rows.append((float(m.group(1)), m.group(2).strip()))
    return rows


def tag_values(text):
    """pprof -tags: {key: {value, ...}}."""
    out, key = {}, None
    for line in text.splitlines():
        m = re.match(r"\s*(\w+): Total", line)
        if m:
            key = m.group(1)
            out[key] = set()
            continue
        m = re.match(r"\s*[\d.]+\w*\s+\(\s*[\d.]+%\):\s*(.*?)\s*$", line)
        if m and key:
            out[key].add(m.group(1))
    return out


def finish(srv, allowed=()):
    problems = srv.log_problems(allowed=allowed)
    srv.cleanup()
    assert not problems, problems


def test_go_is_there():
    """The tests read profiles with Debian's golang-go; without it they
    cannot say anything."""
    assert os.path.exists(GO), "go (Debian's golang-go) is needed to read " \
                               "pprof profiles: apt-get install golang-go"


@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
def test_whole_server_profile(mpm):
    srv = server(mpm)
    try:
        with Load(srv) as load:
            time.sleep(0.5)
            status, headers, body, _ = get(srv, "/profiler/cpu?seconds=3")
        assert status == 200, body
        assert load.count > 10
        assert headers["Content-Type"] == "application/octet-stream"
        assert "attachment" in headers["Content-Disposition"]
        assert body[:2] == b"\x1f\x8b"          # gzip
        gzip.decompress(body)
        # The burner leads the profile: most of the server's CPU time.
        rows = top_flat(pprof(["-top", "-nodecount=15"], body))
        assert rows, rows
        assert rows[0][1] == BURN, rows
        assert rows[0][0] > 40.0, rows
        # Its callers are all there: through the handler hook of httpd.
        tree = pprof(["-traces"], body)
        traces = [t for t in tree.split("-----------+") if BURN in t]
        assert traces
        assert any("ap_run_handler" in t and "burn_handler" in t
                   for t in traces), traces[:3]
        # Samples from several children, each labelled with its pid, and
        # with the route and phase of the request they served.
        tags = tag_values(pprof(["-tags"], body))
        assert len(tags.get("pid", ())) >= 2, tags
        assert int(headers["X-Profiler-Processes"]) >= 2
        assert "/burn" in tags.get("route", ()), tags
        assert "handler" in tags.get("phase", ()), tags
        # The folded form of the same: root first, the burner a leaf.
        with Load(srv):
            status, headers, body, _ = get(
                srv, "/profiler/cpu?seconds=2&hz=199&format=folded")
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain")
        lines = body.decode().splitlines()
        assert lines
        counts = {}
        for line in lines:
            stack, n = line.rsplit(" ", 1)
            frames = stack.split(";")
            counts[frames[-1]] = counts.get(frames[-1], 0) + int(n)
        assert max(counts, key=counts.get) == BURN, counts
    finally:
        finish(srv)


def children_threads(srv):
    """{child pid: its number of threads}, from /proc."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid == srv.proc.pid:
                out[int(pid)] = len(os.listdir("/proc/%s/task" % pid))
        except (OSError, ValueError, IndexError):
            pass
    return out


def test_prefork_children_get_a_thread_only_for_a_profile():
    """prefork: the handler configured must not make every child
    multi-threaded (glibc then leaves its single-thread shortcuts, +471
    instructions a request): a child starts its poller thread at the first
    request that finds a profile running."""
    srv = server("prefork", children=2)
    try:
        for _ in range(20):
            assert get(srv, "/burn?ms=1")[0] == 200
        before = children_threads(srv)
        assert len(before) >= 2, before
        assert set(before.values()) == {1}, before
        with Load(srv, conns=2):
            status, _, body, _ = get(srv, "/profiler/cpu?seconds=2&format=folded")
        assert status == 200 and BURN in body.decode()
        after = children_threads(srv)
        assert any(n == 2 for n in after.values()), after
        # and a second profile finds the pollers already there
        with Load(srv, conns=2):
            status, _, body, _ = get(srv, "/profiler/cpu?seconds=1&format=folded")
        assert status == 200 and BURN in body.decode()
    finally:
        finish(srv)


def test_second_caller_gets_409_and_then_may_go():
    srv = server("event")
    try:
        first = {}

        def run():
            first["r"] = get(srv, "/profiler/cpu?seconds=3&format=folded")
        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.7)
        status, _, body, _ = get(srv, "/profiler/cpu?seconds=1")
        assert status == 409, body
        t.join()
        assert first["r"][0] == 200
        # Once the first is done, the next one runs.
        status, _, _, _ = get(srv, "/profiler/cpu?seconds=1")
        assert status == 200
    finally:
        finish(srv)


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_client_that_goes_away_stops_the_profile(mpm):
    srv = server(mpm)
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /profiler/cpu?seconds=120 HTTP/1.1\r\n"
                  b"Host: 127.0.0.1\r\n\r\n")
        time.sleep(1.0)
        s.close()
        # Stopped within a poll of the socket, not after 120 s: the next
        # caller is let in.
        deadline = time.time() + 10
        status = None
        while time.time() < deadline:
            status, _, body, _ = get(srv, "/profiler/cpu?seconds=1")
            if status == 200:
                break
            assert status == 409
            time.sleep(0.2)
        assert status == 200
        assert re.search(r"PROF00367", srv.read_error_log())
    finally:
        finish(srv)


@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
def test_graceful_restart_during_a_profile(mpm):
    srv = server(mpm)
    try:
        res = {}

        def run():
            res["r"] = get(srv, "/profiler/cpu?seconds=6&format=folded",
                           timeout=30)
        with Load(srv, conns=3):
            t = threading.Thread(target=run)
            t.start()
            time.sleep(1.5)
            srv.graceful_restart()
            t.join(30)
        assert not t.is_alive()
        # The profile ends early with what it had: answered, not hung.
        assert res["r"][0] == 200
        # The new generation serves, and profiles.
        time.sleep(1.0)
        status, _, _, _ = get(srv, "/burn?ms=1")
        assert status == 200
        with Load(srv, conns=2):
            status, _, body, _ = get(srv, "/profiler/cpu?seconds=2&format=folded")
        assert status == 200
        assert BURN in body.decode()
    finally:
        finish(srv)


@pytest.mark.parametrize("query,param", [
    ("seconds=0", "seconds"), ("seconds=301", "seconds"),
    ("seconds=abc", "seconds"), ("seconds=", "seconds"),
    ("seconds=1&seconds=2", "seconds"), ("hz=0", "hz"), ("hz=1001", "hz"),
    ("hz=9.5", "hz"), ("format=xml", "format"),
    ("format=pprof&format=folded", "format"), ("frequency=10", "frequency"),
])
def test_bad_parameters(query, param):
    srv = BAD_SERVER
    status, _, body, _ = get(srv, "/profiler/cpu?" + query)
    assert status == 400, body
    assert body.decode().startswith(param + " ")


@pytest.fixture(scope="module", autouse=True)
def bad_server():
    global BAD_SERVER
    BAD_SERVER = server("event", name="cpu-bad", children=1)
    yield
    finish(BAD_SERVER)


BAD_SERVER = None

REQPROF = "ProfilerRequestProfile \"expr=%{HTTP:X-Profile} == 'let-me-in'\""


def profile_id(st_fields):
    for field in st_fields:
        m = re.search(r'(?:^|,\s*)profile;desc="(\d+)"', field)
        if m:
            return int(m.group(1))
    return None


@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
def test_request_profile(mpm):
    srv = server(mpm, extra=REQPROF + "\nProfilerServerTiming On",
                 handler=False, children=1, store=True)
    try:
        status, _, _, st = get(srv, "/burn?ms=300&sleep_ms=200",
                               headers={"X-Profile": "let-me-in"})
        assert status == 200
        pid = profile_id(st)
        assert pid and pid > 0, st
        # Our own Server-Timing field is there as well, apart.
        assert any("total;dur=" in f for f in st), st
        # Sampled in wall-clock time, at 1000 Hz, for about half a second:
        # the burner on the CPU most, the sleep as waiting.
        time.sleep(0.3)
        m = re.search(r"PROF00379: request profile %d: (\d+) samples, "
                      r"(\d+) dropped, at 1000 Hz over (\d+) ms; on CPU "
                      r"(\d+) ms \(most in (\S+): (\d+) ms\), waiting "
                      r"(\d+) ms" % pid, srv.read_error_log())
        assert m, srv.read_error_log()[-2000:]
        samples, _, over, oncpu, top, top_ms, waiting = m.groups()
        assert int(samples) >= 100, m.group(0)
        assert 450 <= int(over) <= 5000, m.group(0)
        assert top == BURN, m.group(0)
        # (On a busy machine the burner gets less than its 300 ms of CPU:
        # the rest is time it waited for one, and counts as waiting.)
        assert int(top_ms) >= 30 and int(oncpu) >= int(top_ms), m.group(0)
        assert int(waiting) >= 150, m.group(0)
        assert int(oncpu) + int(waiting) >= 450, m.group(0)
        # Ids differ from one request to the next.
        _, _, _, st2 = get(srv, "/burn?ms=1",
                           headers={"X-Profile": "let-me-in"})
        assert profile_id(st2) not in (None, pid)
        # Without the header (or with another value): no profile; and the
        # gate's header does not become a Vary of every response.
        for h in ({}, {"X-Profile": "no"}):
            status, headers, _, st = get(srv, "/burn?ms=1", headers=h)
            assert status == 200
            assert profile_id(st) is None, st
            assert "X-Profile" not in headers.get("Vary", ""), headers
    finally:
        finish(srv)


def test_request_profile_without_server_timing_and_in_a_location():
    """ProfilerRequestProfile in a <Location> only, ProfilerServerTiming
    Off: the profile's own field still goes out, and only there."""
    srv = server("event", extra="<Location /burn>\n  " + REQPROF
                 + "\n</Location>", handler=False, children=1, store=True)
    try:
        srv.write("index.html", "hello\n")
        _, _, _, st = get(srv, "/burn?ms=50",
                          headers={"X-Profile": "let-me-in"})
        assert profile_id(st), st
        assert not any("total;dur=" in f for f in st), st
        _, _, _, st = get(srv, "/index.html",
                          headers={"X-Profile": "let-me-in"})
        assert profile_id(st) is None, st
    finally:
        finish(srv)


def test_request_profile_over_h2():
    """Over HTTP/2 the request runs on mod_http2's worker thread: that
    thread is sampled, and the stream's response names the profile."""
    mod = build_test_module()
    srv = Httpd("\n".join([
        "LoadModule profiler_test_module %s" % mod,
        "LoadModule http2_module /usr/lib/apache2/modules/mod_http2.so",
        "Protocols h2c http/1.1",
        "Profiler On",
        "<Location /burn>\n  SetHandler profiler-test-burn\n</Location>",
        REQPROF,
    ]), mpm="event", name="cpu-h2", loglevel="warn profiler:debug")
    with open(srv.conf, "a") as f:
        f.write(store_conf(SqliteDb(srv.root)) + "\n")
    srv.start()
    wait_for_ids(srv)
    try:
        out = []
        for h in ("X-Profile: let-me-in", "X-Profile: no"):
            r = subprocess.run(["curl", "-s", "-D", "-", "-o", "/dev/null",
                                "--http2-prior-knowledge", "-H", h,
                                srv.url("/burn?ms=100")],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            assert r.stdout.startswith("HTTP/2 200"), r.stdout
            out.append([l.split(":", 1)[1].strip()
                        for l in r.stdout.splitlines()
                        if l.lower().startswith("server-timing:")])
        assert profile_id(out[0]), out
        assert profile_id(out[1]) is None, out
    finally:
        finish(srv)


def test_expression_error_fails_configtest():
    srv = server("event", extra="ProfilerRequestProfile \"expr=%{HTTP:X == \"",
                 start=False, children=1)
    try:
        r = srv.configtest()
        assert r.returncode != 0
        assert "ProfilerRequestProfile" in r.stdout + r.stderr
    finally:
        srv.cleanup()
    for bad in ("0", "1001", "fast"):
        srv = server("event", extra="ProfilerRequestProfileHz %s" % bad,
                     start=False, children=1)
        try:
            r = srv.configtest()
            assert r.returncode != 0
            assert "ProfilerRequestProfileHz" in r.stdout + r.stderr
        finally:
            srv.cleanup()


def test_handler_without_access_control_warns():
    srv = server("event", handler=False, start=False, children=1,
                 extra="<Location /cpu>\n  SetHandler profiler-profile\n"
                       "</Location>")
    try:
        r = srv.configtest()
        assert r.returncode == 0, r.stderr
        assert "PROF00373" in r.stdout + r.stderr
    finally:
        srv.cleanup()
    srv = server("event", start=False, children=1)
    try:
        r = srv.configtest()
        assert r.returncode == 0, r.stderr
        assert "PROF00373" not in r.stdout + r.stderr
    finally:
        srv.cleanup()
