"""The README's build command, `make -f Makefile.apxs`, on a clean copy of
the checkout: it must succeed without a single warning line, from the
compiler or from libtool (issue 10: a shared module linked against a static
archive made libtool print "*** Warning: Linking the shared library ...
against the static library ... is not portable!").

The build runs in a temporary copy: the other tests load this checkout's
.libs/mod_profiler.so, so it must not be cleaned or rebuilt under them.
"""
import os
import re
import subprocess

from harness import ROOT
from test_readme import shell_commands

# A warning from gcc/clang ("warning:"), from libtool ("*** Warning: ..."),
# from make ("warning: overriding recipe") or from ar/ld.
_WARNING = re.compile(r"warning|^\*\*\*", re.IGNORECASE)


def copy_checkout(dest):
    """The checkout's files as git sees them (tracked, and new files not yet
    committed), without build products."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for rel in filter(None, files):
        src = os.path.join(ROOT.encode(), rel)
        if not os.path.isfile(src):
            continue        # deleted in the work tree, not yet committed
        dst = os.path.join(dest.encode(), rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(src, "rb") as f, open(dst, "wb") as g:
            g.write(f.read())
    return dest


def test_clean_build_prints_no_warning(tmp_path):
    # The command the README gives, which test_readme leaves to this test.
    assert "make -f Makefile.apxs" in [c for _, c in shell_commands()]
    work = copy_checkout(str(tmp_path / "src"))
    assert not os.path.exists(os.path.join(work, ".libs"))
    r = subprocess.run(["make", "-f", "Makefile.apxs"], cwd=work,
                       capture_output=True, text=True, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert os.path.exists(os.path.join(work, ".libs", "mod_profiler.so"))
    warnings = [l for l in out.splitlines() if _WARNING.search(l)]
    assert not warnings, "the build warns:\n" + "\n".join(warnings)
