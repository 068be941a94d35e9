"""A real browser reads our Server-Timing: what DevTools shows is what we sent.

The page's own script reads performance.getEntriesByType('navigation')[0]
.serverTiming, the API DevTools' Timing tab is built on; the access log
records the Server-Timing header of that very response; the two must agree
entry for entry.
"""
import html
import json
import re
import uuid

import pytest

from browser import dump_dom
from harness import Httpd, dur_us, parse_server_timing

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>st</title></head><body>
<pre id="out">pending</pre>
<script>
const nav = performance.getEntriesByType('navigation')[0];
document.getElementById('out').textContent = JSON.stringify(
  nav.serverTiming.map(e => ({name: e.name, duration: e.duration,
                             description: e.description})));
</script>
</body></html>
"""


@pytest.fixture(scope="module")
def server():
    srv = Httpd("Profiler On\nProfilerServerTiming On\n"
                "<Location /preset>\n"
                "  Header set Server-Timing \"cdn;dur=5;desc=\\\"edge, cache\\\"\"\n"
                "</Location>\n",
                modules=["headers"], name="browser")
    srv.write("st.html", PAGE)
    srv.write("preset/st.html", PAGE)
    srv.start()
    yield srv
    problems = srv.log_problems()
    srv.cleanup()
    assert not problems, "\n".join(problems)


def logged_server_timing(srv, nonce):
    """The Server-Timing fields of the response whose request held nonce."""
    with open(srv.access_log) as f:
        for line in f:
            if nonce in line:
                # LogFormat "%h %r %>s %{Server-Timing}o": fields joined by ", "
                return line.rstrip("\n").split(" 200 ", 1)[1]
    raise AssertionError("request %s not in the access log" % nonce)


def browser_entries(srv, path):
    nonce = uuid.uuid4().hex
    dom = dump_dom(srv.url("%s?n=%s" % (path, nonce)))
    m = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    assert m, dom[-2000:]
    return json.loads(html.unescape(m.group(1))), logged_server_timing(srv, nonce)


def test_browser_sees_exactly_our_entries(server):
    seen, header = browser_entries(server, "/st.html")
    sent = parse_server_timing(header)
    assert [e["name"] for e in seen] == [n for n, _ in sent]
    assert "handler" in [n for n, _ in sent] and sent[-1][0] == "total"
    for e, (name, params) in zip(seen, sent):
        # The browser parses "1.204" to a double; so do we, from the same text.
        assert e["duration"] == float(params["dur"]), (e, params)
        assert round(e["duration"] * 1000) == dur_us(params)
        assert e["description"] == ""


def test_browser_sees_merged_field(server):
    # The backend-style field and ours arrive merged into one field, which
    # the access log records whole: the browser must see exactly it.
    seen, header = browser_entries(server, "/preset/st.html")
    sent = parse_server_timing(header.replace('\\"', '"'))
    assert sent[0] == ("cdn", {"dur": "5.000", "desc": "edge, cache"})
    assert seen[0] == {"name": "cdn", "duration": 5, "description": "edge, cache"}
    assert [e["name"] for e in seen] == [n for n, _ in sent]
    for e, (name, params) in zip(seen, sent):
        assert e["duration"] == float(params["dur"])
        assert e["description"] == params.get("desc", "")
