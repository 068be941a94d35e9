"""A real Prometheus server (Debian's prometheus package) for the tests:
started on a free 127.0.0.1 port with a one-second scrape interval, its
targets given as (job, metrics path, port), and stopped afterwards."""
import contextlib
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

from harness import free_port


@contextlib.contextmanager
def prometheus(d, jobs):
    """Yield (query API base URL, active targets) once every target has been
    scraped at least once, whatever the outcome; d is a fresh directory."""
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus package is needed (deps)"
    port = free_port()
    (d / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n" + "".join(
            "  - job_name: %s\n    metrics_path: %s\n"
            "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
            % (job, path, target) for job, path, target in jobs))
    log = open(d / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [binary, "--config.file=%s" % (d / "prometheus.yml"),
         "--storage.tsdb.path=%s" % (d / "data"),
         "--web.listen-address=127.0.0.1:%d" % port],
        stdout=log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d/api/v1/" % port
    try:
        deadline = time.time() + 60
        targets = []
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(base + "targets") as r:
                    targets = json.load(r)["data"]["activeTargets"]
            except OSError:
                targets = []
            if len(targets) == len(jobs) and all(
                    t["lastScrape"] != "0001-01-01T00:00:00Z"
                    and t["health"] != "unknown" for t in targets):
                break
            assert proc.poll() is None, (d / "prometheus.log").read_text()
            time.sleep(0.5)
        yield base, targets
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def query(base, q):
    """The result of an instant query; the query must succeed."""
    url = base + "query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url) as r:
        data = json.load(r)
    assert data["status"] == "success", data
    return data["data"]["result"]
