#!/usr/bin/env python3
"""What exporting every request as an OTLP trace costs (issue 13).

    python3 bench/otlp.py       (ROUNDS=32 DURATION=2 INSTANCES=8 by default)

Four real apache2 servers (event MPM, the same 1 KiB static file over
keep-alive) run side by side, all with Profiler On:
  off      no export, no trace context: the reference
  control  a second server identical to off: how far the machine alone
           moves a ratio
  on       ProfilerOTLPEndpoint to a collector that answers at once
  stalled  ProfilerOTLPEndpoint to a collector that accepts every export
           and never answers (each export waits ProfilerOTLPTimeout, the
           queue fills, requests are dropped and counted)
The collectors are a small sink (bench/otlp_sink.py) in processes of their
own, on the other CPU: a real collector runs elsewhere, and its CPU time is
not the server's.

Throughput: ROUNDS pairs of short wrk runs, off and the variant back to
back in alternating order; the figure is the median of the per-pair ratios
variant/off with a bootstrap 95 % interval (the goal: >= 0.97 for on and
stalled). The same runs also give the CPU time per request (the
scheduler's own count for every thread of the server's processes, and
wrk's): off's over the variant's is the throughput ratio of a server whose
CPU is the limit, and the shared host's noise (other machines' load on the
same cores, which moves a 2 s run's throughput by 10 % and more) moves it
far less. Then ROUNDS rounds side by side: a wrk for each of the four
servers at once (started in turns), all on CPU 0, each server's CPU time
per request (its threads' and its wrk's) over the same seconds, so that
what the host does to one run it does to the others; off's over the
variant's, median and interval as above. Then the exporters' counters
(exported, dropped, failed) from the live metrics, which say that the
export did happen.

The rounds are split over INSTANCES sets of the four servers (8 by
default), each set started anew and in another order: one instance of a
server can differ from another of the same configuration by 2 % and more
for its whole life (where its memory landed), which a single set would
count as the cost of what it runs.

Every thread of every server process is pinned to CPU 0 (the MPM's
children, forked before any taskset, and the exporter thread in each): the
exporter's work is the server's. Knobs: SEQUENTIAL=0 (side by side only),
INSTANCES=<n>, ON_EXTRA="<directives>" (added to the `on` server:
ProfilerOTLPBatch 64, ProfilerOTLPCompression gzip, ...).

Results go to stdout and bench/results/otlp.txt.
"""
import os
import re
import resource
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "integration"))
sys.path.insert(0, HERE)

from harness import Httpd  # noqa: E402
from store import median_ci  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", 32))
DURATION = float(os.environ.get("DURATION", 2))
CONNS = int(os.environ.get("CONNS", 8))
WARMUP = int(os.environ.get("WARMUP", 2))
INSTANCES = int(os.environ.get("INSTANCES", 8))
PAGE = "x" * 1024
PIN = ["taskset", "-c", "0"] if os.cpu_count() >= 2 else []
PIN_SINK = ["taskset", "-c", "1"] if os.cpu_count() >= 2 else []

