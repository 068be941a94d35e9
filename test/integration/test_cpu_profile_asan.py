"""CPU profiles under AddressSanitizer and UBSan (issue 12, "a crash in a
sampled thread must be impossible"): the module and its core built with
-fsanitize=address,undefined, loaded into Debian's apache2 with the
sanitizer runtimes preloaded, while requests run on every thread: whole-
server profiles at the highest rate, per-request profiles, a client that
goes away, and a graceful restart. Any sanitizer report (written to files
under the server's logs) or a child that dies fails the test."""
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from harness import ROOT, Httpd
from store import SqliteDb, build_test_module, store_conf
from test_cpu_profile import BURN, REQPROF, Load, get, profile_id, wait_for_ids

SAN = "-fsanitize=address,undefined -fno-sanitize-recover=all " \
      "-fno-omit-frame-pointer"


def runtime(name):
    path = subprocess.run(["gcc", "-print-file-name=%s" % name],
                          capture_output=True, text=True).stdout.strip()
    assert os.path.isabs(path) and os.path.exists(path), \
        "no %s (gcc's sanitizer runtime)" % name
    return path


@pytest.fixture(scope="module")
def asan_module():
    """This tree, built instrumented in a copy of its own."""
    work = tempfile.mkdtemp(prefix="mod_profiler-asan-")
    os.chmod(work, 0o755)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.split(b"\0")
    for f in filter(None, files):
        f = f.decode()
        os.makedirs(os.path.join(work, os.path.dirname(f)), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, f), os.path.join(work, f))
    apr = subprocess.run(["apr-1-config", "--cppflags", "--includes"],
                         capture_output=True, text=True,
                         check=True).stdout.strip()
    r = subprocess.run(
        ["make", "-s", "-f", "Makefile.apxs", "WERROR=1",
         "CORE_CFLAGS=-std=c99 -O1 -g -fPIC -Wall -Wextra -Werror %s "
         "-Iinclude -Isrc %s" % (apr, SAN),
         "APXS=apxs " + " ".join("-Wc," + f for f in SAN.split())
         + " -Wc,-O1"],
        cwd=work, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    so = os.path.join(work, ".libs", "mod_profiler.so")
    nm = subprocess.run(["nm", "-D", so], capture_output=True, text=True)
    assert "__asan_" in nm.stdout, "the module is not instrumented"
    for d, _, fs in os.walk(work):
        os.chmod(d, 0o755)
        for f in fs:
            os.chmod(os.path.join(d, f), 0o755)
    yield so
    shutil.rmtree(work, ignore_errors=True)


def start_sanitized(mpm, so):
    mod = build_test_module()
    srv = Httpd("\n".join([
        "LoadModule profiler_module %s" % so,
        "LoadModule profiler_test_module %s" % mod,
        "Profiler On",
        "ProfilerServerTiming On",
        "StartServers 2",
        # Instrumented children are slow: more of them may be busy at once
        # than the harness's 16 allow (AH00161 is then logged).
        "MaxRequestWorkers 64" if mpm == "prefork" else "",
        "<Location /burn>\n  SetHandler profiler-test-burn\n</Location>",
        "<Location /profiler/cpu>\n  SetHandler profiler-profile\n"
        "  Require ip 127.0.0.1\n</Location>",
        REQPROF,
    ]), mpm=mpm, profiler=False, name="asan")
    srv.write("index.html", "hello\n")
    # A request profile's id is its row's: the store runs.
    with open(srv.conf, "a") as f:
        f.write(store_conf(SqliteDb(srv.root)) + "\n")
    env = {
        "LD_PRELOAD": "%s:%s" % (runtime("libasan.so"),
                                 runtime("libubsan.so")),
        # httpd's pools are freed by exit, not one by one: no leak check.
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:log_path=%s/logs/asan"
                        % srv.root,
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:"
                         "log_path=%s/logs/ubsan" % srv.root,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        srv.start(timeout=60)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    wait_for_ids(srv)
    return srv


@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
def test_profiles_under_sanitizers(asan_module, mpm):
    srv = start_sanitized(mpm, asan_module)
    try:
        with Load(srv, conns=4, path="/burn?ms=5"), \
                Load(srv, conns=2, path="/index.html"):
            # The highest rate, twice; the burner is found each time.
            for _ in range(2):
                status, _, body, _ = get(
                    srv, "/profiler/cpu?seconds=2&hz=1000&format=folded")
                assert status == 200
                assert BURN in body.decode()
            # Per-request profiles among the load, one after another. A
            # child the load made just now profiles nothing until its
            # store writer has its ids (README: "CPU profiles"; the
            # instrumented ones take a while): such a request is tried
            # again, for up to 10 s each.
            for _ in range(10):
                deadline = time.time() + 10
                while True:
                    status, _, _, st = get(srv, "/burn?ms=20&sleep_ms=10",
                                           headers={"X-Profile": "let-me-in"})
                    assert status == 200
                    if profile_id(st) or time.time() > deadline:
                        break
                    time.sleep(0.2)
                assert profile_id(st), st
            # A client that goes away in the middle of a profile.
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"GET /profiler/cpu?seconds=30 HTTP/1.1\r\n"
                      b"Host: 127.0.0.1\r\n\r\n")
            time.sleep(1.0)
            s.close()
            # Stopped: the next caller gets in (once the children's
            # samples are gathered, which the sanitizers slow down).
            deadline = time.time() + 20
            while True:
                status, _, _, _ = get(srv, "/profiler/cpu?seconds=1")
                if status == 200 or time.time() > deadline:
                    break
                assert status == 409
                time.sleep(0.3)
            assert status == 200
            # A graceful restart in the middle of another.
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"GET /profiler/cpu?seconds=4&format=folded HTTP/1.1\r\n"
                      b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
            time.sleep(1.0)
            srv.graceful_restart()
            s.settimeout(30)
            answer = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
            s.close()
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            time.sleep(1.0)
            status, _, _, _ = get(srv, "/profiler/cpu?seconds=1")
            assert status == 200
        srv.graceful_stop()
        reports = glob.glob(os.path.join(srv.logs, "*san*"))
        texts = [open(f, errors="replace").read()[:4000] for f in reports]
        assert not reports, texts
        # What this test is about is above: no sanitizer report, profiles
        # made. Up to 64 instrumented prefork children each writing to one
        # SQLite file may find it locked past busy_timeout (PROF00006,
        # "database is locked", then rows lost at the stop, PROF00172): the
        # store's outage path, logged and survived, seen in 1 of 5 CI runs.
        problems = srv.log_problems(allowed=[
            r"PROF00367", r"PROF00006: .*database is locked",
            r"PROF00172: store: stopping; \d+ rows could not be written"])
        assert not problems, problems
    finally:
        srv.cleanup()
