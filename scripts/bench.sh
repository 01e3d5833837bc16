#!/usr/bin/env bash
# pmp's benchmarks (issue 7): builds if needed, starts the local Slurm cluster if it is
# down, then runs benchmarks/run.py twice: on this machine (pmp's local backend) and as a
# pmp controller step inside a two-node allocation (Slurm backend; the step overlaps, so
# the job's 4 CPUs go to the workers). Arguments go to both runs, e.g.
#
#   scripts/bench.sh --quick          # < 3 minutes a run
#   scripts/bench.sh --peers pmp,process --only peer,scale
#
# Both runs go into benchmarks/results/latest.json and latest.png (one entry per run).
# Environment: PMP_BUILD_DIR (build tree to build and measure, default build/), PMP_PLUGIN
# (the SPANK plugin of the cluster bench.sh starts when none runs, default that build's).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${PMP_BUILD_DIR:-$repo/build}
python=/usr/bin/python3 # Debian's: the one with numpy, mpi4py, dask (not pyenv's)
driver=("$python" "$repo/benchmarks/run.py" --pmp-path "$build/python")

echo "== packages"
# shellcheck source=deps.sh
source "$repo/scripts/deps.sh"
pmp_install_bench_deps # dask.distributed, a peer, and matplotlib, for the plot

echo "== build ($build)"
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j "$(nproc)" >/dev/null || { echo "pmp bench: the build failed" >&2; exit 1; }

echo "== local cluster"
# With the plugin of the build being measured: a tree whose build/ is elsewhere (or
# absent) would get a cluster without --pmp-* options.
"$repo/scripts/cluster.sh" status >/dev/null 2>&1 ||
  PMP_PLUGIN=${PMP_PLUGIN:-$build/spank/spank_pmp.so} "$repo/scripts/cluster.sh" start
eval "$("$repo/scripts/cluster.sh" env)"
srun_help=$(srun --help 2>&1 || true)
[[ $srun_help == *--pmp-workers* ]] || {
  echo "pmp bench: this cluster's srun has no --pmp-* options (it was started without pmp's plugin): run scripts/cluster.sh stop, then this again" >&2
  exit 1
}

echo "== run 1: local backend"
"${driver[@]}" --backend local "$@"

echo "== run 2: Slurm backend (salloc -N2 -n4, srun -N1 --pmp-workers=4)"
salloc -N2 -n4 --job-name=pmp-bench srun -N1 --pmp-workers=4 "${driver[@]}" --backend slurm "$@"
