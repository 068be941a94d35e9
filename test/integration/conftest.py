import os
import subprocess

import pytest

from harness import MODULE_SO, MPMS, Httpd, ROOT


@pytest.fixture(scope="session", autouse=True)
def built_module():
    """The module under test, built warning-free from this checkout."""
    subprocess.run(["make", "-s", "-f", "Makefile.apxs", "WERROR=1"], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    assert os.path.exists(MODULE_SO)
    return MODULE_SO


@pytest.fixture(params=MPMS)
def mpm(request):
    return request.param
