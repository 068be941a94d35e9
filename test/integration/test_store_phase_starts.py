"""Schema 4: each stored request keeps when each of its phases started
(column phase_starts), and the offsets agree with the phase durations
stored beside them: a phase ends before the next one that ran begins."""
import pytest

from harness import MPMS
from store import PHASES, SqliteDb, ab, count_rows, make_server, wait_for


def parse_starts(text):
    fields = text.split(",")
    assert len(fields) == len(PHASES), text
    return [int(f) if f != "" else None for f in fields]


def check_row(starts, durs, total):
    # read starts the request.
    assert starts[0] == 0
    ran = [i for i, s in enumerate(starts) if s is not None]
    for i, phase in enumerate(PHASES):
        if starts[i] is None:
            # A phase that never ran took no time.
            assert durs[i] == 0, (phase, starts, durs)
        else:
            assert 0 <= starts[i] <= total, (phase, starts, total)
    # In the order the phases ran: each starts after the one before it
    # ended (a phase is entered once in a plain GET), and none ends after
    # the request.
    order = sorted(ran, key=lambda i: starts[i])
    for a, b in zip(order, order[1:]):
        assert starts[a] + durs[a] <= starts[b], (
            PHASES[a], PHASES[b], starts, durs)
    last = order[-1]
    assert starts[last] + durs[last] <= total, (starts, durs, total)


@pytest.mark.parametrize("mpm", MPMS)
def test_stored_phase_starts_agree_with_the_phase_durations(mpm):
    srv = make_server(SqliteDb, mpm=mpm, name="starts-" + mpm)
    try:
        assert ab(srv, "/index.html", 200, c=4) == (200, 0, 0)
        assert ab(srv, "/missing", 20, c=2)[0] == 20
        wait_for(lambda: count_rows(srv.db) == 220)
        srv.graceful_stop()
        assert not srv.log_problems()
        cols = ", ".join(p + "_us" for p in PHASES)
        rows = srv.db.query("SELECT phase_starts, total_us, %s FROM "
                            "profiler_requests" % cols)
        assert len(rows) == 220
        for row in rows:
            assert row[0] is not None
            check_row(parse_starts(row[0]), list(row[2:]), row[1])
        # The phases every request runs have a start in every row; the
        # ones none of these run are empty: quick and headers, where no
        # module of this server has a hook (their edges are left out).
        for text, *_ in rows:
            starts = parse_starts(text)
            # (postread has hooks only where a module has them, as on
            # event here, mod_http2's: without, translation begins at once)
            for phase in ("read", "translate", "access", "type",
                          "fixups", "handler", "log"):
                assert starts[PHASES.index(phase)] is not None, (phase, text)
            for phase in ("quick", "headers"):
                assert starts[PHASES.index(phase)] is None, (phase, text)
    finally:
        srv.cleanup()
