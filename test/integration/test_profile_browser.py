"""A request's flame graph in a real browser (Debian's chromium, headless)
with the report's strict Content-Security-Policy in force: the SVG drawn
on the server renders with no script, the console stays silent, each
frame is as wide as its share in the page's own layout, its hover title
says total and self, and a screenshot shows it
(test/integration/screenshots/request-flame.png)."""
import os
import shutil

import pytest

from browser import evaluate
from profiles import BURN, HOSTILE, WAIT
from report import fetch
from store import SqliteDb, make_server
from test_profile_api import REPORT, two_requests
from test_report_browser import dom, screenshot

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# The frames of a flame graph as the browser lays them out.
FRAMES = """(function (id) {
  var svg = document.getElementById(id), out = {frames: {}};
  if (!svg) return null;
  out.svg = svg.getBoundingClientRect().width;
  svg.querySelectorAll('g.f').forEach(function (g) {
    var t = g.querySelector('title').textContent;
    out.frames[t.split('\\n')[0]] = {
      title: t, width: g.querySelector('rect').getBoundingClientRect().width,
      fill: getComputedStyle(g.querySelector('rect')).fill,
      label: g.querySelector('text') ? g.querySelector('text').textContent
                                     : null};
  });
  out.scripts = document.querySelectorAll('svg script').length;
  return out;
})('%s')"""


@pytest.fixture(scope="module")
def srv():
    assert CHROMIUM, "chromium is required (scripts/deps.sh test)"
    s = make_server(SqliteDb, name="profile-browser", extra=REPORT)
    s.ids = two_requests(s)
    yield s
    s.graceful_stop()
    problems = s.log_problems()
    s.cleanup()
    assert not problems, "\n".join(problems)


def test_request_flame_graph_in_the_browser(srv):
    url = srv.url("/profiler/requests/%d" % srv.ids[0])
    page = dom(url)                 # asserts a silent console (CSP)
    assert 'id="request-flame"' in page
    got = evaluate(url, FRAMES % "request-flame")
    assert got and got["scripts"] == 0
    # Drawn to the page's width, frames by their share of the samples.
    assert got["svg"] > 900, got["svg"]
    fr = got["frames"]
    whole = fr["all"]["width"]
    assert abs(fr[BURN]["width"] / whole - 0.70) < 0.01, fr
    assert abs(fr[WAIT]["width"] / whole - 0.20) < 0.01, fr
    assert abs(fr[HOSTILE]["width"] / whole - 0.10) < 0.01, fr
    assert "total: 700.0 ms, 700 samples (70.00%)" in fr[BURN]["title"]
    assert "self: 700.0 ms" in fr[BURN]["title"]
    assert fr[BURN]["label"] == BURN
    # Waiting is blue, on-CPU warm.
    r, g, b = [int(x) for x in fr[WAIT]["fill"][4:-1].split(",")]
    assert b > r, fr[WAIT]["fill"]
    r, g, b = [int(x) for x in fr[BURN]["fill"][4:-1].split(",")]
    assert r > b, fr[BURN]["fill"]
    path = screenshot(url + "#profile", "request-flame.png")
    assert os.path.getsize(path) > 20000


def test_request_without_profile_has_no_flame_graph(srv):
    status, _, page = fetch(srv, "/profiler/requests/%d" % srv.ids[1])
    assert status == 200
    assert evaluate(srv.url("/profiler/requests/%d" % srv.ids[1]),
                    FRAMES % "request-flame") is None