COMMON = """
Profiler On
<Location /metrics>
    SetHandler profiler-metrics
    Require ip 127.0.0.1
</Location>
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sink(mode):
    port = free_port()
    proc = subprocess.Popen(PIN_SINK + [sys.executable,
                                        os.path.join(HERE, "otlp_sink.py"),
                                        str(port), mode])
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, "http://127.0.0.1:%d/v1/traces" % port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("sink did not start")


def server(name, body):
    srv = Httpd(COMMON + body, mpm="event", name="bench-otlp-" + name)
    srv.write("page.html", PAGE)
    return srv.start()


def tree_pids(pid):
    """pid and its child processes (an MPM's children)."""
    pids = [pid]
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            pids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return pids


def pin_tree(pid):
    """Every thread of the server's processes on CPU 0: the children were
    forked before any taskset, and they (and the exporter thread in each)
    do the work."""
    if not PIN:
        return
    for p in tree_pids(pid):
        subprocess.run(["taskset", "-a", "-p", "-c", "0", str(p)],
                       capture_output=True, check=True)


def tree_cpu_ns(pid):
    """CPU time (ns, on CPU: the scheduler's own count) of every thread of
    pid and of its child processes."""
    total = 0
    for p in tree_pids(pid):
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def wrk(srv, seconds):
    """(requests a second, CPU ns per request of the server and wrk)"""
    before = tree_cpu_ns(srv.proc.pid)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(PIN + ["wrk", "-t1", "-c%d" % CONNS,
                                "-d%gs" % seconds, srv.url("/page.html")],
                         capture_output=True, text=True, check=True).stdout
    ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_ns = tree_cpu_ns(srv.proc.pid) - before
    wrk_ns = ((ru2.ru_utime + ru2.ru_stime) - (ru.ru_utime + ru.ru_stime)) * 1e9
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    n = int(re.search(r"(\d+) requests in", out).group(1))
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    return rps, (server_ns + wrk_ns) / n


def rotate(items, k):
    """items started from the k-th (mod len): who starts first, by turns."""
    k %= len(items)
    return items[k:] + items[:k]


def wrk_together(servers, seconds, turn=0):
    """One wrk per server, all at once on CPU 0: {name: (requests a
    second, CPU ns per request of the server and its wrk)}, every server
    measured over the same seconds (what the shared host does to one it
    does to all)."""
    before = {n: tree_cpu_ns(srv.proc.pid) for n, srv in servers.items()}
    procs = {n: subprocess.Popen(PIN + ["wrk", "-t1", "-c%d" % CONNS,
                                        "-d%gs" % seconds,
                                        srv.url("/page.html")],
                                 stdout=subprocess.PIPE, text=True)
             for n, srv in rotate(list(servers.items()), turn)}
    out = {}
    for n, p in procs.items():
        text = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        assert p.returncode == 0, text
        assert "Non-2xx" not in text and "Socket errors" not in text, text
        server_ns = tree_cpu_ns(servers[n].proc.pid) - before[n]
        wrk_ns = (ru.ru_utime + ru.ru_stime) * 1e9
        reqs = int(re.search(r"(\d+) requests in", text).group(1))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
        out[n] = (rps, (server_ns + wrk_ns) / reqs)
    return out


def counters(srv):
    text = urllib.request.urlopen(srv.url("/metrics"), timeout=10).read().decode()
    return dict(re.findall(
        r'mod_profiler_otlp_requests_total\{result="(\w+)"\} (\d+)', text))


def main():
    subprocess.run(["make", "-s", "-f", "Makefile.apxs"], cwd=ROOT, check=True)
    lines = []

    def say(s):
        print(s, flush=True)
        lines.append(s)

    say("# OTLP export throughput: ROUNDS=%d DURATION=%gs CONNS=%d, event "
        "MPM, 1 KiB file, keep-alive, servers and wrk on CPU 0, collectors "
        "on CPU 1, nproc=%d, load average at start %s"
        % (ROUNDS, DURATION, CONNS, os.cpu_count(),
           " ".join(open("/proc/loadavg").read().split()[:3])))
    fast, fast_url = sink("ok")
    slow, slow_url = sink("hang")
    bodies = {
        "off": "",
        "control": "",
        "on": "ProfilerOTLPEndpoint %s\n%s\n"
              % (fast_url, os.environ.get("ON_EXTRA", "")),
        "stalled": "ProfilerOTLPEndpoint %s\n" % slow_url,
    }
    ratios = {"control": [], "on": [], "stalled": []}
    cpu = {"control": [], "on": [], "stalled": []}
    together = {"control": [], "on": [], "stalled": []}
    totals = {"on": {}, "stalled": {}}
    per_set = -(-ROUNDS // INSTANCES)
    servers = {}
    try:
        for k in range(INSTANCES):
            # A new set of servers, started in another order: what one
            # instance of a server does differently from another (where
            # its memory landed, its ports) moves its figures by as much as
            # 2 %, for the whole life of the instance.
            servers = {}
            for name in rotate(list(bodies), k):
                servers[name] = server(name, bodies[name])
            for srv in servers.values():
                pin_tree(srv.proc.pid)
                wrk(srv, WARMUP)
                pin_tree(srv.proc.pid)
            for j in range(per_set if os.environ.get("SEQUENTIAL", "1") != "0"
                           else 0):
                i = k * per_set + j
                for name in ratios:
                    pair = [("off", servers["off"]), (name, servers[name])]
                    if i % 2:
                        pair.reverse()
                    got = {n: wrk(srv, DURATION) for n, srv in pair}
                    ratios[name].append(got[name][0] / got["off"][0])
                    cpu[name].append(got["off"][1] / got[name][1])
                say("set %d round %2d: control/off %.3f  on/off %.3f  "
                    "stalled/off %.3f   (CPU: %.3f %.3f %.3f)"
                    % (k + 1, i + 1, ratios["control"][-1], ratios["on"][-1],
                       ratios["stalled"][-1], cpu["control"][-1],
                       cpu["on"][-1], cpu["stalled"][-1]))
            # Side by side: the four at once, each round's ratios from the
            # same seconds.
            for j in range(per_set):
                i = k * per_set + j
                got = wrk_together(servers, DURATION, i)
                for name in together:
                    together[name].append(got["off"][1] / got[name][1])
                say("set %d together %2d: CPU per request, off's over "
                    "control's %.3f  on's %.3f  stalled's %.3f"
                    % (k + 1, i + 1, together["control"][-1],
                       together["on"][-1], together["stalled"][-1]))
            for name in totals:
                for key, v in counters(servers[name]).items():
                    totals[name][key] = totals[name].get(key, 0) + int(v)
            for srv in servers.values():
                srv.cleanup()
            servers = {}
        n = len(ratios["on"])
        for name in ratios if n else ():
            med, lo, hi = median_ci(ratios[name])
            say("%-8s/off throughput, median of %d pairs: %.3f (95 %% "
                "interval %.3f-%.3f; min %.3f, max %.3f)"
                % (name, n, med, lo, hi, min(ratios[name]),
                   max(ratios[name])))
        for name in cpu if n else ():
            med, lo, hi = median_ci(cpu[name])
            say("%-8s/off CPU per request, off's over %s's (the throughput "
                "ratio of a CPU-bound server), median of %d pairs: %.3f "
                "(95 %% interval %.3f-%.3f)"
                % (name, name, n, med, lo, hi))
        for name in together:
            med, lo, hi = median_ci(together[name])
            say("%-8s side by side: CPU per request, off's over %s's, "
                "median of %d rounds: %.3f (95 %% interval %.3f-%.3f)"
                % (name, name, len(together[name]), med, lo, hi))
        for name in totals:
            say("%-8s exporter counters, all sets: %s"
                % (name, {k: str(v) for k, v in sorted(totals[name].items())}))
    finally:
        for srv in servers.values():
            srv.cleanup()
        for p in (fast, slow):
            p.kill()
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "otlp.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
