"""Helpers for the measurement store's tests: a real database behind a real
apache2, and a real load generator (ab)."""
import os
import re
import shutil
import sqlite3
import subprocess
import time

from harness import ROOT, Httpd

TEST_MOD_DIR = os.path.join(ROOT, "test", "modules")
TEST_MOD = os.path.join(TEST_MOD_DIR, ".libs", "mod_profiler_test.so")
AB = shutil.which("ab") or "/usr/bin/ab"
PHASES = ["read", "postread", "quick", "translate", "storage", "headers",
          "access", "authn", "authz", "type", "fixups", "handler", "body",
          "log"]

# Our outage lines (and the rollups' flush that waits for the database:
# PROF00262) (an outage that lasts into a stop loses the queued rows:
# PROF00172); tests that cause outages allow them, and mod_dbd's own.
OUTAGE_LOG = (r"PROF00006", r"PROF00007", r"PROF00014", r"PROF00172",
              r"PROF00262",
              r"\[dbd:",
              r"AH0062[0-9]", r"AH0063[0-9]", r"AH02655")


def build_test_module():
    subprocess.run(["apxs", "-c", "-Wc,-Wall", "-Wc,-Wextra", "-Wc,-Werror",
                    "-I" + os.path.join(ROOT, "include"), "mod_profiler_test.c"],
                   cwd=TEST_MOD_DIR, check=True, capture_output=True)
    return TEST_MOD


class SqliteDb:
    """A database file the children (www-data) can write."""
    driver = "sqlite3"

    def __init__(self, root):
        self.dir = os.path.join(root, "db")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o777)
        self.path = os.path.join(self.dir, "profiler.db")

    @property
    def params(self):
        return self.path

    def query(self, sql, args=()):
        # mode=rw: never create the file (as root, before httpd does).
        con = sqlite3.connect("file:%s?mode=rw" % self.path, uri=True,
                              timeout=30)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def scalar(self, sql, args=()):
        rows = self.query(sql, args)
        return rows[0][0] if rows else None


class PgDb:
    """A database on a PgServer (test/integration/pg.py)."""
    driver = "pgsql"

    def __init__(self, pg):
        self.pg = pg

    @property
    def params(self):
        return self.pg.dbd_params

    def query(self, sql, args=()):
        assert not args, "PgDb.query takes literal SQL only"
        rows = self.pg.query(sql)
        return [tuple(_num(v) for v in r) for r in rows]

    def scalar(self, sql, args=()):
        rows = self.query(sql, args)
        return rows[0][0] if rows else None


def _num(v):
    if v is None or v == "":
        return None if v is None else v
    try:
        return int(v)
    except ValueError:
        return v


def store_conf(db, extra="", persist=None):
    # The tests written before ProfilerStoreRate count raw rows one for one:
    # they store every request unless they set a rate themselves.
    if "ProfilerStoreRate" not in extra:
        extra = "ProfilerStoreRate Off\n" + extra
    return "\n".join([
        "LoadModule dbd_module /usr/lib/apache2/modules/mod_dbd.so",
        "DBDriver %s" % db.driver,
        "DBDParams \"%s\"" % db.params,
        ("DBDPersist %s" % persist) if persist else "",
        "Profiler On",
        "ProfilerStore On",
        extra,
    ])


def make_server(db_factory, mpm="event", extra="", name="store",
                persist=None, modules=(), test_module=None, start=True):
    """An Httpd with the store on; db_factory(root) gives the database."""
    srv = Httpd("", mpm=mpm, name=name, modules=modules)
    db = db_factory(srv.root)
    body = store_conf(db, extra, persist)
    if test_module:
        body = "LoadModule profiler_test_module %s\n<Location /t>\n" \
               "SetHandler profiler-test\n</Location>\n" % test_module + body
    # Rewrite the generated configuration with our body (Httpd wrote it
    # with an empty one).
    with open(srv.conf) as f:
        text = f.read()
    with open(srv.conf, "w") as f:
        f.write(text + "\n" + body.replace("@ROOT@", srv.root)
                .replace("@PORT@", str(srv.port)) + "\n")
    srv.write("index.html", "hello\n")
    srv.db = db
    if start:
        srv.start()
    return srv


def ab(srv, path, n, c=20, keepalive=False, timeout=300):
    """Run ab; returns (completed, failed, non2xx)."""
    args = [AB, "-q", "-n", str(n), "-c", str(c), "-s", "60"]
    if keepalive:
        args.append("-k")
    out = subprocess.run(args + [srv.url(path)], capture_output=True,
                         text=True, timeout=timeout)
    text = out.stdout + out.stderr
    m = re.search(r"Complete requests:\s+(\d+)", text)
    assert m, text
    failed = int(re.search(r"Failed requests:\s+(\d+)", text).group(1))
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", text)
    return int(m.group(1)), failed, int(non2xx.group(1)) if non2xx else 0


def wait_for(fn, timeout=30, interval=0.2):
    """Poll fn() until it returns something true; return that."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
        except Exception as e:  # the table may not exist yet
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError("timed out; last result: %r" % (last,))


def count_rows(db, where="1=1"):
    return db.scalar("SELECT count(*) FROM profiler_requests WHERE " + where)
