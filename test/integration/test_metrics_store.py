"""The store and the live metrics together, on a real httpd with a real
SQLite database: the stored rows' route follows the metrics' rules (`(not
found)` for a 404 that no ProfilerRoute names, ProfilerMaxRoutes per vhost
then `(other)`), and `mod_profiler_store_rows_total` counts every child's
writer: written + sampled_out = the requests sent."""
import pytest

from harness import MPMS
from metrics import get, settled, total
from store import SqliteDb, count_rows, make_server, wait_for

METRICS = """
<Location /metrics>
    SetHandler profiler-metrics
    Require ip 127.0.0.1
</Location>
"""


def finish(srv):
    problems = srv.log_problems()
    srv.cleanup()
    assert not problems, "unexpected error log lines:\n" + "\n".join(problems)


@pytest.mark.parametrize("mpm", MPMS)
def test_store_routes_follow_the_metrics_rules(mpm):
    srv = make_server(SqliteDb, mpm=mpm, name="metrics-store-" + mpm,
                      extra=METRICS + "ProfilerMaxRoutes 2\n"
                      "ProfilerRoute ^/named/ named\n")
    try:
        for i in range(4):
            srv.write("p%d.html" % i, "page\n")
        for i in range(6):
            assert get(srv.port, "/scan%d.php" % i) == 404
        assert get(srv.port, "/named/x") == 404
        for i in range(4):
            assert get(srv.port, "/p%d.html" % i) == 200
        wait_for(lambda: count_rows(srv.db) == 11)
        routes = dict(srv.db.query(
            "SELECT route, count(*) FROM profiler_requests GROUP BY route"))
        # One page takes the vhost's last place: the first whose log phase
        # ran, which is not always /p0.html's (a request is counted after
        # its response is sent, and the next one's may be counted first).
        pages = [r for r in routes if r.startswith("/p")]
        assert len(pages) == 1 and pages[0] in (
            "/p%d.html" % i for i in range(4)), routes
        assert routes == {"(not found)": 6, "named": 1, pages[0]: 1,
                          "(other)": 3}, routes
        # the metrics count the same routes
        assert settled(srv, "mod_profiler_requests_total", 11) == 11
        assert total(srv, "mod_profiler_requests_total",
                     route=pages[0]) == 1
        assert total(srv, "mod_profiler_requests_total",
                     route="(other)") == 3
        assert total(srv, "mod_profiler_requests_total",
                     route="(not found)") == 6
        assert settled(srv, "mod_profiler_store_rows_total", 11,
                       result="written") == 11
    finally:
        finish(srv)


def test_row_counters_count_every_child_and_the_sampling():
    srv = make_server(SqliteDb, mpm="prefork", name="metrics-store-rows",
                      extra=METRICS + "ProfilerSample 0.3\n")
    try:
        n = 200
        for _ in range(n):
            assert get(srv.port, "/index.html") == 200
        # Rows still queued when the first ones are written: wait until
        # every request is accounted for (written or sampled out) and the
        # written ones are all in the database, not merely until the two
        # counts agree once, mid-stream.
        def settled():
            w = total(srv, "mod_profiler_store_rows_total", result="written")
            s = total(srv, "mod_profiler_store_rows_total",
                      result="sampled_out")
            return (w, s) if w and w + s == n and w == count_rows(
                srv.db) else None
        settled_counts = wait_for(settled)
        assert settled_counts, "rows never settled"
        stored, sampled_out = settled_counts
        assert 0 < stored < n
        assert stored + sampled_out == n
        assert total(srv, "mod_profiler_store_rows_total",
                     result="dropped") == 0
        assert total(srv, "mod_profiler_store_rows_total",
                     result="failed") == 0
    finally:
        finish(srv)
