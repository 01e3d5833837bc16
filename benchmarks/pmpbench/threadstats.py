"""CPU time and context switches of processes' threads, from /proc: what the perf
scripts that ask "which thread does a task's time go to" read before and after a run."""
import glob
import os


def snapshot(pids):
    """{(pid, thread name, tid): (ns on CPU, voluntary, involuntary switches)}"""
    threads = {}
    for pid in pids:
        for task in glob.glob(f"/proc/{pid}/task/*"):
            try:
                ns = int(open(task + "/schedstat").read().split()[0])
                name = open(task + "/comm").read().strip()
                status = open(task + "/status").read()
            except OSError:
                continue
            switches = [int(status.split(f"\n{k}:")[1].split()[0])
                        for k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")]
            threads[(pid, name, task.rsplit("/", 1)[1])] = (ns, *switches)
    return threads


def children(pid):
    """The pids of pid's child processes."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            if open(stat).read().rsplit(") ", 1)[1].split()[1] == str(pid):
                found.append(int(stat.split("/")[2]))
        except OSError:
            pass
    return found


def python_processes_with(argument):
    """The pids of this machine's Python processes with argument (bytes) among their
    command line's arguments."""
    found = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            argv = open(path, "rb").read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]).startswith(b"python") and argument in argv:
            found.append(int(path.split("/")[2]))
    return found


def pmp_worker_processes():
    """The pids of this machine's serial pmp workers (Python running pmp.worker), wherever
    they were started from: a Slurm worker is its step's task, no child of the controller."""
    return python_processes_with(b"pmp.worker")
