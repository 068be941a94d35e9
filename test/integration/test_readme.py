"""Every configuration snippet in README.md, tested as written.

Each ```apache block of the README (found when the tests are collected, so
a snippet added anywhere is covered without touching this file) is put into
a minimal generated httpd.conf and must pass `apache2 -t` with no warning;
then that server is started, answers a request, and stops with nothing at
[warn] or worse in its error log. A snippet with `ProfilerStore On` must
also have written that request into its SQLite file: that is what catches a
database path the server's user cannot write (issue 10: the README's
/var/lib/apache2/profiler.db was not writable by www-data on Debian).

The generated configuration stands for a stock Debian apache2 with
`a2enmod profiler` done:
- its ServerRoot has a modules/ directory of symlinks to every module in
  /usr/lib/apache2/modules, and mod_profiler.so to this checkout's build,
  so a snippet's `LoadModule x modules/mod_x.so` works as written;
- it loads the MPM (event), the modules Debian enables by default
  (DEBIAN_DEFAULT_MODULES) and mod_profiler — each unless the snippet loads
  it itself. Anything else (mod_dbd, mod_proxy, ...) the snippet must load:
  on Debian that is an a2enmod the README would have to mention.
- system paths that snippets name are moved into a temporary stand-in for
  the system (SYSTEM_PATHS), created as Debian has them; the README's own
  setup commands (```sh lines that match SETUP_COMMANDS, e.g. the
  `install -d` of the store's directory) run there first, with the same
  substitution, as a user following the README would run them.

A snippet that is deliberately partial — one that adds to the snippet
before it, as the report's token example adds to the report's configuration
— is marked in the README by the line
`<!-- readme-test: adds to the snippet above -->` just above its fence
(invisible on the rendered page). It is then tested after the README's
previous ```apache snippet, in one configuration, as a reader combines them.

The README's shell commands (```sh blocks) are each either run here (the
setup commands), run by another test (ELSEWHERE names it), or listed in
ELSEWHERE with the reason they cannot run in a test. A new command that is
none of these fails test_every_shell_command_is_run_or_accounted_for.
"""
import os
import pwd
import grp
import re
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from harness import HTTPD, MODULE_SO, MODULES_DIR, ROOT, Httpd, run_user
from otlp import OtlpReceiver

README = os.path.join(ROOT, "README.md")

# What `apt-get install apache2` enables on Debian 12 (besides the MPM).
# Order matters for deflate, which needs filter.
DEBIAN_DEFAULT_MODULES = (
    "access_compat", "alias", "auth_basic", "authn_core", "authn_file",
    "authz_core", "authz_host", "authz_user", "autoindex", "filter",
    "deflate", "dir", "env", "mime", "negotiation", "reqtimeout",
    "setenvif", "status")

# System paths named in snippets and setup commands -> where this test puts
# them (@SYS@ is a fresh directory per test). Kept as small as possible:
# add a path here only when a snippet must name it.
SYSTEM_PATHS = (
    # The module where apxs -i installs it (conf/profiler.load).
    ("/usr/lib/apache2/modules/", "@ROOT@/modules/"),
    # Debian ships it root:root 0755: only what the README tells the user
    # to create in it is writable by www-data.
    ("/var/lib/apache2", "@SYS@/var/lib/apache2"),
    # Holds the report's bearer token file, made here (make_system).
    ("/etc/apache2/", "@SYS@/etc/apache2/"),
)

# README shell commands (comment and `sudo` dropped) that the test runs,
# with SYSTEM_PATHS applied, before checking each configuration snippet.
SETUP_COMMANDS = re.compile(r"^install\s")

# README shell commands that are not run here, and why.
ELSEWHERE = {
    "bash scripts/demo.sh": "run by test_demo.py",
    "bash scripts/test.sh": "the whole suite, which runs this test",
    "make -f Makefile.apxs": "run by test_build.py on a clean copy",
    "make -f Makefile.apxs install":
        "apxs -i writes into the system's /usr/lib/apache2/modules and "
        "/etc/apache2; its result is what test_debian_conf_files checks",
    "a2enmod profiler && systemctl reload apache2":
        "changes the system's apache2",
}

_FENCE = re.compile(r"^( *)```(\S*)\s*$")
_ADDS = "<!-- readme-test: adds to the snippet above -->"


def readme_blocks(lang):
    """[(line number, text, adds)] of the README's ```lang blocks, indented
    ones (inside list items) included, dedented; adds: marked as adding to
    the block before it."""
    lines = open(README).read().split("\n")
    out, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m or not m.group(2):
            i += 1
            continue
        indent, kind, start = len(m.group(1)), m.group(2), i
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][indent:] if lines[i][:indent].strip() == ""
                        else lines[i])
            i += 1
        i += 1
        if kind == lang:
            adds = start > 0 and lines[start - 1].strip() == _ADDS
            out.append((start + 1, "\n".join(body), adds))
    return out


