"""The PostgreSQL helper in pg.py, against the real server."""
import os
import signal
import socket
import time

import pytest

from pg import PgServer, pg_available

pytestmark = pytest.mark.skipif(pg_available() is not None,
                                reason=pg_available() or "")


@pytest.fixture
def pg():
    with PgServer("fixture-test") as server:
        yield server


def _accepts(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_start_stop_cleanup():
    server = PgServer("startstop")
    try:
        server.start()
        assert server.running()
        assert server.scalar("SELECT current_user") == "prof"
        assert server.scalar("SELECT current_database()") == "profiler"
        assert server.scalar("SHOW listen_addresses") == "127.0.0.1"
        assert server.scalar("SHOW port") == str(server.port)
        assert server.dbd_params == (
            "host=127.0.0.1 port=%d dbname=profiler user=prof" % server.port)
        assert "ready to accept connections" in server.log_text()

        server.stop()
        assert not server.running()
        assert not _accepts(server.port)
        with pytest.raises(RuntimeError, match="psql"):
            server.query("SELECT 1")
        assert "database system is shut down" in server.log_text()
    finally:
        server.cleanup()
    assert not os.path.exists(server.dir)


def test_table_round_trip(pg):
    pg.query("CREATE TABLE spans (id serial PRIMARY KEY, name text, note text);"
             "INSERT INTO spans (name, note) VALUES"
             " ('a', NULL), ('b|c', E'two\\nlines'), ('', 'x');")
    assert pg.query("SELECT id, name, note FROM spans ORDER BY id") == [
        ("1", "a", ""), ("2", "b|c", "two\nlines"), ("3", "", "x")]
    assert pg.query("SELECT 1 WHERE false") == []
    assert pg.scalar("SELECT count(*) FROM spans") == "3"
    # The table belongs to the profiler database, not to the maintenance one.
    assert pg.scalar("SELECT to_regclass('spans') IS NULL", db="postgres") == "t"
    with pytest.raises(RuntimeError, match="no_such_table"):
        pg.query("SELECT * FROM no_such_table")


def test_restart_keeps_data_and_port(pg):
    port, params = pg.port, pg.dbd_params
    pg.query("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before');")
    pg.restart()
    assert (pg.port, pg.dbd_params) == (port, params)
    assert pg.scalar("SHOW port") == str(port)
    assert pg.query("SELECT v FROM kept") == [("before",)]

    # An outage as a load test makes it: down for a while, then back.
    pg.stop()
    assert not _accepts(port)
    pg.start()
    pg.query("INSERT INTO kept VALUES ('after')")
    assert pg.query("SELECT v FROM kept ORDER BY v") == [("after",), ("before",)]
    assert pg.log_text().count("ready to accept connections") == 3


def test_two_servers_at_once():
    with PgServer("one") as one, PgServer("two") as two:
        assert one.port != two.port
        assert one.dir != two.dir
        one.query("CREATE TABLE only_in_one (a int)")
        assert one.scalar("SELECT to_regclass('only_in_one') IS NULL") == "f"
        assert two.scalar("SELECT to_regclass('only_in_one') IS NULL") == "t"
        one.stop()
        assert two.scalar("SELECT 1") == "1"


def test_stop_twice_is_harmless(pg):
    pg.stop()
    pg.stop()
    pg.start()
    assert pg.scalar("SELECT 1") == "1"


def test_stop_after_the_server_died(pg):
    pg.query("CREATE TABLE t (a int)")
    with open(os.path.join(pg.datadir, "postmaster.pid")) as f:
        os.kill(int(f.readline()), signal.SIGKILL)
    began = time.monotonic()
    pg.stop()
    assert time.monotonic() - began < 15
    assert not pg.running()
    pg.start()      # crash recovery from the stale pid file and WAL
    assert pg.scalar("SELECT to_regclass('t') IS NULL") == "f"


def test_start_failure_reports_the_log(pg):
    pg.stop()
    with socket.socket() as squatter:
        # As PostgreSQL does: a TIME_WAIT left on the port by some client
        # must not stop us, only a listener should stop it.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", pg.port))
        squatter.listen()
        with pytest.raises(RuntimeError, match="(?s)server log.*could not bind"):
            pg.start(timeout=10)
    assert not pg.running()
    pg.start()
    assert pg.scalar("SELECT 1") == "1"
