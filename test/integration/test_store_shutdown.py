"""A stopping child gives the store's writer a deadline: rows it cannot
write by then (a database that blocks) are counted as lost and logged once;
prefork's "-k stop" (SIGTERM, whose handler destroys the child's pool in
the signal handler) with rows still queued neither crashes nor hangs."""
import re
import signal
import subprocess
import time

import pytest

from store import OUTAGE_LOG, SqliteDb, ab, count_rows, make_server, wait_for

LOST = re.compile(r"PROF00172: store: stopping; (\d+) rows could not be "
                  r"written within (\d+) s and are lost")


class Locker:
    """An external sqlite3 process that holds the database's write lock."""

    def __init__(self, path):
        self.proc = subprocess.Popen(["sqlite3", path], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.proc.stdin.write(".timeout 10000\n"
                              "BEGIN EXCLUSIVE;\nSELECT 'locked';\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("ROLLBACK;\n.quit\n")
            self.proc.stdin.close()
            self.proc.wait(10)


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)],
                         capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def alive(pid):
    try:
        subprocess.os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_graceful_stop_with_a_blocked_database_ends_by_the_deadline(mpm):
    srv = make_server(SqliteDb, mpm=mpm, name="drain-" + mpm,
                      extra="ProfilerStoreBatch 20 100ms")
    locker = None
    try:
        assert ab(srv, "/index.html", 5, c=1) == (5, 0, 0)
        wait_for(lambda: count_rows(srv.db) == 5)
        locker = Locker(srv.db.path)
        assert ab(srv, "/index.html", 300, c=4) == (300, 0, 0)
        t0 = time.time()
        srv.graceful_stop()
        elapsed = time.time() - t0
        log = srv.read_error_log()
        lost = [int(m.group(1)) for m in LOST.finditer(log)]
        # The drain's deadline is 3 s; a batch begun before it may take
        # SQLite's busy wait (some 5 s) to fail.
        assert elapsed < 12, (elapsed, log)
        # Said once per child that gave up on rows, with the count.
        assert lost and all(n > 0 for n in lost), log
        assert sum(lost) <= 300
        locker.release()
        # Nothing of the blocked time was written, and it is counted.
        assert count_rows(srv.db) == 5
        assert not srv.log_problems(OUTAGE_LOG)
    finally:
        if locker:
            locker.release()
        srv.cleanup()


def test_prefork_sigterm_with_rows_queued_neither_crashes_nor_hangs():
    # A 10 s batch interval: the rows wait in the queue when the stop comes.
    srv = make_server(SqliteDb, mpm="prefork", name="kill-prefork",
                      extra="ProfilerStoreBatch 500 10000ms")
    try:
        assert ab(srv, "/index.html", 200, c=4) == (200, 0, 0)
        kids = children(srv.proc.pid)
        assert kids
        t0 = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(15)
        elapsed = time.time() - t0
        assert elapsed < 5, elapsed
        assert not [k for k in kids if alive(k)]
        log = srv.read_error_log()
        # No child died of a signal (httpd logs AH00052 "exit signal"), and
        # the parent did not have to kill one (AH00045, AH00046).
        assert "exit signal" not in log, log
        assert "AH00045" not in log and "AH00046" not in log, log
        assert not srv.log_problems()
    finally:
        srv.cleanup()
