"""Module timing (ProfilerModuleTiming): every module's hook functions timed
per request, in Server-Timing as <phase>.<module>, on every MPM and h2."""
import re
import time
import urllib.error
import urllib.request

import pytest

from harness import Httpd, dur_us, h2c_get, parse_server_timing
from metrics import promtool_check, samples, scrape, settled
from test_spans import TEST_MOD, test_module  # noqa: F401 (fixture)

PHASES = ["read", "postread", "quick", "translate", "storage", "headers",
          "access", "authn", "authz", "type", "fixups", "handler", "body",
          "log", "total"]

CONF = r"""
LoadModule profiler_test_module %(mod)s
Profiler On
ProfilerServerTiming On
%(timing)s
RewriteEngine On
RewriteRule ^/old\.html$ /index.html [PT]
DirectoryIndex index.html
<Location /t>
    SetHandler profiler-test
</Location>
<Location /z>
    SetOutputFilter DEFLATE
</Location>
<Location /metrics>
    SetHandler profiler-metrics
    Require ip 127.0.0.1
</Location>
%(h2)s
"""


def make(mpm, timing, name,
         loglevel="warn profiler:debug profiler_test:notice"):
    h2 = "Protocols h2c http/1.1" if mpm != "prefork" else ""
    mods = ["rewrite", "deflate", "filter"] + (["http2"] if mpm != "prefork"
                                                else [])
    srv = Httpd(CONF % {"mod": TEST_MOD, "timing": timing, "h2": h2},
                mpm=mpm, modules=mods, name=name + "-" + mpm,
                loglevel=loglevel)
    srv.write("index.html", "<p>hi</p>\n")
    srv.write("t", "")
    srv.write("sub/index.html", "<p>sub</p>\n")
    srv.write("z/big.txt", "compress me " * 2000)
    return srv.start()


@pytest.fixture(scope="module", params=["event", "worker", "prefork"])
def server(request, test_module):
    srv = make(request.param, "ProfilerModuleTiming On\n"
                              "ProfilerModuleTimingMin 0", "modtime")
    yield srv
    srv.stop()
    problems = srv.log_problems()
    srv.cleanup()
    assert not problems, "\n".join(problems)


def timings(srv, path):
    with urllib.request.urlopen(srv.url(path), timeout=10) as resp:
        assert resp.status == 200
        fields = parse_server_timing(resp.headers.get("Server-Timing"))
    return [(name, dur_us(params)) for name, params in fields]


def split(entries):
    """(phase durations, {(phase, module): us}) of one header."""
    phases, mods = {}, {}
    for name, us in entries:
        prefix = name.split(".", 1)[0]
        if "." in name and (prefix in PHASES or prefix == "filter"):
            phase, module = name.split(".", 1)
            assert (phase, module) not in mods, entries
            mods[(phase, module)] = us
        elif name in PHASES:
            phases[name] = us
    return phases, mods


def wrapped(srv):
    found = re.findall(r"PROF00401: module timing: (\d+) hook functions "
                       r"wrapped", srv.read_error_log())
    assert found, srv.read_error_log()
    return int(found[-1])


def test_known_times_appear_under_their_phase(server):
    entries = timings(server, "/t?translate_us=30000&headers_us=20000"
                              "&type_us=10000")
    phases, mods = split(entries)
    # after the phase entries, never among them
    first_mod = min(i for i, (n, _) in enumerate(entries)
                    if n.startswith("translate."))
    assert not [n for n, _ in entries[first_mod:] if n in PHASES], entries
    for phase, want in (("translate", 30000), ("headers", 20000),
                        ("type", 10000)):
        got = mods[(phase, "mod_profiler_test")]
        assert got >= want, (phase, entries)
        # within the phase's own time
        assert got <= phases[phase], (phase, entries)
    assert mods[("translate", "mod_profiler_test")] > 25000
    assert wrapped(server) > 0


