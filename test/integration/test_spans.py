"""The span API, driven by a real consumer module (test/modules), against a
real apache2: spans from several phases, nested, metrics, 4 threads at once,
a subrequest, the span budget, and the consumer without mod_profiler."""
import os
import re
import subprocess
import time
import urllib.request

import pytest

from harness import MPMS, ROOT, Httpd, dur_us, parse_server_timing

PHASES = ["read", "postread", "quick", "translate", "storage", "headers",
          "access", "authn", "authz", "type", "fixups", "handler", "total"]
TEST_MOD_DIR = os.path.join(ROOT, "test", "modules")
TEST_MOD = os.path.join(TEST_MOD_DIR, ".libs", "mod_profiler_test.so")

CONF = r"""
LoadModule profiler_test_module %s
<IfModule profiler_module>
    Profiler On
    ProfilerServerTiming On
</IfModule>
<Location /t>
    SetHandler profiler-test
</Location>
<Location /t-quiet>
    SetHandler profiler-test
    <IfModule profiler_module>
        ProfilerServerTiming Off
    </IfModule>
</Location>
<Location /t-off>
    SetHandler profiler-test
    <IfModule profiler_module>
        Profiler Off
    </IfModule>
</Location>
<Directory @ROOT@/htdocs>
    Options +Includes
    AddOutputFilter INCLUDES .shtml
</Directory>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName main.test
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName budget.test
    <IfModule profiler_module>
        ProfilerMaxSpans 8
    </IfModule>
</VirtualHost>
"""


@pytest.fixture(scope="session")
def test_module(built_module):
    """The consumer, built with apxs like any third-party module."""
    subprocess.run(["apxs", "-c", "-Wc,-Wall", "-Wc,-Wextra", "-Wc,-Werror",
                    "-I" + os.path.join(ROOT, "include"), "mod_profiler_test.c"],
                   cwd=TEST_MOD_DIR, check=True, capture_output=True)
    assert os.path.exists(TEST_MOD)
    return TEST_MOD


def make(mpm, profiler=True, name="spans"):
    srv = Httpd(CONF % TEST_MOD, mpm=mpm, modules=["include"],
                profiler=profiler, name=name + "-" + mpm)
    srv.write("ssi.shtml", 'a<!--#include virtual="/t/sub?sub=1" -->b\n')
    return srv.start()


@pytest.fixture(scope="module", params=MPMS)
def server(request, test_module):
    srv = make(request.param)
    yield srv
    problems = srv.log_problems()
    srv.cleanup()
    assert not problems, "\n".join(problems)


def get(srv, path, host="main.test"):
    req = urllib.request.Request(srv.url(path), headers={"Host": host})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.read().decode(), resp.headers.get_all("Server-Timing") or []


def spans_of(fields):
    """Our field's entries after the phases: the spans, in order."""
    assert len(fields) == 1, fields
    entries = parse_server_timing(fields[0])
    names = [n for n, _ in entries]
    k = names.index("total")
    assert all(n in PHASES for n in names[:k + 1]), names
    return entries[k + 1:]


def record(srv, uri, timeout=5):
    """The record the consumer was handed, from its notice line."""
    pat = re.compile(r"proftest record %s: body=(-?\d+) dropped=(\d+) spans=(.*)$"
                     % re.escape(uri))
    deadline = time.time() + timeout
    while time.time() < deadline:
        for line in reversed(srv.read_error_log().splitlines()):
            m = pat.search(line)
            if m:
                spans = []
                for item in m.group(3).split(";"):
                    if item:
                        name, idx, parent, metric, desc, dur = item.split("/")
                        spans.append(dict(name=name, index=int(idx), parent=int(parent),
                                          metric=int(metric), desc=desc, dur=int(dur)))
                record.body = int(m.group(1))
                return int(m.group(2)), spans
        time.sleep(0.05)
    raise AssertionError("no record line for %s" % uri)


def test_spans_follow_phases_in_start_order(server):
    status, body, fields = get(server, "/t/a")
    assert status == 200 and "profiler: on" in body
    spans = spans_of(fields)
    assert [n for n, _ in spans] == ["fixup.work", "outer", "inner", "db", "cache"]
    p = dict(spans)
    assert p["outer"]["desc"] == "handler work"
    assert p["db"]["desc"] == 'query "x", 1 row' and p["db"]["dur"] == "1.500"
    assert p["cache"]["desc"] == "miss"                  # set after start
    assert dur_us(p["inner"]) >= 2000 and dur_us(p["outer"]) >= dur_us(p["inner"])
    assert dur_us(p["fixup.work"]) >= 1000


