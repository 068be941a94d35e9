"""The report's CPU page (issue 12) takes a whole-server profile through
the profiler-profile handler, on every MPM, while requests burn the CPU in
the test module's proftest_burn_cpu(): the flame graph and the top
functions show that function first; a second profile at the same time
gets the handler's 409 on the page; the handler's own access control
holds for the page too; and in chromium, under the report's CSP, the
graph renders with no script (screenshot: cpu-flame.png).

Needs the httpd side of issue 12 (the profiler-profile handler, the
test module's profiler-test-burn) besides the report."""
import re
import shutil
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from harness import Httpd
from report import fetch
from store import build_test_module

BURN = "proftest_burn_cpu"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def cpu_server(mpm, allow="127.0.0.1", name="cpu-page"):
    mod = build_test_module()
    return Httpd("\n".join([
        "LoadModule profiler_test_module %s" % mod,
        "Profiler On",
        ("StartServers 2\nMinSpareServers 2\nMaxSpareServers 16"
         if mpm == "prefork" else
         "StartServers 2\nMinSpareThreads 25\nMaxSpareThreads 100"),
        "<Location /burn>\n  SetHandler profiler-test-burn\n</Location>",
        "<Location /profiler>\n  SetHandler profiler-report\n"
        "  Require ip 127.0.0.1\n</Location>",
        "<Location /cpu-profile>\n  SetHandler profiler-profile\n"
        "  Require ip %s\n</Location>" % allow,
    ]), mpm=mpm, name=name).start()


class Load:
    """Requests that burn the CPU from a few connections, while it runs."""

    def __init__(self, srv, conns=4):
        self.srv, self.stop = srv, threading.Event()
        self.threads = [threading.Thread(target=self.run)
                        for _ in range(conns)]

    def run(self):
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.srv.url("/burn?ms=20"),
                                            timeout=10) as r:
                    r.read()
            except OSError:
                time.sleep(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def top_rows(page):
    table = re.search(r'<table class="top" id="cpu-top">.*?</table>', page,
                      re.S)
    assert table, page[-3000:]
    return re.findall(r'<tr><td>([^<]*)</td><td class="num">[^<]*</td>'
                      r'<td class="num">([0-9.]+) %</td>', table.group(0))


@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
def test_cpu_page_shows_the_burning_function(mpm):
    srv = cpu_server(mpm)
    try:
        with Load(srv):
            status, _, page = fetch(srv, "/profiler/cpu?seconds=2&hz=199")
        assert status == 200, page[-2000:]
        rows = top_rows(page)
        assert rows[0][0] == BURN, rows[:5]
        assert float(rows[0][1]) > 50, rows[:5]
        cap = re.search(r'<figcaption>2 s at 199 Hz: (\d+) samples from '
                        r'(\d+) process', page)
        assert cap and int(cap.group(1)) > 50, page[-3000:]
        svg = re.search(r'<svg xmlns="http://www.w3.org/2000/svg" '
                        r'id="cpu-flame".*?</svg>', page, re.S).group(0)
        ns = "{http://www.w3.org/2000/svg}"
        titles = [g.find(ns + "title").text
                  for g in ET.fromstring(svg).iter(ns + "g")]
        assert any(t.startswith(BURN + "\ntotal: ") for t in titles), titles
        srv.graceful_stop()
        assert not srv.log_problems()
    finally:
        srv.cleanup()


def test_cpu_page_one_profile_at_a_time_and_access_control():
    srv = cpu_server("event")
    other = None
    try:
        first = {}

        def take():
            first["status"], _, _ = fetch(srv, "/cpu-profile?seconds=3"
                                               "&format=folded")
        t = threading.Thread(target=take)
        t.start()
        time.sleep(0.7)
        status, _, page = fetch(srv, "/profiler/cpu?seconds=1")
        t.join()
        assert first["status"] == 200
        assert status == 409, page[-2000:]
        assert re.search(r'id="cpu-error">The CPU profile at /cpu-profile '
                         r'answered 409', page), page[-2000:]
        # Once it is done, the page takes its own.
        status, _, page = fetch(srv, "/profiler/cpu?seconds=1")
        assert status == 200 and 'id="cpu-flame"' in page
        # A client the profile's own Require does not let in cannot take
        # one through the report either.
        other = cpu_server("event", allow="192.0.2.1", name="cpu-page-deny")
        status, _, page = fetch(other, "/profiler/cpu?seconds=1")
        assert status == 403, page[-2000:]
        assert "answers 403" in page
        for s in (srv, other):
            s.graceful_stop()
        assert not srv.log_problems()
        # httpd logs the refused client at error level (AH01630).
        assert not other.log_problems(allowed=(r"AH01630",))
    finally:
        srv.cleanup()
        if other:
            other.cleanup()


FRAMES = """(function () {
  var svg = document.getElementById('cpu-flame'), out = {};
  if (!svg) return null;
  svg.querySelectorAll('g.f').forEach(function (g) {
    out[g.querySelector('title').textContent.split('\\n')[0]] =
      g.querySelector('rect').getBoundingClientRect().width;
  });
  return out;
})()"""


def test_cpu_page_in_the_browser():
    assert CHROMIUM, "chromium is required (scripts/deps.sh test)"
    from browser import evaluate
    from test_report_browser import dom, screenshot
    srv = cpu_server("event", name="cpu-page-browser")
    try:
        url = srv.url("/profiler/cpu?seconds=2&hz=199")
        with Load(srv):
            widths = evaluate(url, FRAMES)
            page = dom(url)         # a silent console: the CSP holds
            screenshot(url, "cpu-flame.png")
        assert widths and widths[BURN] > 0.5 * widths["all"], widths
        assert 'id="cpu-flame"' in page and "<script>" not in \
            page.split('id="cpu-flame"')[1].split("</svg>")[0]
        srv.graceful_stop()
        assert not srv.log_problems()
    finally:
        srv.cleanup()
