#!/usr/bin/env python3
"""How fast the report answers over a big measurement store.

    python3 bench/report.py                      (10,000,000 rows)
    python3 bench/report.py --rows 200k          (a quick run)
    python3 bench/report.py --keep /var/tmp/r    (keep the database there)
    python3 bench/report.py --db FILE            (reuse a generated database)

The target: the summary over 10 million recorded requests answers within
1 s on SQLite.

Builds the module and build/gen_store (make -f Makefile.apxs all bench-gen),
generates a store of --rows requests over the last 24 hours (gen_store:
two servers, two vhosts, 200 routes, per-minute and hourly rollups as the
writer makes them, the hourly ones from the first request on), and starts a real apache2 (the test harness, event MPM) with mod_dbd on that
file and `SetHandler profiler-report` at /profiler. Then each of

    /profiler/api/v1/summary                    (the default range: 24 h)
    /profiler/api/v1/summary?group=method,status
    /profiler/api/v1/timeseries
    /profiler/api/v1/histogram
    /profiler/api/v1/requests?limit=100

gets one warm-up and --repeat timed GETs (urllib, one after the other); each
answer must be a 200 with JSON that parses. Reported: min, median and max
wall time in ms and the size of the answer, then the line

    summary over N rows: median X ms (target <= 1000 ms)

where N is the number of stored requests inside the default range when the
summary was measured (a database generated some minutes ago has lost its
first minutes from the last 24 hours). A --db whose schema version is not
the module's (PROF_SQL_SCHEMA_VERSION in src/prof_sql.h) is refused: the
module would migrate an older one, and its hourly rollups would start at
the migration, so the summary would read minute rollups only. A failing
endpoint (e.g. a 404
before the report handler exists) is reported as such, not measured.

Output goes to stdout and bench/results/report.txt. Exit status 0 when
every endpoint answered and the summary met its target, else 1.
"""
import argparse
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))

from harness import Httpd  # noqa: E402

GEN = os.path.join(ROOT, "build", "gen_store")
SQL_H = os.path.join(ROOT, "src", "prof_sql.h")
TARGET_MS = 1000.0
DAY_US = 24 * 3600 * 1000000

BODY = """
LoadModule dbd_module /usr/lib/apache2/modules/mod_dbd.so
DBDriver sqlite3
DBDParams {db}
Profiler On
<Location /profiler>
    SetHandler profiler-report
    Require ip 127.0.0.1
</Location>
"""

ENDPOINTS = (
    "/profiler/api/v1/summary",
    "/profiler/api/v1/summary?group=method,status",
    "/profiler/api/v1/timeseries",
    "/profiler/api/v1/histogram",
    "/profiler/api/v1/requests?limit=100",
    "/profiler/",           # the dashboard: one pass over the rollups, health
)


def count(text):
    """200000, 200k, 10M."""
    t = text.strip()
    mult = {"k": 1000, "m": 1000000}.get(t[-1:].lower(), 1)
    try:
        n = int(t[:-1] if mult > 1 else t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError("not a count: %r" % text)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


class Report:
    """Lines to stdout and, at the end, to bench/results/report.txt."""

    def __init__(self):
        self.lines = []

    def say(self, s=""):
        print(s, flush=True)
        self.lines.append(s)

    def save(self):
        out = os.path.join(HERE, "results")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "report.txt"), "w") as f:
            f.write("\n".join(self.lines) + "\n")


def build(rep):
    """gen_store must build; a module that does not (the tree is being
    edited) leaves the last one built, which is said and used."""
    for target in ("bench-gen", "all"):
        r = subprocess.run(["make", "-s", "-f", "Makefile.apxs", target],
                           cwd=ROOT, capture_output=True, text=True)
        if r.returncode == 0:
            continue
        rep.say("build: make -f Makefile.apxs %s failed:" % target)
        for line in (r.stdout + r.stderr).strip().splitlines()[-20:]:
            rep.say("  " + line)
        so = os.path.join(ROOT, ".libs", "mod_profiler.so")
        if target != "all" or not os.path.exists(so):
            return False
        rep.say("build: USING THE OLD %s of %s" % (
            os.path.relpath(so, ROOT),
            time.strftime("%Y-%m-%d %H:%M:%S",
                          time.localtime(os.path.getmtime(so)))))
    return True


def generate(rep, args, db):
    cmd = [GEN, "-n", str(args.rows), "-r", str(args.routes),
           "-s", str(args.seed), db]
    rep.say("generate: %s" % " ".join([os.path.relpath(GEN, ROOT)]
                                      + cmd[1:]))
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        rep.say("  " + line.rstrip())
    proc.wait()
    rep.say("generate: exit %d after %.1f s" % (proc.returncode,
                                                  time.time() - t0))
    return proc.returncode == 0


