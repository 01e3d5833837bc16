#!/usr/bin/env bash
# No-op throughput (workload (1)) of two pmp builds and ProcessPoolExecutor, each in a
# process of its own, round-robin, medians: for before/after ratios on a busy machine.
#   benchmarks/perf/compare.sh BASE_PYTHON_DIR NEW_PYTHON_DIR [NTASKS] [WORKERS] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
base=$1; new=$2; n=${3:-20000}; w=${4:-2}; r=${5:-5}
for _ in $(seq "$r"); do
  echo "base $(PYTHONPATH=$base /usr/bin/python3 "$here/throughput.py" "$n" "$w" pmp)"
  echo "new $(PYTHONPATH=$new /usr/bin/python3 "$here/throughput.py" "$n" "$w" pmp)"
  echo "process $(PYTHONPATH=$new /usr/bin/python3 "$here/throughput.py" "$n" "$w" process)"
done | /usr/bin/python3 -c '
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in sys.stdin:
    name, rate = line.split()
    runs[name].append(float(rate))
m = {k: statistics.median(v) for k, v in runs.items()}
print({k: round(v) for k, v in m.items()}, "new/process %.2f base/process %.2f new/base %.2f"
      % (m["new"] / m["process"], m["base"] / m["process"], m["new"] / m["base"]))'