def test_filter_own_time_excludes_the_slow_filter_after_it(server):
    # A (a resource filter) sleeps 10 ms, then passes to B (after it in
    # the chain), which sleeps 40 ms: A's own time has none of B's.
    phases, mods = split(timings(server, "/t?filter_a_us=10000"
                                         "&filter_b_us=40000"))
    a = mods[("filter", "proftest_a")]
    b = mods[("filter", "proftest_b")]
    assert 10000 <= a < 40000, mods
    assert b >= 40000, mods
    # both ran in the handler phase, before the headers left
    assert a + b <= phases["handler"], (phases, mods)
    # the test handler writes with ap_rputs() and returns: the filters
    # run after it, from httpd's end of the request, not inside its time
    assert mods[("handler", "mod_profiler_test")] < a, mods


def test_plain_request_has_no_filter_time_of_the_test_filters(server):
    _, mods = split(timings(server, "/t"))
    assert ("filter", "proftest_a") not in mods, mods


def test_ordinary_modules_by_name(server):
    _, mods = split(timings(server, "/sub/"))
    assert ("translate", "mod_rewrite") in mods, mods
    assert ("fixups", "mod_dir") in mods, sorted(mods)
    assert ("type", "mod_mime") in mods, mods
    # our own hooks are not reported
    assert not [k for k in mods if k[1].startswith("mod_profiler.")], mods
    assert ("translate", "mod_profiler") not in mods, mods


def test_repeated_calls_add_up_internal_redirect(server):
    # /old.html is rewritten (PT) and /sub/ is mod_dir's internal redirect
    # to /sub/index.html: the hooks of both requests count, one entry each.
    phases, mods = split(timings(server, "/sub/?translate_us=5000"))
    assert mods[("translate", "mod_profiler_test")] >= 5000


@pytest.mark.parametrize("mpm", ["event", "worker"])
def test_h2_streams_each_their_own(mpm, test_module):
    # mod_http2 runs streams on threads of its own pool (not on prefork):
    # concurrent streams of one connection, each timed on its own.
    srv = make(mpm, "ProfilerModuleTiming On\nProfilerModuleTimingMin 0",
               "modtime-h2")
    try:
        paths = ["/t?translate_us=%d" % (2000 * (i + 1)) for i in range(6)]
        results = h2c_get(srv.port, paths)
        for i, (status, headers, _) in enumerate(results):
            assert status == 200
            st = [v for k, v in headers if k == "server-timing"]
            _, mods = split([(n, dur_us(p))
                             for n, p in parse_server_timing(st[0])])
            got = mods[("translate", "mod_profiler_test")]
            # no other stream's sleep in it
            assert 2000 * (i + 1) <= got < 2000 * (i + 1) + 50000, (i, mods)
        srv.stop()
        assert not srv.log_problems(), srv.log_problems()
    finally:
        srv.cleanup()


def test_graceful_restart_wraps_anew(server):
    # httpd rebuilds its hook arrays for the new generation: the new
    # children's hooks are wrapped again, once (a second wrapper around the
    # first would count every call twice).
    before = wrapped(server)
    lines = server.read_error_log().count("PROF00401")
    server.graceful_restart()
    for _ in range(100):
        if server.read_error_log().count("PROF00401") > lines:
            break
        time.sleep(0.05)
    assert server.read_error_log().count("PROF00401") > lines
    time.sleep(1.0)
    _, mods = split(timings(server, "/t?translate_us=8000"))
    got = mods[("translate", "mod_profiler_test")]
    assert 8000 <= got < 14000, mods
    assert wrapped(server) == before


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_off_wraps_nothing_and_reports_nothing(mpm, test_module):
    srv = make(mpm, "", "modtime-off")
    try:
        entries = timings(srv, "/t?translate_us=5000&filter_a_us=1000")
        _, mods = split(entries)
        assert not mods, entries
        assert wrapped(srv) == 0
        srv.stop()
        assert not srv.log_problems(), srv.log_problems()
    finally:
        srv.cleanup()