def shell_commands():
    """[(line number, command)] of the README's ```sh blocks: comments and
    `sudo ` dropped."""
    out = []
    for lineno, text, _ in readme_blocks("sh"):
        for k, line in enumerate(text.split("\n")):
            cmd = re.sub(r"(^|&&\s*)sudo\s+", r"\1", line.split("#", 1)[0].strip())
            if cmd:
                out.append((lineno + 1 + k, cmd))
    return out


def substitute(text, root, system):
    for readme_path, ours in SYSTEM_PATHS:
        text = text.replace(readme_path,
                            ours.replace("@ROOT@", root).replace("@SYS@", system))
    return text


def make_system(system):
    """The stand-in for the system's directories, as Debian has them."""
    os.makedirs(os.path.join(system, "var", "lib", "apache2"))
    os.makedirs(os.path.join(system, "etc", "apache2"))
    for d, _, _ in os.walk(system):
        os.chmod(d, 0o755)
    os.chmod(os.path.dirname(system), 0o755)
    token = os.path.join(system, "etc", "apache2", "profiler.token")
    with open(token, "w") as f:
        f.write(os.urandom(16).hex() + "\n")
    os.chmod(token, 0o600)


def run_setup_commands(root, system):
    """The README's setup commands, as a user following it runs them."""
    for lineno, cmd in shell_commands():
        if not SETUP_COMMANDS.match(cmd):
            continue
        cmd = substitute(cmd, root, system)
        if os.geteuid() != 0:
            # The server's children run as this user, not www-data.
            me = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            cmd = re.sub(r"-o www-data", "-o " + me, cmd)
            cmd = re.sub(r"-g www-data", "-g " + group, cmd)
        r = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True)
        assert r.returncode == 0, "README.md:%d: %s\n%s" % (lineno, cmd, r.stderr)


def server_for(snippet, name):
    """A server whose configuration is the generated frame around snippet
    (SYSTEM_PATHS already applied by the caller through @ROOT@/@SYS@)."""
    srv = Httpd("", profiler=False, name=name)
    mods = os.path.join(srv.root, "modules")
    os.makedirs(mods)
    for f in os.listdir(MODULES_DIR):
        os.symlink(os.path.join(MODULES_DIR, f), os.path.join(mods, f))
    os.symlink(MODULE_SO, os.path.join(mods, "mod_profiler.so"))
    system = os.path.join(srv.root, "system")
    make_system(system)
    snippet = substitute(snippet, srv.root, system)
    loaded = set(re.findall(r"^\s*LoadModule\s+(\S+)", snippet, re.M))
    load = ["LoadModule mpm_event_module modules/mod_mpm_event.so"]
    for m in DEBIAN_DEFAULT_MODULES + ("profiler",):
        if m + "_module" not in loaded:
            load.append("LoadModule %s_module modules/mod_%s.so" % (m, m))
    user = run_user()
    with open(srv.conf, "w") as f:
        f.write("\n".join([
            "ServerRoot %s" % srv.root,
            "DefaultRuntimeDir %s/run" % srv.root,
            "PidFile %s/run/httpd.pid" % srv.root,
            "Listen 127.0.0.1:%d" % srv.port,
            "ServerName 127.0.0.1",
            ("User %s\nGroup %s" % user) if user else "",
            "ErrorLog %s" % srv.error_log,
            "LogLevel warn",
            "TypesConfig /etc/mime.types",
            "DocumentRoot %s" % srv.docroot,
            "<Directory %s>\n    Require all granted\n</Directory>" % srv.docroot,
            "\n".join(load),
            # Debian's mods-available/mpm_event.conf. Without it, httpd's
            # compiled-in spares (MinSpareThreads 75 with 25 threads a
            # child) make the parent start and then stop children in the
            # first second, and a child stopped while it serves a request
            # now and then crashed or logged AH03092 (httpd 2.4.71, with
            # or without mod_profiler: about 1 start in 100).
            "StartServers 2\nMinSpareThreads 25\nMaxSpareThreads 75\n"
            "ThreadLimit 64\nThreadsPerChild 25\nMaxRequestWorkers 150\n"
            "MaxConnectionsPerChild 0",
            "# ---- the snippet",
            snippet,
            "",
        ]))
    srv.write("index.html", "<p>hello</p>\n")
    return srv, system, snippet


def check_config(srv, label, snippet):
    r = srv.configtest()
    out = (r.stdout + r.stderr).strip()
    problems = [l for l in out.splitlines()
                if l.strip() != "Syntax OK"]
    assert r.returncode == 0 and not problems, (
        "%s fails apache2 -t:\n%s\n---- snippet:\n%s" % (label, out, snippet))


