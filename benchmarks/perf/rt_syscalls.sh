#!/usr/bin/env bash
# System calls per round trip of workload (2), all processes and threads together: pmp
# (one local worker) and the pyzmq+pickle ping-pong, each as the difference of a 0- and
# an N-round-trip run (perf stat of the raw_syscalls:sys_enter tracepoint, children
# included). Not strace: tracing slows a round trip past ZeroMQ's command throttle (about
# 1 ms), which then polls its mailbox on every send.
#   benchmarks/perf/rt_syscalls.sh [N]       PMP_PYTHON_DIR: the pmp package (build/python)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
py=${PMP_PYTHON_DIR:-$repo/build/python}
n=${1:-5000}
count() { # which rounds -> system calls of the whole run
  PYTHONPATH=$py perf stat -x, -e raw_syscalls:sys_enter /usr/bin/python3 "$here/rt_syscalls.py" "$1" "$2" \
    2>&1 >/dev/null | awk -F, '/raw_syscalls:sys_enter/ {print $1}'
}
for which in floor pmp; do
  a=$(count "$which" 0); b=$(count "$which" "$n")
  awk -v w="$which" -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf "%s: %.1f system calls per round trip\n", w, (b - a) / n }'
done
