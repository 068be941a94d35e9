"""The README's first command, `bash scripts/demo.sh`, run as written on
this checkout (issue 10: it failed on every machine with "Unknown Authz
provider: ip"). With PORT and DEMO_DIR in the environment, as the README
says, so that it runs beside anything else on the machine.

It starts a real apache2 with the demo's own configuration; the test then
visits what the demo offers — a page with Server-Timing, the example span
module, a slow CGI, a deep directory, a proxied backend whose own
Server-Timing is merged, a 404, the dashboard — checks that the store got
rows for them, that the error log has no warning, and stops it with
`bash scripts/demo.sh stop`.
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from harness import ROOT, _LOG_PROBLEM, free_port, parse_server_timing, dur_us
from test_readme import shell_commands

def readme_command(script):
    """The README's shell command that runs `script`, as test_readme reads
    it (comment and `sudo` dropped: root needs no sudo, and sudo would drop
    PORT and DEMO_DIR from the environment)."""
    for _, cmd in shell_commands():
        if cmd.endswith(script):
            return cmd
    raise AssertionError("README.md has no ```sh line running %s" % script)


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


def server_timing(headers):
    values = [v for k, v in headers if k.lower() == "server-timing"]
    assert len(values) == 1, headers
    return parse_server_timing(values[0])


@pytest.fixture
def demo(built_module):
    port = free_port()
    # Its children may run as www-data, who must be able to reach it:
    # pytest's tmp_path is private to root.
    top = tempfile.mkdtemp(prefix="mod_profiler-test-demo-")
    os.chmod(top, 0o755)
    ddir = os.path.join(top, "demo")
    env = dict(os.environ, PORT=str(port), DEMO_DIR=ddir)
    cmd = readme_command("scripts/demo.sh")
    assert cmd == "bash scripts/demo.sh", cmd
    started = subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    yield port, ddir, env, started
    # Whatever the test did, leave no server behind.
    subprocess.run(["bash", "scripts/demo.sh", "stop"], cwd=ROOT, env=env,
                   capture_output=True, timeout=60)
    shutil.rmtree(top, ignore_errors=True)


def test_the_readme_demo_starts_shows_and_stops(demo):
    port, ddir, env, started = demo
    assert started.returncode == 0, started.stdout + started.stderr
    assert "http://127.0.0.1:%d/" % port in started.stdout

    # A page, with the phases in Server-Timing.
    status, headers, body = get(port, "/")
    assert status == 200 and b"mod_profiler demo" in body
    names = [n for n, _ in server_timing(headers)]
    assert "handler" in names and names[-1] == "total", names

    # The example module's span and metric, after the phases.
    status, headers, body = get(port, "/example")
    assert status == 200 and b"rendered" in body
    st = dict(server_timing(headers))
    assert st["render"]["desc"] == "template" and dur_us(st["render"]) >= 3000
    assert st["backend"]["desc"] == "simulated"

    # The slow path: 300 ms in the handler.
    status, headers, _ = get(port, "/slow")
    assert status == 200
    assert dur_us(dict(server_timing(headers))["handler"]) >= 300000

    # The deep file: its directory walk is the storage phase.
    deep = "/deep/" + "".join("d%d/" % i for i in range(1, 41)) + "f.html"
    status, headers, _ = get(port, deep)
    assert status == 200 and "storage" in dict(server_timing(headers))

    # The 404 is timed like any response.
    status, headers, _ = get(port, "/missing")
    assert status == 404
    assert "total" in dict(server_timing(headers))

    # The proxied backend: its own entries come first, with the prefix,
    # then ours, and the wait for it as the upstream span.
    status, headers, body = get(port, "/api/orders")
    assert status == 200 and json.loads(body) == {"orders": [1, 2, 3]}
    entries = server_timing(headers)
    assert entries[0] == ("be-db", {"dur": "82.500", "desc": "orders query"})
    assert entries[1] == ("be-cache", {"desc": "miss"})
    st = dict(entries)
    assert dur_us(st["upstream"]) >= 100000 and "handler" in st

    # The dashboard, for a local client.
    status, headers, body = get(port, "/profiler/")
    assert status == 200, body[:300]
    assert dict((k.lower(), v) for k, v in headers)["content-type"].startswith("text/html")
    assert b"<html" in body.lower()

    # The store has them all (the writer writes every 100 ms).
    # (a 404 that no ProfilerRoute names is "(not found)", issue 11)
    want = {"/", "/example", "/slow", "(not found)", "/api/orders"}
    deadline = time.time() + 10
    while True:
        status, _, body = get(port, "/profiler/api/v1/summary")
        assert status == 200, body
        routes = {row["route"] for row in json.loads(body)["rows"]}
        if want <= routes or time.time() > deadline:
            break
        time.sleep(0.2)
    assert want <= routes, routes

    with open(os.path.join(ddir, "logs", "error.log"), errors="replace") as f:
        log = f.read()
    problems = [l for l in log.splitlines() if _LOG_PROBLEM.search(l)]
    assert not problems, "\n".join(problems)

    # And the README's way to stop it.
    pid = int(open(os.path.join(ddir, "run", "httpd.pid")).read())
    stopped = subprocess.run(["bash", "scripts/demo.sh", "stop"], cwd=ROOT,
                             env=env, capture_output=True, text=True,
                             timeout=60)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "demo stopped" in stopped.stdout
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), 1).close()
