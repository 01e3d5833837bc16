"""pmp.Pool with the Slurm backend on the real two-node cluster: the script runs once
(srun --pmp-workers=N inside salloc) and its pool's workers are Slurm steps."""
import ast
import textwrap

ALLOC = ["-N2", "-n4"]
HEADER = textwrap.dedent("""\
    import os, time
    import pmp

    def where(i):
        time.sleep(0.3)  # so that every worker gets a task
        return os.environ.get("SLURMD_NODENAME")

    def rank_size(i):
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        return i, comm.Get_rank(), comm.Get_size(), os.environ.get("SLURMD_NODENAME")
    """)


def run(slurm, body, srun=("--pmp-workers=4",)):
    """Runs HEADER + body as the script of `srun SRUN python script.py` in `salloc -N2 -n4`;
    the last line it prints, as a Python literal."""
    proc, left = slurm.in_allocation(ALLOC, HEADER + textwrap.dedent(body), *srun)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert left == [], f"steps left after the script: {left}"
    lines = [line for line in proc.stdout.splitlines() if line and not line.startswith("STEPS:")]
    return ast.literal_eval(lines[-1])


def test_pool_map_runs_on_both_nodes(slurm):
    result = run(slurm, """\
        with pmp.Pool(4) as pool:
            assert pool.executor.backend == "slurm" and pool._processes == 4
            nodes = pool.map(where, range(12))
            unordered = sorted(pool.imap_unordered(where, range(4)))
            applied = pool.apply_async(where, (0,)).get(timeout=60)
        pool.join()
        print((len(nodes), sorted(set(nodes)), len(unordered), applied in ("node1", "node2")))
        """)
    count, nodes, unordered, applied = result
    assert count == 12 and unordered == 4 and applied
    assert nodes == ["node1", "node2"]


def test_spawn_pool_calls_run_on_two_ranks(slurm):
    result = run(slurm, """\
        with pmp.Pool(2, ranks_per_task=2) as pool:
            mapped = pool.map(rank_size, range(4))
        with pmp.MPISpawnPool(processes=2, ranks_per_task=2) as pool:
            applied = pool.apply(rank_size, (9,))
        print((mapped, applied))
        """)
    mapped, applied = result
    assert len(mapped) == 4
    for i, ranks in enumerate(mapped):
        assert isinstance(ranks, list) and len(ranks) == 2
        assert [r[:3] for r in ranks] == [(i, 0, 2), (i, 1, 2)]
    assert [r[:3] for r in applied] == [(9, 0, 2), (9, 1, 2)]


def test_pool_takes_its_defaults_from_the_srun_options(slurm):
    result = run(slurm, """\
        with pmp.Pool() as pool:
            print((pool._processes, pool.ranks_per_task, pool.map(rank_size, [5])))
        """, srun=("--pmp-workers=2", "--pmp-cores-per-worker=2"))
    processes, ranks, mapped = result
    assert (processes, ranks) == (2, 2)
    assert [r[:3] for r in mapped[0]] == [(5, 0, 2), (5, 1, 2)]
