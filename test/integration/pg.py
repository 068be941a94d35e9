"""Start a real PostgreSQL server for integration tests.

Each PgServer gets its own cluster in a fresh directory under /tmp and a free
127.0.0.1 port, so several can run side by side and none touches a system
cluster. It is the distribution's real server (initdb, pg_ctl, postgres);
we talk to it only through the psql CLI so the tests need nothing beyond the
Python standard library.

    with PgServer() as pg:
        pg.query("CREATE TABLE t (a int)")
        ... httpd with "DBDriver pgsql" and "DBDParams %s" % pg.dbd_params ...
        pg.restart()                # or pg.stop() ... pg.start() for outages
        assert pg.scalar("SELECT count(*) FROM t") == "0"
"""
import atexit
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PG_ROOT = "/usr/lib/postgresql"
HOST = "127.0.0.1"
USER = "prof"
DBNAME = "profiler"

# psql separators. A value containing \x1f (ASCII unit separator) would be
# split, but test data has no reason to hold one. Records end in NUL (-0),
# which no PostgreSQL text value can contain, so values with newlines stay
# in one row.
_FIELD_SEP = "\x1f"
_RECORD_SEP = "\0"

# Servers not yet cleaned up. pg_ctl detaches the postmaster into its own
# session, so a test run that forgets cleanup() (or dies of an exception
# outside a fixture) would otherwise leave servers running forever.
_live = set()


def _version_key(bindir):
    version = os.path.basename(os.path.dirname(bindir))
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (-1,)


def pg_bindir():
    """The newest /usr/lib/postgresql/<version>/bin with a server, or None."""
    dirs = [d for d in glob.glob(os.path.join(PG_ROOT, "*", "bin"))
            if all(os.access(os.path.join(d, p), os.X_OK)
                   for p in ("initdb", "pg_ctl", "postgres"))]
    return max(dirs, key=_version_key) if dirs else None


def _psql(bindir):
    # Prefer the psql next to the server: /usr/bin/psql is Debian's Perl
    # pg_wrapper, which costs a Perl start per query and picks a version by
    # its own rules.
    own = os.path.join(bindir, "psql") if bindir else None
    if own and os.access(own, os.X_OK):
        return own
    return shutil.which("psql")


def pg_available():
    """None if a PostgreSQL server can be started here, else why not."""
    bindir = pg_bindir()
    if bindir is None:
        return ("no PostgreSQL server binaries in %s/*/bin "
                "(apt-get install postgresql)" % PG_ROOT)
    if _psql(bindir) is None:
        return "psql not found (apt-get install postgresql-client)"
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _server_account():
    """The account to run initdb/pg_ctl as, or None for ourselves.

    PostgreSQL refuses to run as root, and tests usually run as root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    raise RuntimeError("running as root, but there is neither a 'postgres' "
                       "nor a 'nobody' account to run PostgreSQL as")


def _as_user_prefix(account):
    if account is None:
        return []
    # setpriv execs directly: no PAM session and no extra parent process
    # sitting between us and pg_ctl, unlike runuser.
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=%s" % account.pw_name,
                "--regid=%d" % account.pw_gid, "--init-groups", "--"]
    return ["runuser", "-u", account.pw_name, "--"]


def _env(**extra):
    # Stray PG* variables (PGDATA, PGHOST, PGPORT, PGOPTIONS ...) from the
    # caller's shell would silently redirect or reconfigure our commands; a
    # locale that is not installed makes initdb and Perl noisy.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "LC_")) and k not in ("LANG", "LANGUAGE")}
    env["LC_ALL"] = "C"
    env.update(extra)
    return env


def _alive(pid):
    """True if pid runs and is not a zombie (a zombie is gone for us, but
    kill(pid, 0) still succeeds on it until someone reaps it)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _text(output):
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return output or ""


def _conf_quote(value):
    return "'%s'" % str(value).replace("'", "''")


