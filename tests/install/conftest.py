"""pytest set-up for the packaging tests: cmake --install, pip install, the man page.

Run from the repository root after building (scripts/test.sh does both):

    cmake -S . -B build && cmake --build build -j2
    /usr/bin/python3 -m pytest -q tests/install

They install into temporary directories only (DESTDIR, pip --target, a venv), never into
the system. PMP_BUILD_DIR names another CMake build tree than <repo>/build.
"""
import os

import pytest

from _install_testing import ROOT


@pytest.fixture(scope="session")
def build_dir():
    """The CMake build tree to install from (built beforehand)."""
    build = os.environ.get("PMP_BUILD_DIR") or os.path.join(ROOT, "build")
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        pytest.fail(f"no CMake build in {build}: build first (cd {ROOT} && cmake -S . -B build && "
                    f"cmake --build build -j2), or set PMP_BUILD_DIR", pytrace=False)
    return build


@pytest.fixture(scope="session")
def cmake_cache(build_dir):
    """The build's CMakeCache.txt as a dict: name -> value."""
    cache = {}
    with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
        for line in f:
            name, sep, value = line.rstrip("\n").partition("=")
            if sep and not line.startswith(("#", "//")):
                cache[name.split(":")[0]] = value
    return cache
