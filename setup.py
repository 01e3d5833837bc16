"""Builds pmp._core for `pip install --no-build-isolation .` (metadata: pyproject.toml).

The extension is pybind/_core/*.c compiled together with libpmp's sources
(runtime/*.c), as CMake's pmp_core target links the static pmp_runtime, and linked
against libzmq. Only libzmq's headers are needed (Debian: libzmq3-dev), not Slurm's.
Beside it goes the program pmp/_output_helper (pybind/output_helper/), which labels
the workers' output, as CMake's pmp_output_helper target builds it.
Intermediate files go to build/setuptools, beside CMake's build tree.
"""
import glob
import os
import shlex
import subprocess

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

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


# As CMake builds every C file: C11 with GNU extensions of libc, warnings on.
C_MACROS = [("_GNU_SOURCE", None)]
C_FLAGS = ["-std=c11", "-Wall", "-Wextra"]

zmq_cflags, zmq_libs = zmq_flags()
core = Extension(
    "pmp._core",
    sources=sources("pybind/_core/*.c") + sources("runtime/*.c"),
    depends=sources("pybind/_core/*.h") + sources("pybind/output_helper/*.h") + sources("runtime/*.h")
    + sources("runtime/include/*.h"),
    include_dirs=["runtime/include", "runtime", "pybind/_core", "pybind/output_helper"],
    define_macros=C_MACROS,
    extra_compile_args=C_FLAGS + ["-fvisibility=hidden"] + zmq_cflags,  # only PyInit__core exported
    extra_link_args=zmq_libs + ["-pthread"],
)


class build_ext_and_helper(build_ext):
    """The extension, then the output helper program into the same package directory."""

    def run(self):
        super().run()
        helper_sources = ["pybind/output_helper/output_helper.c"]
        objects = self.compiler.compile(helper_sources, output_dir=self.build_temp, macros=C_MACROS,
                                        extra_postargs=C_FLAGS)
        package_dir = os.path.join(self.build_lib, "pmp")
        if self.inplace:
            package_dir = self.get_finalized_command("build_py").get_package_dir("pmp")
        self.compiler.link_executable(objects, "_output_helper", output_dir=package_dir)


BUILD = os.path.join("build", "setuptools")
os.makedirs(BUILD, exist_ok=True)  # egg_info wants its directory to exist
setup(ext_modules=[core], cmdclass={"build_ext": build_ext_and_helper},
      options={"build": {"build_base": BUILD}, "egg_info": {"egg_base": BUILD}})
