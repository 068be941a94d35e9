"""Debian's chromium, headless, as a test's real browser."""
import os
import shutil
import subprocess
import tempfile

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def chromium(*args, timeout=90):
    """Run headless chromium with a fresh profile; returns CompletedProcess."""
    profile = tempfile.mkdtemp(prefix="mod_profiler-chromium-")
    try:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-quic", "--no-first-run",
               "--user-data-dir=" + profile] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ, HOME=profile))
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def dump_dom(url, budget_ms=3000):
    """The DOM after the page's own scripts ran."""
    res = chromium("--virtual-time-budget=%d" % budget_ms, "--dump-dom", url)
    if res.returncode != 0:
        raise RuntimeError("chromium failed (%d): %s" % (res.returncode, res.stderr[-2000:]))
    return res.stdout


def evaluate(url, expression, width=1200, height=900, timeout=90):
    """The value of a JavaScript expression evaluated in the page at url,
    once it has loaded, in a window of width x height CSS pixels.

    The test's own script runs through the DevTools protocol (over a pipe,
    --remote-debugging-pipe), not in the page: the page's
    Content-Security-Policy stays in force for everything the page does,
    and the test can still measure its layout (scroll widths, computed
    styles, element boxes). The expression must give a JSON value."""
    import fcntl
    import json
    import select
    import time

    profile = tempfile.mkdtemp(prefix="mod_profiler-chromium-")
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    proc = None

    def child_fds():
        # Chromium reads commands on fd 3 and writes answers on fd 4. Move
        # both ends out of the way first: either may be 3 or 4 already.
        r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        os.dup2(r, 3)
        os.dup2(w, 4)

    try:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-quic", "--no-first-run",
               "--hide-scrollbars", "--remote-debugging-pipe",
               "--window-size=%d,%d" % (width, height),
               "--user-data-dir=" + profile, "about:blank"]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                                preexec_fn=child_fds, close_fds=False,
                                env=dict(os.environ, HOME=profile))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        deadline = time.time() + timeout
        buf = b""
        seq = [0]

        def send(method, params=None, session=None):
            seq[0] += 1
            msg = {"id": seq[0], "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            os.write(to_chrome_w, json.dumps(msg).encode() + b"\0")
            return seq[0]

        def wait(pred):
            nonlocal buf
            while True:
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    msg = json.loads(raw)
                    if pred(msg):
                        return msg
                left = deadline - time.time()
                if left <= 0:
                    raise RuntimeError("chromium did not answer in time")
                ready, _, _ = select.select([from_chrome_r], [], [], left)
                if ready:
                    chunk = os.read(from_chrome_r, 65536)
                    if not chunk:
                        raise RuntimeError("chromium closed the pipe")
                    buf += chunk

        def call(method, params=None, session=None):
            i = send(method, params, session)
            msg = wait(lambda m: m.get("id") == i)
            if "error" in msg:
                raise RuntimeError("%s: %s" % (method, msg["error"]))
            return msg["result"]

        target = call("Target.createTarget", {"url": "about:blank"})
        session = call("Target.attachToTarget",
                       {"targetId": target["targetId"],
                        "flatten": True})["sessionId"]
        call("Page.enable", session=session)
        call("Page.navigate", {"url": url}, session=session)
        wait(lambda m: m.get("method") == "Page.loadEventFired"
             and m.get("sessionId") == session)
        res = call("Runtime.evaluate", {"expression": expression,
                                        "returnByValue": True},
                   session=session)
        if "exceptionDetails" in res:
            raise RuntimeError("the expression failed: %s"
                               % res["exceptionDetails"])
        return res["result"].get("value")
    finally:
        # Closed through the protocol, so that its helper processes are gone
        # too before the profile is removed; killed only when that fails.
        if proc:
            try:
                os.write(to_chrome_w, json.dumps(
                    {"id": 0, "method": "Browser.close"}).encode() + b"\0")
                proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        for fd in (to_chrome_w, from_chrome_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(profile, ignore_errors=True)
