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
