"""The report's configuration checks run at `apache2 -t` (check_config),
so `apachectl configtest && apachectl graceful` shows them first; and they
find the report however a configuration sets it: quoted arguments, nested
sections, AddHandler, a RewriteRule's H= flag."""
import pytest

from harness import Httpd

OPEN = "PROF00023"          # a report section without access control
WHOLE = "PROF00024"         # a report for a whole server or virtual host
NO_TOKEN = "PROF00140"      # Require profiler-token, no ProfilerReportToken

# A report reads the main server's mod_dbd database: without one, -t fails
# (test_store_configtest.py); these tests are about the warnings.
DBD = "DBDriver sqlite3\nDBDParams @ROOT@/profiler.db\n"


def configtest(body, modules=()):
    srv = Httpd(DBD + body, name="report-configtest",
                modules=("dbd",) + tuple(modules))
    try:
        res = srv.configtest()
    finally:
        srv.cleanup()
    return res.returncode, res.stdout + res.stderr


@pytest.mark.parametrize("body,tag,where", [
    ('<Location /r>\nSetHandler "profiler-report"\n</Location>', OPEN,
     "<Location /r>"),
    ("<Location /r>\nSetHandler Profiler-Report\n</Location>", OPEN,
     "<Location /r>"),
    ('<Location "/r">\n<If "%{QUERY_STRING} =~ /x/">\nSetHandler '
     'profiler-report\n</If>\n</Location>', OPEN, "<If"),
    ("<LocationMatch \"^/r\">\nSetHandler profiler-report\n</LocationMatch>",
     OPEN, "<LocationMatch"),
    ("<Location ~ \"^/r\">\nSetHandler profiler-report\n</Location>", OPEN,
     "<Location ~"),
    ("<DirectoryMatch \"^/srv/r\">\nSetHandler profiler-report\n"
     "</DirectoryMatch>", OPEN, "<DirectoryMatch"),
    ("<Directory /srv>\n<Files report>\nSetHandler profiler-report\n"
     "</Files>\n</Directory>", OPEN, "<Files report>"),
    ("<FilesMatch \"\\.prof$\">\nSetHandler profiler-report\n</FilesMatch>",
     OPEN, "<FilesMatch"),
    ("<Location /r>\nAddHandler profiler-report .prof\n</Location>", OPEN,
     "<Location /r>"),
    ("AddHandler profiler-report .prof", WHOLE, "AddHandler"),
    ('SetHandler "profiler-report"', WHOLE, "SetHandler"),
    ("<VirtualHost 127.0.0.1:@PORT@>\nSetHandler profiler-report\n"
     "</VirtualHost>", WHOLE, "virtual host"),
    ("RewriteEngine On\nRewriteRule ^/r - [L,H=profiler-report]", WHOLE,
     "RewriteRule"),
    ("<Location /r>\nRequire profiler-token\n</Location>", NO_TOKEN,
     "Require profiler-token"),
])
def test_warns_at_configtest(body, tag, where):
    rc, out = configtest(body, modules=("rewrite",))
    assert rc == 0, out
    lines = [l for l in out.splitlines() if tag in l]
    assert len(lines) == 1, out
    assert where in lines[0], out
    assert "httpd.conf:" in lines[0], out        # says where


@pytest.mark.parametrize("body", [
    '<Location /r>\nSetHandler "profiler-report"\nRequire ip 127.0.0.1\n'
    '</Location>',
    '<Location /r>\nRequire ip 127.0.0.1\n<If "-n %{QUERY_STRING}">\n'
    'SetHandler profiler-report\n</If>\n</Location>',
    "<Directory /srv>\nAuthType Basic\nAuthName x\n<Files report>\n"
    "SetHandler profiler-report\n</Files>\n</Directory>",
    "<Location /r>\nSetHandler profiler-report\n<RequireAny>\n"
    "Require profiler-token\nRequire ip 127.0.0.1\n</RequireAny>\n"
    "ProfilerReportToken @ROOT@/htdocs/token\n</Location>",
    "<Location /r>\nSetHandler default-handler\n</Location>",
    "RewriteEngine On\nRewriteRule ^/r - [L,H=text/plain]",
])
def test_no_warning_where_access_is_controlled(body):
    srv = Httpd(DBD + body, name="report-configtest",
                modules=("dbd", "rewrite", "auth_basic"))
    srv.write("token", "0123456789abcdef-secret\n")
    try:
        res = srv.configtest()
    finally:
        srv.cleanup()
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "PROF" not in out, out


def test_warnings_once_at_startup():
    """check_config warns; the store's post_config asks the same scan again
    and must not repeat them."""
    srv = Httpd("LoadModule dbd_module /usr/lib/apache2/modules/mod_dbd.so\n"
                "DBDriver sqlite3\nDBDParams @ROOT@/db\n"
                "<Location /r>\nSetHandler profiler-report\n</Location>",
                name="report-configtest-once")
    try:
        srv.start()
        out = ""
        srv.graceful_stop()
        out = srv.proc.stdout.read()
        log = srv.read_error_log()
    finally:
        srv.cleanup()
    assert len([l for l in log.splitlines() if OPEN in l]) == 1, log
    assert OPEN not in out, out