def test_default_minimum_hides_short_calls(test_module):
    # At httpd's default log level: nothing of the set-up may depend on
    # a debug line being logged.
    srv = make("event", "ProfilerModuleTiming On", "modtime-min",
               loglevel="warn")
    try:
        _, mods = split(timings(srv, "/t?translate_us=5000"))
        # 5 ms is over the 0.1 ms default; mod_mime's look-up is not
        assert mods[("translate", "mod_profiler_test")] >= 5000
        assert all(us >= 100 for us in mods.values()), mods
        srv.stop()
        assert not srv.log_problems(), srv.log_problems()
    finally:
        srv.cleanup()


def test_filter_names_outside_a_token_are_written_safely(server):
    # a filter registered as 'PROFTEST Odd;"x"': the header stays valid
    # (parse_server_timing is strict) and names it with '_' for each byte
    # outside a token
    _, mods = split(timings(server, "/t?filter_odd_us=3000"))
    assert mods[("filter", "proftest_odd__x_")] >= 3000, mods


def test_deflate_by_name_and_a_filter_that_removes_itself(server):
    # with gzip asked for, deflate compresses: filter.deflate is its work
    req = urllib.request.Request(server.url("/z/big.txt"),
                                 headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers.get("Content-Encoding") == "gzip"
        _, mods = split([(n, dur_us(p)) for n, p in parse_server_timing(
            resp.headers.get("Server-Timing"))])
    assert ("filter", "deflate") in mods, sorted(mods)
    # without, deflate takes itself out of the chain on its first call:
    # still counted, the response whole
    with urllib.request.urlopen(server.url("/z/big.txt"), timeout=10) as r:
        body = r.read()
        assert body == b"compress me " * 2000
        _, mods = split([(n, dur_us(p)) for n, p in parse_server_timing(
            r.headers.get("Server-Timing"))])
    assert ("filter", "deflate") in mods, sorted(mods)


def test_aborted_handler_leaves_nothing_for_the_next_request(server):
    # a handler that gives up on its connection: nothing half-open stays
    # for the next requests (same children, same threads)
    for _ in range(4):
        try:
            urllib.request.urlopen(server.url("/t?abort=1&filter_a_us=10"),
                                   timeout=10).read()
        except Exception:       # the connection closed without an answer
            pass
        _, mods = split(timings(server, "/t?translate_us=3000"
                                        "&filter_a_us=2000"))
        assert 3000 <= mods[("translate", "mod_profiler_test")] < 30000
        assert 2000 <= mods[("filter", "proftest_a")] < 30000, mods


def test_live_metric_per_phase_and_module(test_module):
    # mod_profiler_module_seconds_total{phase,module}: every request's
    # module times, exactly added up; filters under phase "filter"
    srv = make("worker", "ProfilerModuleTiming On", "modtime-metrics")
    try:
        for _ in range(5):
            timings(srv, "/t?translate_us=4000&filter_b_us=2000")
        # counted at logging, just after each response: all 5 first
        assert settled(srv, "mod_profiler_requests_total", 5,
                       route="/t") == 5
        status, _, text = scrape(srv)
        assert status == 200
        assert promtool_check(text) == "", promtool_check(text)
        got = list(samples(srv, "mod_profiler_module_seconds_total",
                           phase="translate",
                           module="mod_profiler_test").values())
        assert len(got) == 1, got
        assert 5 * 0.004 <= got[0] < 5 * 0.004 + 0.1, got
        got = list(samples(srv, "mod_profiler_module_seconds_total",
                           phase="filter", module="proftest_b").values())
        assert len(got) == 1 and got[0] >= 5 * 0.002, got
        assert samples(srv, "mod_profiler_module_seconds_total",
                       phase="type", module="mod_mime")
        # not mixed into the span API's histogram
        assert not [k for k in samples(
            srv, "mod_profiler_span_duration_seconds_count")
            if "mod_profiler_test" in str(k)], text
        srv.stop()
        assert not srv.log_problems(), srv.log_problems()
    finally:
        srv.cleanup()


def test_record_lists_module_times_for_modules(server):
    # profiler_record_modules(): every (phase, module) and filter of the
    # finished record, for modules on the record hook (the test module
    # logs them); complete, unlike the header: the handler's whole time,
    # the log phase's modules
    # a path of its own (still /t's handler): earlier tests' lines, which
    # are written after their responses, cannot be taken for this one's
    timings(server, "/t/record?translate_us=6000&filter_b_us=3000")
    found = []
    for _ in range(100):
        # the line is written after the response, at logging: wait for it
        found = re.findall(r"proftest modules /t/record: (.*)",
                           server.read_error_log())
        if found:
            break
        time.sleep(0.05)
    assert len(found) == 1, server.read_error_log()[-2000:]
    got = dict((k, (int(us), int(n))) for k, us, n in
               re.findall(r"(\S+)=(-?\d+)/(\d+)", found[-1]))
    us, calls = got["translate.mod_profiler_test"]
    assert us >= 6000 and calls == 1, got
    assert got["filter.proftest_b"][0] >= 3000, got
    assert "handler.mod_profiler_test" in got, got
    assert any(k.startswith("log.") for k in got), got


def record_of(srv, path):
    """{<phase>.<module>: (us, calls)} of the record the test module logs
    for path (after the response, at logging)."""
    found = []
    for _ in range(100):
        found = re.findall(r"proftest modules %s: (.*)" % re.escape(path),
                           srv.read_error_log())
        if found:
            break
        time.sleep(0.05)
    assert len(found) == 1, srv.read_error_log()[-2000:]
    return dict((k, (int(us), int(n))) for k, us, n in
                re.findall(r"(\S+)=(-?\d+)/(\d+)", found[-1]))


def test_run_first_answer_ends_the_phase_for_the_hooks_after_it(server):
    # translate_name is RUN_FIRST: where the test module answers (OK), the
    # hooks after it (core's translate, REALLY_LAST) are not called and
    # not reported; where it declines, they are.
    with urllib.request.urlopen(server.url("/t/declined"), timeout=10) as r:
        assert r.status == 200
    declined = record_of(server, "/t/declined")
    assert declined["translate.mod_profiler_test"][1] == 1, declined
    assert declined["translate.core"][1] == 1, declined
    with urllib.request.urlopen(server.url("/t/answered?translate_answer=1"
                                           "&translate_us=4000"),
                                timeout=10) as r:
        assert r.status == 200
    answered = record_of(server, "/t/answered")
    us, calls = answered["translate.mod_profiler_test"]
    assert us >= 4000 and calls == 1, answered
    assert "translate.core" not in answered, answered


def test_an_error_from_a_hook_ends_the_request_timed(server):
    # header_parser is RUN_ALL: an error status from it ends the request;
    # the hook that failed is timed and reported, the phases after it
    # (type, fixups) do not run.
    try:
        urllib.request.urlopen(server.url("/t/failed?headers_status=403"
                                          "&headers_us=3000"), timeout=10)
        raise AssertionError("no error")
    except urllib.error.HTTPError as e:
        assert e.code == 403
        fields = parse_server_timing(e.headers.get("Server-Timing"))
    got = record_of(server, "/t/failed")
    us, calls = got["headers.mod_profiler_test"]
    assert us >= 3000 and calls == 1, got
    assert not [k for k in got if k.startswith(("type.", "fixups."))], got
    phases, mods = split([(n, dur_us(p)) for n, p in fields])
    assert mods[("headers", "mod_profiler_test")] >= 3000, fields


def test_a_subrequest_adds_to_its_main_request(server):
    # The handler runs a subrequest (/t/sub): its hooks are called again
    # and count under the main request's entries.
    with urllib.request.urlopen(server.url("/t/plain"), timeout=10) as r:
        assert r.status == 200
    plain = record_of(server, "/t/plain")
    with urllib.request.urlopen(server.url("/t/withsub?subreq=1"),
                                timeout=10) as r:
        assert r.status == 200
    sub = record_of(server, "/t/withsub")
    assert sub["translate.core"][1] == plain["translate.core"][1] + 1, \
        (plain, sub)
    assert sub["type.mod_mime"][1] == plain["type.mod_mime"][1] + 1, \
        (plain, sub)
