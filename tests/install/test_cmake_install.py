"""`cmake --install` into a DESTDIR: every part lands where its user looks for it, the
plugstack.conf.d snippet loads the installed plugin into a real srun, and C programs
build against libpmp through pkg-config and through find_package(pmp)."""
import os
import re
import shutil
import subprocess

import pytest

from _install_testing import ROOT, clean_env, run

CONSUMER = os.path.join(ROOT, "tests", "install", "consumer")


class Staged:
    """One DESTDIR install of the build: path(p) is where p of the real install is."""

    def __init__(self, destdir, cache):
        self.destdir = str(destdir)
        self.cache = cache
        prefix = cache["CMAKE_INSTALL_PREFIX"]
        self.libdir = os.path.join(prefix, cache.get("CMAKE_INSTALL_LIBDIR") or "lib")
        self.plugin = os.path.join(cache["PMP_SLURM_PLUGIN_DIR"], "spank_pmp.so")
        self.snippet = os.path.join(cache["PMP_SLURM_CONF_DIR"], "plugstack.conf.d", "pmp.conf")
        self.prefix = prefix

    def path(self, p):
        return self.destdir + p


@pytest.fixture(scope="module")
def staged(build_dir, cmake_cache, tmp_path_factory):
    destdir = tmp_path_factory.mktemp("destdir")
    run(["cmake", "--install", build_dir], env=clean_env(DESTDIR=destdir))
    return Staged(destdir, cmake_cache)


def test_installs_every_part(staged):
    inc = os.path.join(staged.prefix, staged.cache.get("CMAKE_INSTALL_INCLUDEDIR") or "include")
    man = os.path.join(staged.prefix, staged.cache.get("CMAKE_INSTALL_MANDIR") or "share/man", "man8")
    expected = [staged.plugin, staged.snippet, os.path.join(inc, "pmp.h"),
                os.path.join(staged.libdir, "libpmp.so"), os.path.join(staged.libdir, "pkgconfig", "pmp.pc"),
                os.path.join(staged.libdir, "cmake", "pmp", "pmpConfig.cmake"),
                os.path.join(staged.libdir, "cmake", "pmp", "pmpConfigVersion.cmake"),
                os.path.join(staged.libdir, "cmake", "pmp", "pmpTargets.cmake"),
                os.path.join(man, "spank-pmp.8"),
                os.path.join(staged.cache["PMP_PYTHON_INSTALL_DIR"], "pmp", "__init__.py")]
    missing = [p for p in expected if not os.path.exists(staged.path(p))]
    assert not missing, f"not installed: {missing}"
    helper = staged.path(os.path.join(staged.cache["PMP_PYTHON_INSTALL_DIR"], "pmp", "_output_helper"))
    assert os.access(helper, os.X_OK), f"the output helper is not installed as a program: {helper}"


def plugin_lines(text):
    return [line.split() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_snippet_names_the_installed_plugin(staged):
    with open(staged.path(staged.snippet)) as f:
        text = f.read()
    assert plugin_lines(text) == [["required", staged.plugin]]
    assert f"include {os.path.dirname(staged.snippet)}/*.conf" in text  # says what plugstack.conf needs


def test_srun_loads_the_plugin_through_the_snippet(staged, tmp_path):
    """A plugstack.conf with the include line, and the snippet pointing at the staged
    plugin: srun lists the options and the plugin checks their values."""
    if not shutil.which("srun"):
        pytest.fail("srun is missing: apt-get install slurm-client (scripts/deps.sh)", pytrace=False)
    confd = tmp_path / "plugstack.conf.d"
    confd.mkdir()
    with open(staged.path(staged.snippet)) as f:
        (confd / "pmp.conf").write_text(f.read().replace(" " + staged.plugin, " " + staged.path(staged.plugin)))
    (tmp_path / "plugstack.conf").write_text(f"include {confd}/*.conf\n")
    (tmp_path / "slurm.conf").write_text(f"ClusterName=pmptest\nSlurmctldHost=localhost\n"
                                         f"PlugStackConfig={tmp_path}/plugstack.conf\n"
                                         f"NodeName=n1 CPUs=1\nPartitionName=p Nodes=n1\n")
    env = clean_env(SLURM_CONF=tmp_path / "slurm.conf")
    help_text = run(["srun", "--help"], env=env, timeout=60).stdout
    for option in ("workers", "cores-per-worker", "threads-per-core", "gpus-per-worker", "oversubscribe",
                   "static", "endpoint", "worker-id"):
        assert f"--pmp-{option}" in help_text
    bad = subprocess.run(["srun", "--pmp-workers=many", "true"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0
    assert bad.stderr.startswith("pmp: --pmp-workers=many is not a whole number"), bad.stderr


def consumer_runs(binary, env):
    """The consumer runs itself as its worker through libpmp and prints the answer."""
    res = run([binary], env=env, timeout=60)
    assert res.stdout == "pong ping\n"


def test_pkg_config_builds_a_c_program(staged, tmp_path):
    pcdir = staged.path(os.path.join(staged.libdir, "pkgconfig"))
    env = clean_env(PKG_CONFIG_PATH=pcdir, PKG_CONFIG_SYSROOT_DIR=staged.destdir)
    assert run(["pkg-config", "--modversion", "pmp"], env=env).stdout.strip() == staged.cache["CMAKE_PROJECT_VERSION"]
    flags = run(["pkg-config", "--cflags", "--libs", "pmp"], env=env).stdout.split()
    assert f"-L{staged.path(staged.libdir)}" in flags and "-lpmp" in flags
    binary = tmp_path / "consumer"
    run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-o", binary,
         os.path.join(CONSUMER, "consumer.c"), *flags, "-pthread"])
    consumer_runs(binary, clean_env(LD_LIBRARY_PATH=staged.path(staged.libdir)))


def test_find_package_builds_a_c_program(staged, tmp_path):
    build = tmp_path / "build"
    run(["cmake", "-S", CONSUMER, "-B", build, f"-DCMAKE_PREFIX_PATH={staged.path(staged.prefix)}"])
    with open(build / "CMakeCache.txt") as f:
        found = re.search(r"^pmp_DIR:PATH=(.*)$", f.read(), re.M).group(1)
    assert found == staged.path(os.path.join(staged.libdir, "cmake", "pmp"))
    run(["cmake", "--build", build])
    consumer_runs(build / "consumer", clean_env())  # the build tree's RPATH finds libpmp
