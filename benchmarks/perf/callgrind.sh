#!/usr/bin/env bash
# Instructions per task (callgrind: stable on a busy machine), as the difference of a
# 0-task and an N-task run, so start-up and shutdown cancel out.
#   benchmarks/perf/callgrind.sh controller [N] [WORKERS] [noop|rt]   # all controller threads
#   benchmarks/perf/callgrind.sh worker [N]                           # one worker process
#   benchmarks/perf/callgrind.sh floor-controller|floor-worker [N]    # the ping-pong's two sides
# PMP_PYTHON_DIR: the pmp package to measure (default build/python). Profiles stay in
# /tmp/pmp-cg.*.out for callgrind_annotate --inclusive=yes.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
py=${PMP_PYTHON_DIR:-$repo/build/python}
what=${1:-controller}; n=${2:-20000}; workers=${3:-2}; kind=${4:-noop}
[[ $what == floor-* ]] && kind=rt
preload=/tmp/pmp-pidfd-preload.so
gcc -O2 -shared -fPIC -o "$preload" "$here/pidfd_preload.c" -ldl -lpthread
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'; }
for k in 0 "$n"; do
  out=/tmp/pmp-cg.$what.$k.out
  if [[ $what == floor-controller ]]; then
    valgrind --tool=callgrind --callgrind-out-file="$out" /usr/bin/python3 "$here/cg_floor.py" "$k" >/dev/null 2>&1
  elif [[ $what == floor-worker ]]; then
    /usr/bin/python3 "$here/cg_floor.py" "$k" "$out" >/dev/null 2>&1
  elif [[ $what == controller ]]; then
    PYTHONPATH=$py LD_PRELOAD=$preload valgrind --tool=callgrind --callgrind-out-file="$out" \
      /usr/bin/python3 "$here/cg_run.py" "$k" "$workers" "$kind" >/dev/null 2>&1
  else
    PYTHONPATH=$py LD_PRELOAD=$preload /usr/bin/python3 "$here/cg_run.py" "$k" 1 noop "$out" >/dev/null 2>&1
  fi
done
a=$(total /tmp/pmp-cg.$what.0.out); b=$(total /tmp/pmp-cg.$what.$n.out)
echo "$what: $(( (b - a) / n )) instructions per ${kind/noop/task}"
