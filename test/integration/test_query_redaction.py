"""ProfilerStoreQuery: real requests stored to SQLite by real apache2
children, and the query column read back. ';' separates parameters, names
in brackets notation and the usual credential names are hidden, and an
inner ProfilerStoreQuery adds its names to the outer ones."""
import urllib.request

from store import SqliteDb, count_rows, make_server, wait_for

EXTRA = r"""
ProfilerStoreQuery On color
<Location /inner>
    ProfilerStoreQuery On size
</Location>
<Location /inner/deeper>
    ProfilerStoreQuery On shape
</Location>
<Location /off>
    ProfilerStoreQuery Off
</Location>
"""

SECRET = "hunter2"

# name as sent -> hidden?
PARAMS = [
    ("a", False),
    ("password", True),
    ("X-Amz-Signature", True),
    ("X-Amz-Credential", True),
    ("X-Amz-Security-Token", True),
    ("X-Amz-Date", False),
    ("private_token", True),
    ("auth_token", True),
    ("oauth_token", True),
    ("api-key", True),
    ("x-api-key", True),
    ("access_key", True),
    ("client_id", False),       # public in OAuth: kept
    ("user[password]", True),
    ("user%5Bpassword%5D", True),
    ("a[b][token]", True),
    ("user[name]", False),
    ("color", True),            # the configuration's own name
    ("size", False),            # only /inner's
]


def get(srv, path):
    try:
        with urllib.request.urlopen(srv.url(path), timeout=30) as r:
            r.read()
    except urllib.error.HTTPError:
        pass


def query_of(srv, path):
    return srv.db.scalar("SELECT query FROM profiler_requests WHERE path = ?",
                         (path,))


def test_stored_queries_hide_what_they_must():
    srv = make_server(SqliteDb, name="redact", extra=EXTRA)
    try:
        # ';' and '&' mixed, as a client may send them
        args = ";".join("%s=%s%dx" % (n, SECRET, i)
                        for i, (n, _) in enumerate(PARAMS[:8]))
        args += "&" + "&".join("%s=%s%dx" % (n, SECRET, i + 8)
                               for i, (n, _) in enumerate(PARAMS[8:]))
        get(srv, "/x?" + args)
        get(srv, "/inner/x?color=red&size=2&shape=round&password=" + SECRET)
        get(srv, "/inner/deeper/x?color=red;size=2;shape=round;pwd=" + SECRET)
        get(srv, "/off/x?password=" + SECRET)
        wait_for(lambda: count_rows(srv.db) == 4)
        srv.graceful_stop()
        assert not srv.log_problems()

        got = query_of(srv, "/x")
        seps = [";"] * 7 + ["&"] + ["&"] * (len(PARAMS) - 9)
        want = ""
        for i, (name, hidden) in enumerate(PARAMS):
            if i:
                want += seps[i - 1]
            want += "%s=%s" % (name, "REDACTED" if hidden else "%s%dx" % (SECRET, i))
        assert got == want
        # an inner section adds to the outer list, never replaces it
        assert query_of(srv, "/inner/x") == \
            "color=REDACTED&size=REDACTED&shape=round&password=REDACTED"
        assert query_of(srv, "/inner/deeper/x") == \
            "color=REDACTED;size=REDACTED;shape=REDACTED;pwd=REDACTED"
        assert query_of(srv, "/off/x") is None
        # the secret of a hidden parameter is nowhere
        for i, (name, hidden) in enumerate(PARAMS):
            if hidden:
                assert count_rows(srv.db, "query LIKE '%%%s%dx%%'"
                                  % (SECRET, i)) == 0, name
    finally:
        srv.cleanup()