def test_nesting_and_record(server):
    get(server, "/t/nest")
    dropped, spans = record(server, "/t/nest")
    assert dropped == 0
    by = {s["name"]: s for s in spans}
    assert by["inner"]["parent"] == by["outer"]["index"]
    assert by["outer"]["parent"] == -1 and by["fixup.work"]["parent"] == -1
    assert by["db"]["metric"] == 1 and by["db"]["dur"] == 1500
    # a metric added while no span is open on the thread has no parent
    assert by["db"]["parent"] == -1
    assert by["cache"]["desc"] == "miss"


def test_four_threads_at_once(server):
    status, body, fields = get(server, "/t/threads?threads=4&per=10")
    assert status == 200
    names = [n for n, _ in spans_of(fields)]
    threads = sorted(n for n in names if n.startswith("t"))
    assert threads == sorted("t%d.%d" % (i, j) for i in range(4) for j in range(10))
    dropped, spans = record(server, "/t/threads")
    assert dropped == 0
    assert len([s for s in spans if s["name"].startswith("t")]) == 40
    # spans of other threads are nobody's children, nor parents
    assert all(s["parent"] == -1 for s in spans if s["name"].startswith("t"))
    assert len({s["index"] for s in spans}) == len(spans)


def test_spans_from_other_threads_only(server):
    # The request's first span comes from a thread of the module's own: the
    # span set is created there, and must still reach the header and be
    # freed with the request.
    status, body, fields = get(server, "/t/ot?only_threads=1&threads=4&per=5")
    assert status == 200
    names = sorted(n for n, _ in spans_of(fields))
    assert names == sorted("t%d.%d" % (i, j) for i in range(4) for j in range(5))
    _, spans = record(server, "/t/ot")
    assert len(spans) == 20


def test_many_requests_with_threads(server):
    # Threads created and joined on every request, spans or none: a child
    # that crashes is caught by the error-log check at teardown.
    for i in range(150):
        status, _, _ = get(server, "/t/many?threads=4&per=%d" % (i % 3))
        assert status == 200


def test_record_readers_get_the_body_without_the_header(server):
    # No Server-Timing here, but a module reads the record: the body phase
    # must still be measured for it.
    status, body, fields = get(server, "/t-quiet/x?late=1")
    assert status == 200 and fields == []
    _, spans = record(server, "/t-quiet/x")
    assert record.body >= 500          # the late span sleeps 0.5 ms after the flush
    assert "late" in [s["name"] for s in spans]


def test_late_span_in_record_not_header(server):
    status, body, fields = get(server, "/t/late?late=1")
    assert "late" not in [n for n, _ in spans_of(fields)]
    _, spans = record(server, "/t/late")
    assert "late" in [s["name"] for s in spans]


def test_budget_counts_what_it_drops(server):
    status, body, fields = get(server, "/t/budget?threads=4&per=10", host="budget.test")
    assert status == 200
    assert len(spans_of(fields)) == 8
    dropped, spans = record(server, "/t/budget")
    assert len(spans) == 8 and dropped == 5 + 40 - 8


def test_subrequest_spans_land_on_the_main_request(server):
    # A subrequest run before any other output: its span is in the header;
    # its own output sends the headers, so what follows is in the record.
    status, body, fields = get(server, "/t/withsub?subreq=1")
    assert status == 200 and body.startswith("sub\n")
    assert [n for n, _ in spans_of(fields)] == ["fixup.work", "sub.work"]
    _, spans = record(server, "/t/withsub")
    assert [s["name"] for s in spans][:3] == ["fixup.work", "sub.work", "outer"]
    # mod_include sends "a" before it runs the include: the headers have
    # left by then, so the subrequest's span is in the record only.
    status, body, fields = get(server, "/ssi.shtml")
    assert status == 200 and body == "asub\nb\n"
    assert "sub.work" not in [n for n, _ in spans_of(fields)]
    _, spans = record(server, "/ssi.shtml")
    assert [s["name"] for s in spans] == ["sub.work"]


