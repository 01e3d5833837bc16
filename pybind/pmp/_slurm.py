"""The Slurm backend: one `srun` step per worker (block allocation) or per task, inside
the current allocation, with --pmp-* options so that the pmp SPANK plugin gives each
task its endpoint, identity and CPU/thread/GPU binding."""
import os
import re
import shutil

from . import _backends

# What a worker's srun keeps of the controller's SLURM_* variables: enough to find the
# job, nothing of the controller's own step (its task counts and CPU binding would
# shape, or block, the worker steps).
_KEEP = {"SLURM_JOB_ID", "SLURM_JOBID", "SLURM_CONF", "SLURM_CLUSTER_NAME", "SLURM_WORKING_CLUSTER",
         "SLURM_JOB_PARTITION", "SLURM_SUBMIT_DIR", "SLURM_SUBMIT_HOST"}


def _job_cpus(text):
    """SLURM_JOB_CPUS_PER_NODE ("2(x2),1") -> [2, 2, 1]."""
    cpus = []
    for part in text.split(","):
        m = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
        if not m:
            raise ValueError(f"pmp: cannot read SLURM_JOB_CPUS_PER_NODE={text!r}")
        cpus += [int(m.group(1))] * int(m.group(2) or 1)
    return cpus


def _job_gpus(show_job, nodes):
    """GPUs of a job from `scontrol show job`: its TRES (gres/gpu=N) where the site
    accounts GPUs, else what was asked per job, per node or per task."""
    def count(key):
        m = re.search(rf"\b{key}=\S*?gres[/:]gpu(?::[^=,:\s]+)?[=:](\d+)", show_job)
        return int(m.group(1)) if m else None

    tasks = re.search(r"\bNumTasks=(\d+)", show_job)
    for key, factor in (("TRES", 1), ("TresPerJob", 1), ("TresPerNode", nodes),
                        ("TresPerTask", int(tasks.group(1)) if tasks else 1)):
        n = count(key)
        if n is not None:
            return n * factor
    return 0


class SlurmBackend:
    name = "slurm"

    def __init__(self):
        env = os.environ
        self.job = env.get("SLURM_JOB_ID")
        if not self.job:
            raise ValueError("pmp: backend='slurm' needs a Slurm allocation: run the script inside salloc or "
                             "sbatch, or as `srun -n N --pmp-workers=N python script.py`; or use backend='local'")
        self.srun = shutil.which("srun")
        if self.srun is None:
            raise ValueError("pmp: backend='slurm' needs srun on PATH")
        self.node_cpus = _job_cpus(env.get("SLURM_JOB_CPUS_PER_NODE", env.get("SLURM_CPUS_ON_NODE", "1")))
        self.mpi = env.get("PMP_SLURM_MPI")  # None: pmix for MPI workers, none for serial ones
        self._nodes = None
        self._gpus = None

    # ---- what the allocation has ----

    def total_cores(self):
        return sum(self.node_cpus)

    def nodes(self):
        if self._nodes is None:
            nodelist = os.environ.get("SLURM_JOB_NODELIST", "")
            import subprocess  # 5 ms of imports, only when placing by hand
            out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True)
            self._nodes = out.stdout.split() if out.returncode == 0 and nodelist else []
        return self._nodes

    def total_gpus(self):
        """GPUs of the job; 0 when it has none."""
        if self._gpus is None:
            import subprocess  # only for GPUs
            out = subprocess.run(["scontrol", "show", "job", self.job], capture_output=True, text=True)
            self._gpus = _job_gpus(out.stdout if out.returncode == 0 else "", len(self.node_cpus))
        return self._gpus

    def check(self, res, workers, cores):
        """ValueError, naming what was asked and what exists, when the workers cannot all
        run in this allocation at once: never a silent wait for a step that cannot start."""
        per_worker = res.cores * res.threads_per_core
        have = self.total_cores()
        if per_worker > have:
            raise ValueError(f"pmp: a worker with {res.cores} cores x {res.threads_per_core} threads per core needs "
                             f"{per_worker} CPUs but job {self.job} has {have}: ask for fewer, or for a larger "
                             f"allocation")
        need = workers * per_worker
        if need > have and not res.oversubscribe:
            raise ValueError(f"pmp: {workers} workers x {res.cores} cores x {res.threads_per_core} threads per core "
                             f"need {need} CPUs but job {self.job} has {have}: ask for fewer workers, for a larger "
                             f"allocation, or pass oversubscribe=True")
        if res.gpus_per_core:
            gpus = workers * res.cores * res.gpus_per_core
            have_gpus = self.total_gpus()
            if gpus > have_gpus:
                raise ValueError(f"pmp: {workers} workers x {res.cores} cores x {res.gpus_per_core} GPUs per core "
                                 f"need {gpus} GPUs but job {self.job} has {have_gpus}: ask for fewer, or for an "
                                 f"allocation with GPUs (e.g. --gres=gpu:N)")

    # ---- starting workers ----

    def bind_address(self, hostname_localhost):
        return _backends.tcp_bind_address(hostname_localhost)

    def worker_groups(self, res, n):
        """[(node or None, count)]: oversubscribed workers are spread over the nodes by
        hand, since Slurm places every overlapping step on the same first CPUs."""
        nodes = self.nodes() if res.oversubscribe and res.cores == 1 else []
        if not nodes:
            return [(None, n)]
        return [(node, n // len(nodes) + (i < n % len(nodes))) for i, node in enumerate(nodes)
                if n // len(nodes) + (i < n % len(nodes))]

    def max_starting(self):
        """No limit: each worker step starts on CPUs of its own on its node."""
        return 0

    def spec_args(self, res, node=None):
        env = _backends.worker_environment(res, shares_cpus=res.oversubscribe)
        for name in list(env):
            if (name.startswith("SLURM_") and name not in _KEEP) or name.startswith(("SPANK_", "_SLURM_SPANK")):
                del env[name]
        argv = [self.srun, "--pmp-endpoint={endpoint}", "--pmp-worker-id={worker_id}",
                f"--ntasks={res.cores}", f"--cpus-per-task={res.threads_per_core}",
                f"--pmp-threads-per-core={res.threads_per_core}", "--kill-on-bad-exit=1",
                "--job-name=pmp-worker-{worker_id}"]
        if res.oversubscribe:  # share CPUs with the other steps
            argv += ["--overlap", "--pmp-oversubscribe", "--cpu-bind=none"]
            if node:
                argv.append(f"--nodelist={node}")
        else:
            argv.append("--exact")
        # PMIx for MPI workers. A serial worker needs none, and a PMIx server doubles the cost
        # of a step (srun true: 37 ms, with --mpi=pmix 72 ms on the local cluster); the
        # worker hides the step from Open MPI instead (pmp.worker), so that a task that
        # imports mpi4py still gets a one-rank MPI_COMM_WORLD.
        argv.append(f"--mpi={self.mpi or ('pmix' if res.cores > 1 else 'none')}")
        if res.gpus_per_core:
            argv += [f"--gpus-per-task={res.gpus_per_core}", f"--pmp-gpus-per-worker={res.gpus_per_core}"]
        if res.cwd:
            argv.append(f"--chdir={res.cwd}")
        argv += list(res.extra_args)
        argv += _backends.worker_command()
        # Never forked: a worker is a step of its own, with its CPUs, binding and accounting.
        return argv, [f"{k}={v}" for k, v in env.items()], res.cwd, res.cores, False
