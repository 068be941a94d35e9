"""A SQLite database the children cannot write (Debian's root-owned
/var/lib/apache2, say): the store's startup error names the database, the
user the children run as and what to create, once; the server runs on and
requests are answered as ever."""
import os
import pwd
import urllib.request

from store import OUTAGE_LOG, ab, make_server

# What the server logs when it cannot write the database: ours, mod_dbd's.
ALLOWED = OUTAGE_LOG + (r"PROF00170", r"PROF00171")


class RootOwnedDir:
    """A database in a directory only root may write (0755, root's)."""
    driver = "sqlite3"

    def __init__(self, root, create=True):
        self.dir = os.path.join(root, "var-lib")
        if create:
            os.makedirs(self.dir)
            os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "profiler.db")

    @property
    def params(self):
        return self.path


def child_user():
    # The harness runs a root httpd's children as www-data; otherwise they
    # run as whoever started it.
    if os.geteuid() == 0:
        return "www-data"
    return pwd.getpwuid(os.geteuid()).pw_name


def test_unwritable_sqlite_directory_names_path_and_user():
    srv = make_server(RootOwnedDir, name="perm")
    try:
        with urllib.request.urlopen(srv.url("/index.html"), timeout=10) as r:
            assert r.status == 200
        assert ab(srv, "/index.html", 50, c=5) == (50, 0, 0)
        srv.graceful_stop()
        log = srv.read_error_log()
        lines = [l for l in log.splitlines() if "PROF00171" in l]
        # Once, from the parent, at startup; it names the database, the
        # directory, the user and what to do.
        assert len(lines) == 1, log
        line = lines[0]
        user = child_user()
        uid = pwd.getpwnam(user).pw_uid
        assert srv.db.path in line
        assert "user %s (uid %d)" % (user, uid) in line
        assert "%s is owned by uid %d, mode 0755" % (srv.db.dir, os.geteuid()) in line
        assert "install -d -o %s" % user in line
        assert "PROF00170" not in log
        assert not srv.log_problems(ALLOWED)
    finally:
        srv.cleanup()


def test_missing_sqlite_directory_says_what_to_create():
    srv = make_server(lambda root: RootOwnedDir(root, create=False),
                      name="nodir")
    try:
        with urllib.request.urlopen(srv.url("/index.html"), timeout=10) as r:
            assert r.status == 200
        srv.graceful_stop()
        log = srv.read_error_log()
        lines = [l for l in log.splitlines() if "PROF00170" in l]
        assert len(lines) == 1, log
        assert "directory %s of the SQLite database %s" % (
            srv.db.dir, srv.db.path) in lines[0]
        assert "install -d -o %s" % child_user() in lines[0]
        assert not srv.log_problems(ALLOWED)
    finally:
        srv.cleanup()
