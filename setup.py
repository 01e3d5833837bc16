"""Builds pmp._core for `pip install --no-build-isolation .` (metadata: pyproject.toml).

The extension is pybind/_core/*.c compiled together with libpmp's sources
(runtime/*.c), as CMake's pmp_core target links the static pmp_runtime, and linked
against libzmq. Only libzmq's headers are needed (Debian: libzmq3-dev), not Slurm's.
Intermediate files go to build/setuptools, beside CMake's build tree.
"""
import glob
import os
import shlex
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def sources(pattern):
    # Relative to this directory: setuptools refuses absolute source paths.
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, pattern)))


def zmq_flags():
    """libzmq's compile and link flags from pkg-config, else the usual names."""
    try:
        cflags = subprocess.run(["pkg-config", "--cflags", "libzmq"], check=True, capture_output=True,
                                text=True).stdout
        libs = subprocess.run(["pkg-config", "--libs", "libzmq"], check=True, capture_output=True,
                              text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return [], ["-lzmq"]
    return shlex.split(cflags), shlex.split(libs)


zmq_cflags, zmq_libs = zmq_flags()
core = Extension(
    "pmp._core",
    sources=sources("pybind/_core/*.c") + sources("runtime/*.c"),
    depends=sources("pybind/_core/*.h") + sources("runtime/*.h") + sources("runtime/include/*.h"),
    include_dirs=["runtime/include", "runtime", "pybind/_core"],
    define_macros=[("_GNU_SOURCE", None)],
    # As CMake builds it: C11, warnings on, only PyInit__core exported.
    extra_compile_args=["-std=c11", "-fvisibility=hidden", "-Wall", "-Wextra"] + zmq_cflags,
    extra_link_args=zmq_libs + ["-pthread"],
)

BUILD = os.path.join("build", "setuptools")
os.makedirs(BUILD, exist_ok=True)  # egg_info wants its directory to exist
setup(ext_modules=[core], options={"build": {"build_base": BUILD}, "egg_info": {"egg_base": BUILD}})