def module_schema():
    """PROF_SQL_SCHEMA_VERSION of src/prof_sql.h, or None."""
    try:
        with open(SQL_H) as f:
            m = re.search(r"#define\s+PROF_SQL_SCHEMA_VERSION\s+(\d+)",
                          f.read())
    except OSError:
        return None
    return int(m.group(1)) if m else None


def db_schema(db):
    """The schema version of db, read-only; None without a schema row."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    try:
        row = con.execute("SELECT version FROM profiler_schema "
                          "WHERE id = 1").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        con.close()
    return row[0] if row else None


def db_counts(db, since_us=None):
    """(requests, requests since since_us or None, minute rollup rows,
    hourly rollup rows), read-only."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    try:
        total, = con.execute(
            "SELECT count(*) FROM profiler_requests").fetchone()
        recent = None
        if since_us is not None:
            recent, = con.execute(
                "SELECT count(*) FROM profiler_requests WHERE start_us >= ?",
                (since_us,)).fetchone()
        rollups, = con.execute(
            "SELECT count(*) FROM profiler_rollups").fetchone()
        hours, = con.execute(
            "SELECT count(*) FROM profiler_rollups_hour").fetchone()
        return total, recent, rollups, hours
    finally:
        con.close()


def get(url, timeout):
    """(status or None, body bytes, elapsed ms, error text or None)."""
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, body, (time.perf_counter() - t0) * 1000, None
    except (urllib.error.URLError, OSError) as e:
        return None, b"", (time.perf_counter() - t0) * 1000, str(e)
    return status, body, (time.perf_counter() - t0) * 1000, None


def problem(status, body, err):
    """Why an answer does not count, or None."""
    if err:
        return "no answer: %s" % err
    if status != 200:
        text = body.decode("utf-8", "replace")
        title = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
        text = title.group(1) if title else " ".join(text.split())
        hint = ""
        if status == 404:
            hint = " (is the profiler-report handler in this module yet?)"
        return "HTTP %s%s%s" % (status, hint,
                               (": " + text[:120]) if text else "")
    if body.startswith(b"<!DOCTYPE html>"):
        return None if b'<svg class="chart"' in body else \
            "HTTP 200 but a page without charts"
    try:
        json.loads(body)
    except ValueError as e:
        return "HTTP 200 but not JSON (%s): %r" % (e, body[:80])
    return None


def measure(rep, srv, path, repeat, timeout):
    """The median ms of path, or None if it failed."""
    status, body, _, err = get(srv.url(path), timeout)      # warm-up
    why = problem(status, body, err)
    times, size = [], len(body)
    for _ in range(repeat if why is None else 0):
        status, body, ms, err = get(srv.url(path), timeout)
        why = problem(status, body, err)
        if why:
            break
        times.append(ms)
        size = len(body)
    if why:
        rep.say("%-46s FAILED: %s" % (path, why))
        return None
    rep.say("%-46s min %8.1f  median %8.1f  max %8.1f ms  %9d bytes"
            % (path, min(times), statistics.median(times), max(times), size))
    return statistics.median(times)


