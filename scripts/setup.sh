#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to a working pmp: installs the
# packages, builds, installs, starts the local two-node Slurm cluster and runs a demo job.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$repo/scripts/deps.sh"

pmp_install_deps
cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$repo/build" -j "$(nproc)"
cmake --install "$repo/build" >/dev/null
"$repo/scripts/cluster.sh" start
eval "$("$repo/scripts/cluster.sh" env)"

echo
echo "== demo: srun -N2 -n4 --gres=gpu:2 --pmp-threads-per-core=1 --pmp-gpus-per-worker=1"
srun -N2 -n4 --gres=gpu:2 --pmp-threads-per-core=1 --pmp-gpus-per-worker=1 \
  /usr/bin/python3 "$repo/examples/task_info.py" | sort
echo
echo "pmp: ready. Use the cluster with: eval \"\$($repo/scripts/cluster.sh env)\""
