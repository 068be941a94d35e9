"""The dashboard in a real browser: Debian's chromium, headless, loads the
report of a server filled by real requests, with its strict
Content-Security-Policy in force. The charts and tables render, the page's
own script runs, the console stays silent, and a drill-down from a route to
its requests to one request's waterfall works. Screenshots go to
test/integration/screenshots/ (docs/screenshots/ with UPDATE_SCREENSHOTS=1,
the README's pictures)."""
import os
import re
import shutil
import struct
import subprocess
import tempfile
import html

import pytest

from report import TRAFFIC, report_server
from store import SqliteDb, build_test_module

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (scripts/deps.sh test installs it)")


@pytest.fixture(scope="session")
def test_module(built_module):
    return build_test_module()


@pytest.fixture(scope="module")
def srv(test_module):
    assert CHROMIUM, "chromium is required (CI installs it)"
    s = report_server(SqliteDb, test_module, name="report-browser")
    yield s
    s.graceful_stop()
    problems = s.log_problems()
    s.cleanup()
    assert not problems, "\n".join(problems)


def chromium(url, *args):
    """(stdout, stderr) of one headless run with a fresh profile."""
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--no-first-run", "--user-data-dir=" + profile,
             "--enable-logging=stderr", "--v=0", "--window-size=1200,1700"]
            + list(args) + [url], capture_output=True, text=True, timeout=120)
        return out.stdout, out.stderr
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def console_messages(stderr):
    """What the page wrote to the console, CSP violations included."""
    return [l for l in stderr.splitlines()
            if "CONSOLE" in l or "Refused to" in l or "Uncaught" in l]


def dom(url):
    out, err = chromium(url, "--dump-dom")
    assert "<html" in out, err[-2000:]
    assert not console_messages(err), console_messages(err)
    return out


def screenshot(url, name):
    dirs = [os.path.join(HERE, "screenshots")]
    if os.environ.get("UPDATE_SCREENSHOTS"):
        dirs.append(os.path.join(ROOT, "docs", "screenshots"))
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    path = os.path.join(dirs[0], name)
    if os.path.exists(path):
        os.unlink(path)
    out, err = chromium(url, "--screenshot=" + path, "--hide-scrollbars")
    assert os.path.exists(path), err[-2000:]
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert (width, height) == (1200, 1700)
    assert os.path.getsize(path) > 20000, "a blank page?"
    for d in dirs[1:]:
        shutil.copy(path, os.path.join(d, name))
    return path


def hrefs(page, cls):
    return [html.unescape(m) for m in
            re.findall(r'<a class="%s" href="([^"]+)"' % cls, page)]


def test_dashboard_renders_with_charts_and_tables(srv):
    page = dom(srv.url("/profiler/"))
    # The page's script ran under the CSP and counted the charts.
    assert re.search(r'<html[^>]* data-charts="3"', page), page[:300]
    charts = re.findall(r'<svg class="chart" id="([a-z-]+)"(.*?)</svg>', page,
                        re.S)
    assert [c[0] for c in charts] == ["chart-series", "chart-hist",
                                      "chart-phases"]
    for name, body in charts:
        assert body.count("<rect") > 2, name
    table = re.search(r'<table class="summary".*?</table>', page, re.S).group(0)
    assert table.count("<tr>") == len(TRAFFIC) + 1
    assert "&lt;script&gt;" in table and "<script>alert" not in page
    screenshot(srv.url("/profiler/"), "dashboard.png")


def test_drill_down_to_a_waterfall(srv):
    page = dom(srv.url("/profiler/"))
    route = [h for h in hrefs(page, "route") if "route=%2Ft&" in h
             or h.endswith("route=%2Ft")]
    assert route, hrefs(page, "route")
    listing = dom(srv.url(route[0]))
    assert "Requests of /t" in listing
    reqs = hrefs(listing, "req")
    assert len(reqs) == 11
    screenshot(srv.url(route[0]), "requests.png")
    # The slowest of the route: it has the test module's spans.
    slow = dom(srv.url(route[0] + "&sort=total&order=desc"))
    detail_url = hrefs(slow, "req")[0]
    detail = dom(srv.url(detail_url))
    wf = re.search(r'<svg class="chart" id="waterfall".*?</svg>', detail,
                   re.S).group(0)
    assert wf.count('class="wf ph') >= 3
    assert wf.count('class="wf span"') >= 1
    assert 'id="spans"' in detail
    screenshot(srv.url(detail_url), "request.png")
