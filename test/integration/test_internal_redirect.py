"""After an internal redirect (ErrorDocument to a local page, a CGI's local
redirect, DirectoryIndex) the record follows the final request, as
mod_log_config's %>s does: its status, and its configuration (ProfilerStore,
ProfilerServerTiming of the target's <Location>). The path and route stay
the client's (%U). Real apache2, real CGI (mod_cgid / mod_cgi), real SQLite."""
import os
import urllib.error
import urllib.request

import pytest

from store import SqliteDb, make_server

EXTRA = r"""
ProfilerServerTiming On
LogFormat "%U %>s %{Server-Timing}o" redirect
CustomLog @ROOT@/logs/redirect.log redirect
DirectoryIndex index.html
ErrorDocument 404 /errors/404.html
<Directory @ROOT@/htdocs/cgi>
    Options +ExecCGI
    SetHandler cgi-script
</Directory>
# The targets: one without our header, one that stores nothing.
<Location /errors>
    ProfilerServerTiming Off
</Location>
<Location /quiet-store>
    ProfilerStore Off
</Location>
<Location /target>
    ProfilerServerTiming Off
</Location>
# The origins: one whose error page does not store, one that stores nothing
# itself but whose error page does.
<Location /nostore-err>
    ErrorDocument 404 /quiet-store/404.html
</Location>
<Location /plain>
    ProfilerStore Off
</Location>
<Location /dir/index.html>
    ProfilerServerTiming Off
</Location>
"""

CGI = "#!/bin/sh\nprintf 'Location: %s\\n\\n'\n"


def fetch(srv, path):
    try:
        with urllib.request.urlopen(srv.url(path), timeout=30) as r:
            return r.status, r.headers.get("Server-Timing"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Server-Timing"), e.read()


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_record_follows_the_final_request(mpm):
    cgi = "cgi" if mpm == "prefork" else "cgid"
    srv = make_server(SqliteDb, mpm=mpm, extra=EXTRA, name="redirect-" + mpm,
                      modules=[cgi], start=False)
    srv.write("errors/404.html", "not here\n")
    srv.write("quiet-store/404.html", "not here either\n")
    srv.write("quiet-store/page.html", "quiet\n")
    srv.write("target/page.html", "target\n")
    srv.write("dir/index.html", "index\n")
    srv.write("cgi/redir.cgi", CGI % "/target/page.html", mode=0o755)
    srv.write("cgi/redir-nostore.cgi", CGI % "/quiet-store/page.html",
              mode=0o755)
    srv.start()
    try:
        got = {p: fetch(srv, p) for p in [
            "/missing", "/nostore-err/missing", "/plain/missing",
            "/cgi/redir.cgi", "/cgi/redir-nostore.cgi", "/dir/", "/index.html"]}
    finally:
        srv.graceful_stop()
    try:
        problems = srv.log_problems()
        assert not problems, "\n".join(problems)
        with open(os.path.join(srv.logs, "redirect.log")) as f:
            logged = {}
            for line in f:
                path, status, st = line.rstrip("\n").split(" ", 2)
                logged[path] = (int(status), st)
        rows = {p: (s, route) for p, s, route in srv.db.query(
            "SELECT path, status, route FROM profiler_requests")}

        # ErrorDocument: the page's <Location> sends no header; the row
        # holds the final status, as %>s, under the client's path (and,
        # a 404 that no ProfilerRoute names, under route "(not found)")
        assert got["/missing"][:2] == (404, None)
        assert got["/missing"][2] == b"not here\n"
        assert logged["/missing"] == (404, "-")
        assert rows["/missing"] == (404, "(not found)")
        # ... whose page stores nothing: nothing stored
        assert got["/nostore-err/missing"][0] == 404
        assert "/nostore-err/missing" not in rows
        # ... from where nothing is stored to a page that stores
        assert got["/plain/missing"][0] == 404
        assert rows["/plain/missing"] == (404, "(not found)")
        # a CGI's local redirect (Location: /path, status 200)
        assert got["/cgi/redir.cgi"] == (200, None, b"target\n")
        assert logged["/cgi/redir.cgi"] == (200, "-")
        assert rows["/cgi/redir.cgi"] == (200, "/cgi/redir.cgi")
        assert got["/cgi/redir-nostore.cgi"][:2][0] == 200
        assert got["/cgi/redir-nostore.cgi"][2] == b"quiet\n"
        assert "/cgi/redir-nostore.cgi" not in rows
        # DirectoryIndex (a fast internal redirect): index.html's <Location>
        assert got["/dir/"][:2] == (200, None)
        assert rows["/dir/"][0] == 200
        # the control: a page without redirect gets its header
        assert got["/index.html"][0] == 200 and got["/index.html"][1]
        # every stored row agrees with %>s (mod_dir's fast redirect changes
        # the r->uri that %U logs, not the path the client sent)
        for path, (status, _) in rows.items():
            entry = logged.get(path) or logged[path + "index.html"]
            assert entry[0] == status, path
    finally:
        srv.cleanup()
