"""Prints one line about what this task of a Slurm step got from the pmp plugin:
its node, its CPUs, its threads and its GPUs. Run it with srun and --pmp-* options."""
import os

env = os.environ
cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
print(f"{env.get('SLURMD_NODENAME', '?')} task {env.get('SLURM_PROCID', '?')}: "
      f"cpus={cpus} OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', '-')} "
      f"CUDA_VISIBLE_DEVICES={env.get('CUDA_VISIBLE_DEVICES', '-')} "
      f"role={env.get('PMP_ROLE', '-')}", flush=True)