def stored_rows(db):
    try:
        c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=1)
        try:
            return c.execute("SELECT count(*) FROM profiler_requests").fetchone()[0]
        finally:
            c.close()
    except sqlite3.Error:
        return 0


def check_runs(srv, label, snippet, receiver=None):
    """Start it, send a request, see it stored if the snippet (with
    SYSTEM_PATHS applied) stores, stop, and read the error log."""
    srv.start()
    try:
        try:
            urllib.request.urlopen(srv.url("/"), timeout=10).read()
        except urllib.error.HTTPError:
            pass        # whatever the snippet makes of /, it answered
        if re.search(r"^\s*ProfilerStore\s+On\b", snippet, re.M | re.I):
            m = re.search(r"^\s*DBDParams\s+(\S+)", snippet, re.M)
            assert m, "%s: ProfilerStore On without an SQLite DBDParams" % label
            deadline = time.time() + 10
            while stored_rows(m.group(1)) < 1 and time.time() < deadline:
                time.sleep(0.1)
            assert stored_rows(m.group(1)) >= 1, (
                "%s: the request was not stored in %s\n%s"
                % (label, m.group(1), srv.read_error_log()))
        if receiver:
            deadline = time.time() + 10
            while not receiver.spans() and time.time() < deadline:
                time.sleep(0.1)
            assert receiver.spans(), "%s: nothing was exported\n%s" % (
                label, srv.read_error_log())
    finally:
        srv.stop()
    problems = srv.log_problems()
    assert not problems, "%s: the server logged:\n%s\n---- snippet:\n%s" % (
        label, "\n".join(problems), snippet)


def apache_snippets():
    """[(line number, configuration to test)]: each ```apache block, after
    the block(s) it adds to."""
    out = []
    for lineno, text, adds in readme_blocks("apache"):
        if adds:
            assert out, "README.md:%d adds to no snippet above" % lineno
            text = out[-1][1] + "\n" + text
        out.append((lineno, text))
    return out


APACHE_SNIPPETS = apache_snippets()


def test_every_apache_block_is_found():
    """The extractor sees every ```apache fence, indented ones included."""
    fences = re.findall(r"^ *```apache\s*$", open(README).read(), re.M)
    assert len(APACHE_SNIPPETS) == len(fences) > 0


@pytest.mark.parametrize("lineno,snippet", APACHE_SNIPPETS,
                         ids=["README.md:%d" % s[0] for s in APACHE_SNIPPETS])
def test_apache_snippet(built_module, lineno, snippet):
    label = "README.md:%d" % lineno
    # A snippet that exports to a collector gets one, a real OTLP receiver,
    # where its URL says; the request must reach it.
    receiver = None
    m = re.search(r"^\s*ProfilerOTLPEndpoint\s+(\S+)", snippet, re.M)
    if m:
        receiver = OtlpReceiver()
        receiver.start()
        snippet = snippet.replace(m.group(1), receiver.url)
    srv, system, ours = server_for(snippet, "readme")
    try:
        run_setup_commands(srv.root, system)
        check_config(srv, label, snippet)
        check_runs(srv, label, ours, receiver)
    finally:
        srv.cleanup()
        if receiver:
            receiver.close()


def test_every_shell_command_is_run_or_accounted_for():
    cmds = shell_commands()
    assert cmds
    unknown = [(n, c) for n, c in cmds
               if c not in ELSEWHERE and not SETUP_COMMANDS.match(c)]
    assert not unknown, (
        "README shell commands that no test runs; run them in a test or say "
        "why not in test_readme.ELSEWHERE:\n" +
        "\n".join("README.md:%d: %s" % u for u in unknown))
    for why in ELSEWHERE.values():
        m = re.match(r"run by (test_\w+\.py)", why)
        if m:
            assert os.path.exists(os.path.join(os.path.dirname(__file__), m.group(1)))


def test_debian_conf_files(built_module):
    """conf/profiler.load and conf/profiler.conf, which `make install` puts
    into mods-available for a2enmod: the module's path is where apxs -i
    installs it, and both pass apache2 -t and run."""
    libexec = subprocess.run(["apxs", "-q", "LIBEXECDIR"], capture_output=True,
                             text=True, check=True).stdout.strip()
    load = open(os.path.join(ROOT, "conf", "profiler.load")).read()
    assert re.search(r"^LoadModule profiler_module %s/mod_profiler\.so$"
                     % re.escape(libexec), load, re.M), load
    snippet = load + open(os.path.join(ROOT, "conf", "profiler.conf")).read()
    srv, _, ours = server_for(snippet, "readme-conf")
    try:
        check_config(srv, "conf/profiler.load + conf/profiler.conf", snippet)
        check_runs(srv, "conf/", ours)
    finally:
        srv.cleanup()
