"""Prints, as one JSON line, what a task of a step got: node, ids, CPUs, pmp variables."""
import json
import os

WATCHED = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
           "NUMEXPR_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES")

print(json.dumps({
    "node": os.environ.get("SLURMD_NODENAME"),
    "task": int(os.environ.get("SLURM_PROCID", "-1")),
    "local": int(os.environ.get("SLURM_LOCALID", "-1")),
    "cpus": sorted(os.sched_getaffinity(0)),
    "env": {k: v for k, v in os.environ.items() if k.startswith("PMP_") or k in WATCHED},
}), flush=True)