class PgServer:
    """One PostgreSQL cluster. Use as a context manager or start()/cleanup()."""

    def __init__(self, name="pg"):
        reason = pg_available()
        if reason:
            raise RuntimeError(reason)
        self.bindir = pg_bindir()
        self.psql = _psql(self.bindir)
        self.account = _server_account()
        self.port = free_port()
        # Keep the name tame and short: it ends up in a config file and in
        # the unix socket path, which Linux limits to 107 bytes.
        tag = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:20]
        self.dir = tempfile.mkdtemp(prefix="mod_profiler-%s-" % tag, dir="/tmp")
        os.chmod(self.dir, 0o755)
        if self.account is not None:
            # The server runs as another user: it must own the directory to
            # create its data dir, socket, lock files and log in it.
            os.chown(self.dir, self.account.pw_uid, self.account.pw_gid)
        self.datadir = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "server.log")
        self.conffile = os.path.join(self.dir, "test.conf")
        self._have_db = False
        _live.add(self)

    def __repr__(self):
        return "<PgServer %s port %d>" % (self.dir, self.port)

    # -- running the server's tools --------------------------------------

    def _run_server_tool(self, args, timeout):
        # cwd: the server account may not be able to enter our cwd (e.g.
        # /root), and initdb/postgres complain if they cannot.
        cmd = _as_user_prefix(self.account) + args
        try:
            return subprocess.run(
                cmd, cwd=self.dir, env=_env(HOME=self.dir),
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=timeout)
        except subprocess.TimeoutExpired as e:
            # Report it like any other failure, so callers fall back to
            # killing and to showing the server log.
            return subprocess.CompletedProcess(
                cmd, -1, _text(e.stdout),
                _text(e.stderr) + "\ntimed out after %ss" % timeout)

    def _pidfile_pid(self):
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def _processes(self):
        """Pids of every live process of this cluster.

        Postmaster and all backends chdir into the data directory, so the
        cwd identifies them even when the postmaster died and its orphans
        no longer have it as parent (orphans keep the shared memory, and a
        new postmaster refuses to start while they hold it)."""
        try:
            want = os.path.realpath(self.datadir)
        except OSError:
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink("/proc/%s/cwd" % entry) == want:
                    pids.append(int(entry))
            except OSError:     # gone meanwhile, a zombie, or not ours
                pass
        return [p for p in pids if _alive(p)]

    def _remove_stale_lockfiles(self):
        # A killed postmaster leaves postmaster.pid and the socket's lock
        # file behind. PostgreSQL overrides stale ones by itself, but only
        # once kill(pid, 0) fails, and where init is slow to reap orphans
        # (on the test VM a dead postmaster stays a zombie for 1-2 seconds)
        # the new postmaster would refuse to start. Nothing of this cluster
        # runs any more (the caller checked), so these files lie.
        locks = [os.path.join(self.datadir, "postmaster.pid")]
        locks += glob.glob(os.path.join(self.dir, ".s.PGSQL.*.lock"))
        for path in locks:
            try:
                with open(path) as f:
                    pid = int(f.readline())
                if not _alive(pid):
                    os.unlink(path)
            except (OSError, ValueError):
                pass

    def running(self):
        pid = self._pidfile_pid()
        return pid is not None and pid in self._processes()

    # -- lifecycle ---------------------------------------------------------

    def _initdb(self, timeout):
        r = self._run_server_tool(
            [os.path.join(self.bindir, "initdb"), "-D", self.datadir,
             "-A", "trust", "-U", USER, "--no-sync", "-E", "UTF8",
             "--locale=C"], timeout)
        if r.returncode != 0:
            raise RuntimeError("initdb failed (exit %d):\n%s%s"
                               % (r.returncode, r.stdout, r.stderr))
        # Our settings live outside the data dir and are rewritten on every
        # start, so a changed port (see start()) always takes effect.
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            f.write("\ninclude %s\n" % _conf_quote(self.conffile))

    def _write_conf(self):
        settings = {
            # Never on a public interface or the system's socket directory.
            "listen_addresses": _conf_quote(HOST),
            "port": self.port,
            "unix_socket_directories": _conf_quote(self.dir),
            # Surviving an OS crash is worthless for a throwaway cluster.
            # synchronous_commit stays on: with it off, a killed server
            # loses commits it already acknowledged, which would make
            # crash tests count rows wrongly.
            "fsync": "off",
            "full_page_writes": "off",
            # pg_ctl -l collects stderr; log_text() reads that one file.
            "logging_collector": "off",
            "log_line_prefix": _conf_quote("%m [%p] %q%u@%d "),
            # Every httpd child may hold its own mod_dbd connections.
            "max_connections": 200,
        }
        with open(self.conffile, "w") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))
        if self.account is not None:
            os.chown(self.conffile, self.account.pw_uid, self.account.pw_gid)

    def _log_since(self, offset):
        try:
            with open(self.logfile, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def start(self, timeout=30):
        """Start the server (initdb and create the database the first time)
        and return once it accepts TCP connections. The first start may
        move to another port if ours was taken meanwhile: read port and
        dbd_params after it."""
        if self.running():
            return
        if self._processes():
            # Orphaned backends of a postmaster that died hold its shared
            # memory, and a new postmaster refuses to start next to them.
            self._kill_all()
        self._remove_stale_lockfiles()
        deadline = time.monotonic() + timeout
        first = not os.path.exists(os.path.join(self.datadir, "PG_VERSION"))
        if first:
            self._initdb(timeout)
        # The port was only free when we looked: someone may have taken it
        # since. Before the first start nobody knows our port yet, so a new
        # one is fine; later starts must keep it (dbd_params is in use).
        attempts = 3 if first else 1
        for attempt in range(attempts):
            self._write_conf()
            log_offset = (os.path.getsize(self.logfile)
                          if os.path.exists(self.logfile) else 0)
            left = max(1, int(deadline - time.monotonic()))
            r = self._run_server_tool(
                [os.path.join(self.bindir, "pg_ctl"), "start", "-D", self.datadir,
                 "-l", self.logfile, "-w", "-t", str(left), "-s"], left + 10)
            if r.returncode == 0:
                break
            log = self._log_since(log_offset)
            # pg_ctl gave up, but a slow postmaster may still come up later.
            self._kill_all()
            if "Address already in use" in log and attempt + 1 < attempts:
                self.port = free_port()
                continue
            raise RuntimeError(
                "PostgreSQL did not start on port %d (pg_ctl exit %d):\n%s%s\n"
                "--- server log ---\n%s" % (self.port, r.returncode, r.stdout,
                                            r.stderr, log))
        self._wait_ready(deadline, log_offset)
        if not self._have_db:
            # Checked rather than assumed from `first`: a first start that
            # failed halfway must not leave us without the database.
            if self.scalar("SELECT count(*) FROM pg_database WHERE datname = '%s'"
                           % DBNAME, db="postgres") == "0":
                self.query('CREATE DATABASE "%s" OWNER "%s"' % (DBNAME, USER),
                           db="postgres")
            self._have_db = True

    def _wait_ready(self, deadline, log_offset):
        # pg_ctl -w trusts postmaster.pid; we want proof over TCP, which is
        # the way httpd will connect.
        while True:
            try:
                self.query("SELECT 1", db="postgres", timeout=5)
                return
            except RuntimeError as e:
                error = e
            if not self.running() or time.monotonic() > deadline:
                self._kill_all()
                raise RuntimeError(
                    "PostgreSQL on port %d does not accept connections: %s\n"
                    "--- server log ---\n%s"
                    % (self.port, error, self._log_since(log_offset)))
            time.sleep(0.05)

    def _wait_gone(self, timeout):
        deadline = time.monotonic() + timeout
        while self._processes():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _kill_all(self):
        """Immediate shutdown (SIGQUIT), then SIGKILL for what is left."""
        for sig, grace in ((signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
            for pid in self._processes():
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            if self._wait_gone(grace):
                return
        raise RuntimeError("PostgreSQL processes %s in %s survived SIGKILL"
                           % (self._processes(), self.datadir))

    def stop(self, timeout=30):
        """Fast shutdown; returns once no process of this cluster is left.
        Harmless if the server is already stopped or died."""
        if not self._processes():
            # Never started, stopped already, or died with all backends:
            # pg_ctl would only complain about a missing or stale pid file.
            return
        if self.running():
            r = self._run_server_tool(
                [os.path.join(self.bindir, "pg_ctl"), "stop", "-D", self.datadir,
                 "-m", "fast", "-w", "-t", str(int(timeout)), "-s"], timeout + 10)
            # pg_ctl returns when postmaster.pid is gone; the last backends
            # may take a moment longer to exit.
            if r.returncode == 0 and self._wait_gone(5):
                return
        # The postmaster died and left orphaned backends, or fast shutdown
        # got stuck: don't wait any longer.
        self._kill_all()

    def restart(self):
        """Stop and start again, same data directory and port."""
        self.stop()
        self.start()

    def cleanup(self):
        """Stop the server and remove its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            _live.discard(self)

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    # -- using it ----------------------------------------------------------

    @property
    def dbd_params(self):
        """DBDParams for httpd's "DBDriver pgsql"."""
        return "host=%s port=%d dbname=%s user=%s" % (HOST, self.port, DBNAME, USER)

    def query(self, sql, *, db=DBNAME, timeout=60):
        """Run an SQL text through psql; return all result rows as tuples of
        strings (NULL reads as ""). Statements run one after the other in
        autocommit mode, and the rows of all of them are returned in order.
        Raises RuntimeError with psql's messages on any error."""
        cmd = [self.psql, "-X", "-q", "-A", "-t", "-0", "-F", _FIELD_SEP,
               "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(self.port),
               "-U", USER, "-d", db, "-f", "-"]
        # SQL goes on stdin, not -c: the argument length is limited (128 KiB)
        # and -c would hide all results but the last.
        try:
            r = subprocess.run(
                cmd, input=sql.encode("utf-8"), capture_output=True,
                env=_env(PGCLIENTENCODING="UTF8", PGCONNECT_TIMEOUT="10"),
                timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError("psql on port %d timed out after %ss\nSQL: %s"
                               % (self.port, timeout, sql)) from None
        if r.returncode != 0:
            raise RuntimeError("psql on port %d failed (exit %d): %s\nSQL: %s"
                               % (self.port, r.returncode,
                                  r.stderr.decode("utf-8", "replace").strip(), sql))
        out = r.stdout.decode("utf-8")
        # Every record, including the last, ends with the separator.
        return [tuple(rec.split(_FIELD_SEP)) for rec in out.split(_RECORD_SEP)[:-1]]

    def scalar(self, sql, *, db=DBNAME):
        """The first column of the first row."""
        rows = self.query(sql, db=db)
        if not rows:
            raise RuntimeError("query returned no rows: %s" % sql)
        return rows[0][0]

    def log_text(self):
        """Everything the server logged so far, over all starts."""
        return self._log_since(0)


@atexit.register
def _cleanup_leftovers():
    for server in list(_live):
        try:
            server.cleanup()
        except Exception:
            pass
