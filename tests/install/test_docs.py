"""The reference documentation: the man page spank-pmp(8) renders without warnings, and
it, the README and the plugstack.conf.d snippet name every --pmp-* option and every
plugstack.conf setting the plugin's sources define."""
import os
import re
import shutil

import pytest

from _install_testing import ROOT, clean_env, run

MAN_PAGE = os.path.join(ROOT, "doc", "spank-pmp.8")


def read(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


def options():
    """The option names of spank/options.c's table, e.g. "pmp-workers"."""
    names = re.findall(r'\[PMP_OPT_\w+\]\s*=\s*\{\s*"(pmp-[a-z-]+)"', read("spank", "options.c"))
    assert len(names) >= 8, names
    return names


def settings():
    """What plugstack.conf accepts, from spank/config.c and options.c: the plain keys (e.g.
    "bind_cpus"), and the options a site may limit (default_<name>=N, max_<name>=N)."""
    keys = re.findall(r'!strcmp\(key, "(\w+)"\)', read("spank", "config.c"))
    limited = [name[len("pmp-"):].replace("-", "_") for name, site in
               re.findall(r'\{"(pmp-[a-z-]+)",[^}]*?PMP_ARG_\w+,\s*[^,]+,\s*[^,]+,\s*(true|false)',
                          read("spank", "options.c"), re.S) if site == "true"]
    assert keys and limited, (keys, limited)
    return keys, limited


def groff():
    path = shutil.which("groff")
    if not path:
        pytest.fail("groff is missing: apt-get install groff-base (scripts/deps.sh)", pytrace=False)
    return path


def test_man_page_renders_without_warnings():
    res = run([groff(), "-man", "-Tutf8", "-ww", "-z", MAN_PAGE])
    assert res.stderr == ""


def test_man_renders_the_page():
    if not shutil.which("man"):
        pytest.fail("man is missing: apt-get install man-db (scripts/deps.sh)", pytrace=False)
    text = run(["man", "--warnings", "-l", MAN_PAGE], env=clean_env(MANPAGER="cat", MANWIDTH="80")).stdout
    for section in ("NAME", "SYNOPSIS", "OPTIONS", "ENVIRONMENT", "CONFIGURATION", "DIAGNOSTICS", "FILES"):
        assert re.search(rf"^{section}$", text, re.M), section


@pytest.mark.parametrize("doc", [("doc", "spank-pmp.8"), ("README.md",)], ids=["man", "README"])
def test_docs_name_every_option(doc):
    text = read(*doc).replace("\\-", "-")
    missing = [o for o in options() if f"--{o}" not in text]
    assert not missing, f"{os.path.join(*doc)} does not document {missing}"


@pytest.mark.parametrize("doc", [("doc", "spank-pmp.8"), ("README.md",), ("spank", "pmp.conf.in")],
                         ids=["man", "README", "pmp.conf"])
def test_docs_name_every_plugstack_setting(doc):
    text = read(*doc).replace("\\-", "-")
    keys, limited = settings()
    missing = [k for k in keys + ["default_", "max_"] + limited if k not in text]
    assert not missing, f"{os.path.join(*doc)} does not document {missing}"


def test_man_page_says_plugstack_conf_must_include_the_snippet():
    text = read("doc", "spank-pmp.8").replace("\\-", "-")
    assert "include /etc/slurm/plugstack.conf.d/*.conf" in text
