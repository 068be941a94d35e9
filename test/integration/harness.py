"""Start a real Debian apache2 with a generated configuration, for tests.

Every server gets its own ServerRoot in a fresh temporary directory, a free
127.0.0.1 port, and runs in the foreground under our control, so a test can
send it signals (graceful restart, graceful stop) and read its error log.
Nothing here imitates httpd: it is the real binary with the real modules.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE_SO = os.path.join(ROOT, ".libs", "mod_profiler.so")
HTTPD = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES_DIR = "/usr/lib/apache2/modules"
MPMS = ("event", "worker", "prefork")

# Modules every test server loads (besides the MPM and mod_profiler).
BASE_MODULES = ("authz_core", "authz_host", "authn_core", "mime", "dir",
                "alias")

# Warnings and worse; and a child that died of a signal, which httpd logs
# at notice level only (AH00052 "child pid N exit signal Segmentation
# fault").
_LOG_PROBLEM = re.compile(r"\[[a-z_0-9]*:(warn|error|crit|alert|emerg)\]"
                          r"|AH00052|exit signal")
# What the parent logs (at notice, always written) once it has started.
_READY = re.compile(r"resuming normal operations")

# httpd's own, not a problem of the module under test: httpd 2.4.71's event
# MPM logs "AH03092: process_lingering_close: apr_pollset_add failure" now
# and then for a request served in a child's first few milliseconds (2 to 5
# in 400 start/request/stop runs without mod_profiler loaded).
_HTTPD_NOISE = re.compile(r"\[mpm_event:error\].*AH03092:")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_user():
    """Children of a root httpd must run as someone else."""
    return ("www-data", "www-data") if os.geteuid() == 0 else None


class Httpd:
    """One apache2 process tree. Use as a context manager or start()/stop()."""

    def __init__(self, body, mpm="event", modules=(), profiler=True,
                 name="httpd", loglevel="warn"):
        self.mpm = mpm
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="mod_profiler-%s-" % name)
        # Children may run as www-data: the tree must be readable for them.
        os.chmod(self.root, 0o755)
        self.docroot = os.path.join(self.root, "htdocs")
        self.logs = os.path.join(self.root, "logs")
        for d in (self.docroot, self.logs, os.path.join(self.root, "run")):
            os.makedirs(d)
            os.chmod(d, 0o755)
        self.error_log = os.path.join(self.logs, "error.log")
        self.access_log = os.path.join(self.logs, "access.log")
        self.conf = os.path.join(self.root, "httpd.conf")
        self.proc = None
        mods = ["LoadModule mpm_%s_module %s/mod_mpm_%s.so" % (mpm, MODULES_DIR, mpm)]
        for m in tuple(BASE_MODULES) + tuple(modules):
            mods.append("LoadModule %s_module %s/mod_%s.so" % (m, MODULES_DIR, m))
        if profiler:
            mods.append("LoadModule profiler_module %s" % MODULE_SO)
        user = run_user()
        text = "\n".join([
            "ServerRoot %s" % self.root,
            "DefaultRuntimeDir %s/run" % self.root,
            "PidFile %s/run/httpd.pid" % self.root,
            "Listen 127.0.0.1:%d" % self.port,
            "ServerName 127.0.0.1",
            "\n".join(mods),
            ("User %s\nGroup %s" % user) if user else "",
            "ErrorLog %s" % self.error_log,
            "LogLevel %s" % loglevel,
            "LogFormat \"%h %r %>s %{Server-Timing}o\" st",
            "CustomLog %s st" % self.access_log,
            "TypesConfig /etc/mime.types",
            "DocumentRoot %s" % self.docroot,
            "<Directory %s>\n  Require all granted\n</Directory>" % self.docroot,
            "StartServers 1",
            # Small but consistent: MinSpareThreads must stay below
            # MaxRequestWorkers or httpd logs an error about it.
            ("ServerLimit 4\nThreadsPerChild 25\nMaxRequestWorkers 100\n"
             "MinSpareThreads 25\nMaxSpareThreads 75") if mpm != "prefork"
            else "MaxRequestWorkers 16\nMinSpareServers 2\nMaxSpareServers 8",
            body.replace("@ROOT@", self.root).replace("@PORT@", str(self.port)),
            "",
        ])
        with open(self.conf, "w") as f:
            f.write(text)

    # -- files -----------------------------------------------------------
    def write(self, rel, content, mode=0o644):
        path = os.path.join(self.docroot, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        d = os.path.dirname(path)
        while d.startswith(self.docroot):
            os.chmod(d, 0o755)
            d = os.path.dirname(d)
        with open(path, "wb" if isinstance(content, bytes) else "w") as f:
            f.write(content)
        os.chmod(path, mode)
        return path

    # -- life cycle ------------------------------------------------------
    def configtest(self):
        return subprocess.run([HTTPD, "-f", self.conf, "-t"],
                              capture_output=True, text=True)

    def start(self, timeout=15):
        # Its own session: prefork signals its whole process group when it
        # stops, and that must not include the test runner.
        self.proc = subprocess.Popen([HTTPD, "-f", self.conf, "-DFOREGROUND"],
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        deadline = time.time() + timeout
        ready = _READY.findall(self.read_error_log())
        while time.time() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read()
                raise RuntimeError("apache2 exited with %s: %s\n%s" % (
                    self.proc.returncode, out, self.read_error_log()))
            # Listening is enough (a request waits in the backlog for a
            # child). Not a probe connection: one closed at once, right as
            # the children start, made httpd 2.4.71's event MPM log AH03092
            # (apr_pollset_add failure) in 2 of 300 starts.
            # And started: its startup messages written (the parent says
            # it is "resuming normal operations" after post_config).
            if listening(self.port) and (
                    len(_READY.findall(self.read_error_log())) > len(ready)
                    or time.time() > deadline - timeout / 2):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("apache2 did not answer on port %d" % self.port)

    def _signal_and_wait(self, sig, timeout):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("apache2 did not stop within %ss" % timeout)

    def stop(self, timeout=20):
        # Not while a connection is still closing: httpd 2.4.71's event MPM
        # can crash (a child's main thread in close_worker_sockets()) or log
        # AH03092 when SIGTERM comes while a worker is in lingering close.
        # Seen without mod_profiler: 7 in 300 start/request/stop runs; 0 in
        # 300 with this wait.
        if self.proc is not None and self.proc.poll() is None:
            wait_connections_closed(self.port)
        self._signal_and_wait(signal.SIGTERM, timeout)

    def graceful_stop(self, timeout=60):
        # Sent again every few seconds: once, right after a graceful restart
        # under load, apache2's parent did not act on it (its log had no
        # "caught SIGWINCH"; a second signal 20 s later stopped it). We did
        # not find why; a repeated one is harmless (httpd ignores it while
        # a shutdown is pending).
        deadline = time.time() + timeout
        while self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGWINCH)
            try:
                self.proc.wait(min(5, max(0.1, deadline - time.time())))
            except subprocess.TimeoutExpired:
                if time.time() >= deadline:
                    self.proc.kill()
                    self.proc.wait()
                    raise RuntimeError("apache2 did not stop within %ss" % timeout)

    def graceful_restart(self):
        self.proc.send_signal(signal.SIGUSR1)

    def cleanup(self):
        self.stop()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- logs ------------------------------------------------------------
    def read_error_log(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_problems(self, allowed=()):
        """Error-log lines at warn level or worse that no pattern allows."""
        bad = []
        for line in self.read_error_log().splitlines():
            if (_LOG_PROBLEM.search(line) and not _HTTPD_NOISE.search(line)
                    and not any(re.search(a, line) for a in allowed)):
                bad.append(line)
        return bad

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)


# TCP states in /proc/net/tcp that mean a connection is over (or listens):
# LISTEN, TIME_WAIT, CLOSE.
_TCP_DONE = ("0A", "06", "07")


def open_connections(port):
    """Connections on 127.0.0.1:port not yet closed on both sides."""
    return _tcp_sockets(port, _TCP_DONE, False)


def _tcp_sockets(port, states, want):
    """Sockets whose local port is port and whose state is (want=True) or
    is not (want=False) in states."""
    n = 0
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if (int(fields[1].rsplit(":", 1)[1], 16) == port
                    and (fields[3] in states) == want):
                n += 1
    return n


def listening(port):
    """Whether something listens on port (read from /proc/net/tcp*)."""
    return _tcp_sockets(port, ("0A",), True) > 0


def wait_connections_closed(port, timeout=1.0):
    """Up to timeout seconds for the server's connections to be closed (a
    test that holds one open on purpose just waits the timeout)."""
    deadline = time.time() + timeout
    while open_connections(port) and time.time() < deadline:
        time.sleep(0.01)
    # The worker that closed it goes on a little (its pool, the scoreboard)
    time.sleep(0.05)


# -- Server-Timing, as the browser reads it ---------------------------------
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_ENTRY = re.compile(r"(%s)((?:;(?:%s)=(?:%s|\"(?:[^\"\\]|\\.)*\"))*)$"
                    % (_TOKEN, _TOKEN, _TOKEN))
_PARAM = re.compile(r";(%s)=(%s|\"(?:[^\"\\]|\\.)*\")" % (_TOKEN, _TOKEN))


def split_entries(value):
    """Split a Server-Timing value on the commas outside quoted strings."""
    parts, cur, i, inq = [], [], 0, False
    while i < len(value):
        c = value[i]
        if inq and c == "\\" and i + 1 < len(value):
            cur.append(value[i:i + 2])
            i += 2
            continue
        if c == '"':
            inq = not inq
        if c == "," and not inq:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def parse_server_timing(value):
    """Parse one Server-Timing value that we wrote, strictly: any deviation
    from the grammar we promise (', ' between entries, no OWS inside) raises.
    Returns [(name, {param: value})]."""
    out = []
    # HTAB may stand inside a quoted-string (RFC 9110 qdtext), nowhere
    # else: outside one, the token patterns below refuse it.
    if re.search(r"[\x00-\x08\x0a-\x1f\x7f]", value):
        raise ValueError("control byte in %r" % value)
    parts = split_entries(value)
    for k, part in enumerate(parts):
        if k:
            if not part.startswith(" "):
                raise ValueError("separator is not ', ' in %r" % value)
            part = part[1:]
        m = _ENTRY.match(part)
        if not m:
            raise ValueError("not a valid entry: %r in %r" % (part, value))
        params = {}
        for pm in _PARAM.finditer(m.group(2)):
            key = pm.group(1).lower()
            if key in params:
                raise ValueError("repeated param %r in %r" % (key, part))
            v = pm.group(2)
            if v.startswith('"'):
                v = re.sub(r"\\(.)", r"\1", v[1:-1])
            params[key] = v
        if "dur" in params and not re.fullmatch(r"\d+(\.\d{3})?", params["dur"]):
            raise ValueError("bad dur %r" % params["dur"])
        out.append((m.group(1), params))
    return out


def dur_us(params):
    """A dur we wrote ("1.204") as whole microseconds (1204)."""
    d = params["dur"]
    if "." in d:
        ms, frac = d.split(".")
        return int(ms) * 1000 + int(frac)
    return int(d) * 1000


def h2c_get(port, paths, timeout=10):
    """GET every path as concurrent streams on ONE h2c connection (prior
    knowledge). Returns [(status, [(name, value)...], body)] in path order."""
    import h2.config
    import h2.connection
    import h2.events

    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    sock = socket.create_connection(("127.0.0.1", port), timeout)
    try:
        conn.initiate_connection()
        ids = []
        for p in paths:
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(":method", "GET"), (":path", p),
                                    (":scheme", "http"),
                                    (":authority", "127.0.0.1:%d" % port)],
                              end_stream=True)
            ids.append(sid)
        sock.sendall(conn.data_to_send())
        res = {sid: [None, [], b""] for sid in ids}
        open_ids = set(ids)
        while open_ids:
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("connection closed with streams open")
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    hdrs = [(k.decode(), v.decode("latin-1")) for k, v in ev.headers]
                    res[ev.stream_id][0] = int(dict(hdrs)[":status"])
                    res[ev.stream_id][1] = hdrs
                elif isinstance(ev, h2.events.DataReceived):
                    res[ev.stream_id][2] += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    open_ids.discard(ev.stream_id)
            sock.sendall(conn.data_to_send())
        return [tuple(res[s]) for s in ids]
    finally:
        sock.close()