def screenshots(rep, srv, db, outdir):
    """The README's pictures, from this database: the dashboard, the
    requests of the route with the most total time, and the waterfall of
    its slowest request that has spans."""
    import urllib.parse
    os.makedirs(outdir, exist_ok=True)
    status, body, _, err = get(srv.url("/profiler/api/v1/summary?limit=1"),
                               120)
    route = json.loads(body)["rows"][0]["route"]
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    rid, = con.execute(
        "SELECT r.id FROM profiler_requests r WHERE r.route = ? AND EXISTS "
        "(SELECT 1 FROM profiler_spans s WHERE s.request_id = r.id) AND "
        "r.start_us > ? ORDER BY r.total_us DESC LIMIT 1",
        (route, int((time.time() - 86400) * 1e6))).fetchone()
    con.close()
    pages = [("dashboard.png", "/profiler/"),
             ("requests.png", "/profiler/requests?route=%s&sort=total"
              % urllib.parse.quote(route, safe="")),
             ("request.png", "/profiler/requests/%d" % rid)]
    for name, path in pages:
        profile = tempfile.mkdtemp(prefix="chromium-")
        try:
            subprocess.run(["chromium", "--headless", "--no-sandbox",
                            "--disable-gpu", "--disable-background-networking",
                            "--disable-component-update", "--no-first-run",
                            "--user-data-dir=" + profile, "--hide-scrollbars",
                            "--window-size=1200,1700",
                            "--screenshot=" + os.path.join(outdir, name),
                            srv.url(path)], capture_output=True, timeout=180)
        finally:
            shutil.rmtree(profile, ignore_errors=True)
        rep.say("screenshot %s: %s" % (os.path.join(outdir, name), path))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=count, default=10000000,
                    help="requests to generate (10M; k and M suffixes)")
    ap.add_argument("--routes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", metavar="DIR",
                    help="generate into DIR/profiler.db and keep it")
    ap.add_argument("--db", metavar="FILE",
                    help="use this database instead of generating one")
    ap.add_argument("--screenshots", metavar="DIR",
                    help="also save the dashboard, a route's requests and a "
                    "waterfall as PNGs (headless chromium) into DIR")
    ap.add_argument("--repeat", type=int, default=5,
                    help="timed requests per endpoint (5)")
    ap.add_argument("--timeout", type=float, default=120,
                    help="seconds one request may take (120)")
    args = ap.parse_args()
    if args.db and args.keep:
        ap.error("--db and --keep exclude each other")

    rep = Report()
    rep.say("# report speed: nproc=%d, load average %s, SQLite %s"
            % (os.cpu_count(), " ".join(open("/proc/loadavg").read().split()[:3]),
               sqlite3.sqlite_version))
    if not build(rep):
        rep.save()
        return 1

    tmp = None
    srv = None
    ok = True
    try:
        if args.db:
            db = os.path.abspath(args.db)
            if not os.path.exists(db):
                rep.say("no such database: %s" % db)
                return 1
            rep.say("database: %s (reused)" % db)
            version = db_schema(db)
            want = module_schema()
            if version is None or version != want:
                rep.say("%s has schema version %s, the module %s: generate "
                        "a new one (the module would migrate an older file, "
                        "and its hourly rollups would only start then)"
                        % (db, version, want))
                return 1
            if os.geteuid() == 0 and not os.stat(os.path.dirname(db)).st_mode & 0o002:
                rep.say("note: apache2's children run as www-data; they need "
                        "to read and write %s and its directory (WAL)" % db)
        else:
            if args.keep:
                dbdir = os.path.abspath(args.keep)
                os.makedirs(dbdir, exist_ok=True)
            else:
                dbdir = tmp = tempfile.mkdtemp(prefix="mod_profiler-report-")
            db = os.path.join(dbdir, "profiler.db")
            if os.path.exists(db):
                rep.say("%s exists: remove it, or use --db %s" % (db, db))
                return 1
            # The server's children (www-data when we are root) open the
            # file read-write, and SQLite's WAL needs the directory too.
            os.chmod(dbdir, 0o777)
            if not generate(rep, args, db):
                return 1
            os.chmod(db, 0o666)
        rep.say("database: %.2f GB" % (os.path.getsize(db) / 1e9))

        srv = Httpd(BODY.format(db=db), mpm="event", name="report")
        try:
            srv.start()
        except RuntimeError as e:
            rep.say("apache2 did not start: %s" % e)
            return 1
        rep.say("apache2 (event MPM) on port %d, DBDParams %s" % (srv.port, db))

        rep.say("")
        rep.say("%-46s wall time of %d requests after a warm-up, and the "
                "answer's size" % ("endpoint", args.repeat))
        summary_ms = None
        t_summary = time.time()
        for path in ENDPOINTS:
            ms = measure(rep, srv, path, args.repeat, args.timeout)
            ok = ok and ms is not None
            if path == ENDPOINTS[0]:
                summary_ms, t_summary = ms, time.time()

        if args.screenshots:
            screenshots(rep, srv, db, args.screenshots)

        problems = srv.log_problems()
        if problems:
            rep.say("")
            rep.say("apache2 error log (%d problem lines; first 10):"
                    % len(problems))
            for line in problems[:10]:
                rep.say("  " + line[:300])

        rep.say("")
        total, recent, rollups, hours = db_counts(
            db, int(t_summary * 1e6) - DAY_US)
        rep.say("database: %d requests, %d of them in the last 24 h; "
                "%d rollup rows, %d rollup_hour rows"
                % (total, recent, rollups, hours))
        if summary_ms is None:
            rep.say("summary over %d rows: not measured (see FAILED above) "
                    "(target <= %d ms)" % (recent, TARGET_MS))
            ok = False
        else:
            met = summary_ms <= TARGET_MS
            rep.say("summary over %d rows: median %.1f ms (target <= %d ms)%s"
                    % (recent, summary_ms, TARGET_MS,
                       "" if met else ": MISSED"))
            ok = ok and met
    finally:
        if srv is not None:
            srv.cleanup()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        rep.save()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
