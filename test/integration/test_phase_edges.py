"""Phase edges only where a module has work: a phase in which no module has
a hook is not timed, one in which a module has a hook is, whatever the
module, its edge fused into that module's first hook."""
import re
import urllib.request

import pytest

from harness import Httpd, dur_us, parse_server_timing
from test_spans import TEST_MOD, test_module  # noqa: F401 (fixture)

CONF = r"""
%s
Profiler On
ProfilerServerTiming On
<Location /t>
    SetHandler profiler-test
</Location>
"""


def edges(srv):
    """(fused, not timed) as the last post_config counted them (PROF00390)."""
    found = re.findall(r"PROF00390: phase edges: (\d+) fused into a "
                       r"module's first hook, (\d+) phases without hooks "
                       r"not timed", srv.read_error_log())
    assert found, srv.read_error_log()
    return tuple(int(n) for n in found[-1])


def phases(srv, path):
    with urllib.request.urlopen(srv.url(path), timeout=10) as resp:
        assert resp.status == 200
        fields = parse_server_timing(resp.headers.get("Server-Timing"))
    return {name: dur_us(params) for name, params in fields}


def make(load_test_module, name):
    line = "LoadModule profiler_test_module %s" % TEST_MOD
    srv = Httpd(CONF % (line if load_test_module else ""), name=name,
                loglevel="warn profiler:debug")
    srv.write("t", "")
    srv.write("index.html", "<p>hi</p>\n")
    return srv.start()


def test_a_phase_without_hooks_is_not_timed_one_with_a_hook_is(test_module):
    plain = make(False, "edges-plain")
    hooked = make(True, "edges-hooked")
    try:
        # The test module adds a header_parser hook (and a fixups hook,
        # where mod_dir and mod_alias have theirs already): one edge more
        # is fused, one phase fewer is not timed.
        fused, untimed = edges(plain)
        assert edges(hooked) == (fused + 1, untimed - 1)
        assert fused + untimed == 9
        # No module has a header_parser hook here: no headers phase, and
        # the request is timed as before.
        durs = phases(plain, "/index.html")
        assert "headers" not in durs and "quick" not in durs, durs
        assert {"translate", "storage", "handler", "total"} <= set(durs), durs
        # The test module's hook sleeps 20 ms in header_parser: the headers
        # phase has it.
        durs = phases(hooked, "/t?headers_us=20000")
        assert durs["headers"] >= 20000, durs
        assert durs["headers"] == max(v for n, v in durs.items()
                                      if n != "total"), durs
        for srv in (plain, hooked):
            srv.stop()
            assert not srv.log_problems(), srv.log_problems()
    finally:
        plain.cleanup()
        hooked.cleanup()