def test_profiler_off_where_the_request_ends_up(server):
    status, body, fields = get(server, "/t-off/x")
    assert status == 200 and "profiler: off" in body and fields == []
    time.sleep(0.3)
    assert "proftest record /t-off" not in server.read_error_log()


def test_parser_is_offered_to_modules(server):
    req = urllib.request.Request(
        server.url("/t/parse"),
        headers={"Host": "main.test",
                 "X-Parse": 'a;dur=1.5, b;desc="x, y";DESC=z, (bad), c;dur=zz'})
    with urllib.request.urlopen(req, timeout=10) as resp:
        lines = resp.read().decode().splitlines()
    assert lines == ["rv=0", "a|1|1.500|0|", "b|0|0.000|1|x, y", "c|1|0.000|0|"]


def test_consumer_without_mod_profiler(test_module):
    srv = make("event", profiler=False, name="spans-noprof")
    try:
        status, body, fields = get(srv, "/t/x?threads=4&per=5&late=1")
        assert status == 200 and "profiler: not loaded" in body and fields == []
        assert not srv.log_problems()
    finally:
        srv.cleanup()


def test_the_example_module_builds_and_works(built_module, tmp_path):
    """examples/mod_profiler_example.c, built as its comment says."""
    src = os.path.join(ROOT, "examples", "mod_profiler_example.c")
    work = tmp_path / "ex"
    work.mkdir()
    (work / "mod_profiler_example.c").write_bytes(open(src, "rb").read())
    subprocess.run(["apxs", "-c", "-Wc,-Wall", "-Wc,-Wextra", "-Wc,-Werror",
                    "-I" + os.path.join(ROOT, "include"), "mod_profiler_example.c"],
                   cwd=work, check=True, capture_output=True)
    so = str(work / ".libs" / "mod_profiler_example.so")
    os.chmod(tmp_path, 0o755)
    for profiler in (True, False):
        srv = Httpd("LoadModule profiler_example_module %s\n"
                    "<IfModule profiler_module>\nProfiler On\n"
                    "ProfilerServerTiming On\n</IfModule>\n"
                    "<Location /example>\nSetHandler profiler-example\n</Location>\n" % so,
                    profiler=profiler, name="example")
        try:
            srv.start()
            status, body, fields = get(srv, "/example", host="127.0.0.1")
            assert status == 200 and "rendered" in body
            if profiler:
                spans = dict(spans_of(fields))
                assert spans["render"]["desc"] == "template"
                assert dur_us(spans["render"]) >= 3000
                assert spans["backend"]["desc"] == "simulated"
                assert dur_us(spans["backend"]) >= 1000
            else:
                assert fields == []
            assert not srv.log_problems()
        finally:
            srv.cleanup()


def _child_vm_kb(srv):
    """VmSize of the one child of a prefork server, in kB."""
    import glob
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            with open(status) as f:
                text = f.read()
        except OSError:
            continue
        if "\nPPid:\t%d\n" % srv.proc.pid in text:
            return int(re.search(r"^VmSize:\s+(\d+)", text, re.M).group(1))
    raise AssertionError("no child of %d" % srv.proc.pid)


def test_reading_spans_costs_what_was_used_not_the_budget(test_module):
    """ProfilerMaxSpans 4096 and requests with a few spans: reading them
    (for the header and the record hook) must not take room for 4096 each
    time (about 200 KB of the request's pool per read before the fix, which
    the child then keeps). One prefork child, so its growth is ours."""
    conf = (CONF % TEST_MOD) + (
        "\n<IfModule profiler_module>\n    ProfilerMaxSpans 4096\n"
        "</IfModule>\nStartServers 1\nMinSpareServers 1\nMaxSpareServers 1\n"
        "MaxRequestWorkers 1\n")
    srv = Httpd(conf, mpm="prefork", modules=["include"], name="spans-mem")
    srv.start()
    try:
        # warm up with a request whose spans are never read
        urllib.request.urlopen(srv.url("/t-off")).read()
        before = _child_vm_kb(srv)
        for _ in range(100):
            r = urllib.request.urlopen(srv.url("/t"))
            r.read()
            names = [n for n, _ in parse_server_timing(r.headers["Server-Timing"])]
            assert {"outer", "inner", "db", "cache"} <= set(names)
        grown = _child_vm_kb(srv) - before
        assert grown < 128, "the child grew by %d kB" % grown
        problems = srv.log_problems()
    finally:
        srv.cleanup()
    assert not problems, "\n".join(problems)
