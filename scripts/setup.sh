#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to a working pmp: installs the
# packages, builds, installs (the Slurm plugin, libpmp and the Python package for
# /usr/bin/python3), starts the local two-node Slurm cluster and runs a demo job.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$repo/scripts/deps.sh"

pmp_install_deps
cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$repo/build" -j "$(nproc)"
cmake --install "$repo/build" >/dev/null
/usr/bin/python3 -c "import pmp" # installed for Debian's interpreter
"$repo/scripts/cluster.sh" start
eval "$("$repo/scripts/cluster.sh" env)"

echo
echo "== demo: salloc -N2 -n4 srun --pmp-workers=4 python3 examples/demo.py"
cd "$repo"
salloc -N2 -n4 srun --pmp-workers=4 /usr/bin/python3 examples/demo.py
echo
echo "pmp: ready. Use the cluster with: eval \"\$($repo/scripts/cluster.sh env)\""
