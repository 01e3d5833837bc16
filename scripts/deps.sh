#!/usr/bin/env bash
# Installs (as root, from Debian's archive) every package pmp builds, runs and tests with.
# Sourced by setup.sh and test.sh; a no-op when everything is there already.
set -euo pipefail

PMP_PACKAGES=(
  # build
  gcc make cmake pkg-config libslurm-dev libzmq3-dev libcmocka-dev valgrind
  # fuzzing: libFuzzer comes with clang's runtime
  clang libclang-rt-14-dev
  # the local cluster: Slurm, munge, PMIx and Open MPI
  slurm-wlm munge libpmix-dev libopenmpi-dev openmpi-bin
  # Python side, all from Debian (there is no PyPI here)
  python3 python3-dev python3-pytest python3-cloudpickle python3-zmq python3-mpi4py python3-numpy
  # pip install --no-build-isolation . (offline, Debian's setuptools), and its test in a venv
  python3-setuptools python3-wheel python3-pip python3-venv
  # the man page check (groff -ww, man -l)
  groff-base man-db
  # progress bars (optional at run time), and the Jupyter walkthrough's test
  python3-tqdm python3-nbclient python3-nbformat python3-ipykernel
)

# What scripts/bench.sh adds: the peers pmp is measured against, and the plot.
PMP_BENCH_PACKAGES=(python3-distributed python3-matplotlib)

pmp_install_deps() {
  pmp_install_packages "${PMP_PACKAGES[@]}"
}

pmp_install_bench_deps() {
  pmp_install_packages "${PMP_PACKAGES[@]}" "${PMP_BENCH_PACKAGES[@]}"
}

pmp_install_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "pmp: missing packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
    return 1
  fi
  echo "pmp: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}
