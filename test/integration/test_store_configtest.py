"""Every check of the store that can refuse a configuration runs in
"apache2 -t" too (check_config), so "apachectl configtest && apachectl
graceful" never stops a running server: each bad configuration fails the
test with a message naming the directive, and an operator who tests first
keeps the running server."""
import signal
import subprocess
import time
import urllib.request

import pytest

from harness import HTTPD, Httpd
from store import SqliteDb, count_rows, make_server, wait_for

DBD = "LoadModule dbd_module /usr/lib/apache2/modules/mod_dbd.so\n"
GOOD_DB = "DBDriver sqlite3\nDBDParams @ROOT@/db/x.db\n"

BAD = [
    # ProfilerStore On without mod_dbd
    ("Profiler On\nProfilerStore On\n", "ProfilerStore On needs mod_dbd"),
    # no driver in the main server (mod_dbd itself refuses drivers that
    # are not installed; only sqlite3 and pgsql are, here)
    (DBD + "Profiler On\nProfilerStore On\n",
     "ProfilerStore On needs DBDriver sqlite3 or DBDriver pgsql"),
    (DBD + "<VirtualHost 127.0.0.1:8>\nDBDriver \"sqlite3\"\n"
     "DBDParams x\n</VirtualHost>\nProfiler On\nProfilerStore On\n",
     "there is no DBDriver"),
    # rollups kept shorter than requests
    (DBD + GOOD_DB + "Profiler On\nProfilerStore On\nProfilerRetention 30d\n"
     "ProfilerRollupRetention 7d\n",
     "ProfilerRollupRetention must keep rollups at least as long as "
     "ProfilerRetention"),
    (DBD + GOOD_DB + "Profiler On\nProfilerStore On\nProfilerRetention Off\n"
     "ProfilerRollupRetention 7d\n",
     "ProfilerRollupRetention must keep rollups"),
]

# A report without any database is valid: it answers from the live
# metrics (test_report_live.py). With mod_dbd loaded but no DBDriver too.
REPORT_ONLY = ("Profiler On\n<Location /profiler>\nSetHandler profiler-report"
               "\nRequire ip 127.0.0.1\n</Location>\n")


def write_conf(srv, body):
    with open(srv.conf) as f:
        text = f.read()
    with open(srv.conf, "w") as f:
        f.write(text + "\n" + body.replace("@ROOT@", srv.root) + "\n")


@pytest.mark.parametrize("body,message", BAD)
def test_bad_store_configuration_fails_configtest(body, message):
    srv = Httpd("", name="configtest")
    try:
        write_conf(srv, body)
        out = srv.configtest()
        assert out.returncode != 0, out.stdout + out.stderr
        assert message in out.stdout + out.stderr, out.stdout + out.stderr
    finally:
        srv.cleanup()


@pytest.mark.parametrize("body", [REPORT_ONLY, DBD + REPORT_ONLY])
def test_a_report_without_a_database_passes_configtest(body):
    srv = Httpd("", name="configtest-live")
    try:
        write_conf(srv, body)
        out = srv.configtest()
        assert out.returncode == 0, out.stdout + out.stderr
        assert "needs mod_dbd" not in out.stdout + out.stderr
        assert "needs DBDriver" not in out.stdout + out.stderr
    finally:
        srv.cleanup()


def test_a_report_with_dbdriver_still_checks_it():
    """A report that names a database keeps reading it, so its checks
    stay: a DBDriver only in a <VirtualHost> is no database of the main
    server's."""
    srv = Httpd("", name="configtest-db")
    try:
        write_conf(srv, DBD + "<VirtualHost 127.0.0.1:8>\nDBDriver sqlite3\n"
                   "DBDParams x\n</VirtualHost>\n" + REPORT_ONLY)
        out = srv.configtest()
        assert out.returncode != 0, out.stdout + out.stderr
        assert "SetHandler profiler-report needs DBDriver sqlite3 or " \
               "DBDriver pgsql" in out.stdout + out.stderr
    finally:
        srv.cleanup()


def test_quoted_dbdriver_is_understood():
    srv = make_server(SqliteDb, name="quoted", start=False)
    try:
        with open(srv.conf) as f:
            text = f.read()
        assert "DBDriver sqlite3" in text
        with open(srv.conf, "w") as f:
            f.write(text.replace("DBDriver sqlite3", "DBDriver \"sqlite3\""))
        out = srv.configtest()
        assert out.returncode == 0, out.stdout + out.stderr
        srv.start()
        with urllib.request.urlopen(srv.url("/index.html"), timeout=10) as r:
            assert r.status == 200
        wait_for(lambda: count_rows(srv.db) == 1)
        srv.graceful_stop()
        assert not srv.log_problems()
    finally:
        srv.cleanup()


@pytest.mark.parametrize("body,message", BAD)
def test_configtest_then_graceful_keeps_a_running_server(body, message):
    srv = make_server(SqliteDb, name="keeprunning")
    try:
        with urllib.request.urlopen(srv.url("/index.html"), timeout=10) as r:
            assert r.status == 200
        good = open(srv.conf).read()
        # The operator edits the configuration into a bad one ...
        with open(srv.conf, "w") as f:
            f.write(good.split("LoadModule dbd_module")[0] + "\n"
                    + body.replace("@ROOT@", srv.root) + "\n")
        # ... and runs "apachectl configtest && apachectl graceful".
        sh = subprocess.run(["sh", "-c", "%s -f %s -t && kill -USR1 %d"
                             % (HTTPD, srv.conf, srv.proc.pid)],
                            capture_output=True, text=True)
        assert sh.returncode != 0
        assert message in sh.stdout + sh.stderr, sh.stdout + sh.stderr
        time.sleep(1)
        # The graceful never came: the server runs its old configuration.
        assert srv.proc.poll() is None
        with urllib.request.urlopen(srv.url("/index.html"), timeout=10) as r:
            assert r.status == 200
        wait_for(lambda: count_rows(srv.db) == 2)
        with open(srv.conf, "w") as f:
            f.write(good)
        srv.graceful_stop()
        assert not srv.log_problems()
    finally:
        srv.cleanup()
