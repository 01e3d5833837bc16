"""Every parameter of pmp.Executor (and of submit's resource_dict), observed from inside the
tasks and from the process table, with the local backend. Kept small: the machine has 2
CPUs, so at most two MPI workers of two ranks at once."""
import os

import pytest

import pmp
from _pmp_testing import CONCURRENCY_TIMEOUT, TIMEOUT, Gate, gated, is_mpiexec, is_pmp_worker, pmp_worker_children

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS")


# ---------------------------------------------------------------- task functions

def get_pid():
    return os.getpid()


def get_cwd():
    return os.getcwd()


def thread_env():
    return {name: os.environ.get(name) for name in THREAD_VARS}


def mpi_info():
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_size(), MPI.COMM_WORLD.Get_rank(), os.getpid()


def gated_pid(address):
    gated(address)
    return os.getpid()


def new_workers(before):
    """{pid: argv} of pmp worker processes (serial, or mpiexec running MPI workers) that
    this process started since `before` (a set of pids) and that still run."""
    return {pid: argv for pid, argv in pmp_worker_children().items() if pid not in before}


def flat_pids(results):
    """PIDs from results that are a pid (serial worker) or a list of pids (one per rank)."""
    out = []
    for r in results:
        out.extend(r if isinstance(r, list) else [r])
    return out


def assert_concurrent(exe, n, tasks_per_gate=1, timeout=CONCURRENCY_TIMEOUT):
    """n tasks submitted at once run at the same time (each rank of an MPI task reports to
    the gate: tasks_per_gate = ranks): returns their PIDs."""
    with Gate() as gate:
        futures = [exe.submit(gated_pid, gate.address) for _ in range(n)]
        try:
            gate.wait_started(n * tasks_per_gate, timeout=timeout)
        except OSError:  # socket.timeout
            pytest.fail(f"{n} tasks submitted together did not all run at once within {timeout} s: "
                        f"the executor has fewer workers, or leaves some idle")
        gate.release()
        pids = flat_pids(f.result(timeout=TIMEOUT) for f in futures)
    assert len(set(pids)) == n * tasks_per_gate
    return pids


# ---------------------------------------------------------------- max_workers, max_cores, cores_per_worker

def test_max_workers_with_block_allocation_starts_that_many_workers():
    before = set(pmp_worker_children())
    with pmp.Executor(max_workers=2, block_allocation=True, backend="local") as exe:
        assert exe.submit(get_pid).result(timeout=TIMEOUT) != os.getpid()
        workers = new_workers(before)
        assert len(workers) == 2 and all(is_pmp_worker(argv) for argv in workers.values()), workers


@pytest.mark.parametrize("how", ["max_workers=2", "PMP_WORKERS=3"])
def test_block_allocation_runs_tasks_on_all_workers_at_once(how, monkeypatch):
    """Tasks submitted right after the executor is created run in parallel: none of the
    workers is left idle while another holds several of the tasks."""
    if how == "PMP_WORKERS=3":
        monkeypatch.setenv("PMP_WORKERS", "3")
        exe, n = pmp.Executor(block_allocation=True, backend="local"), 3
    else:
        exe, n = pmp.Executor(max_workers=2, block_allocation=True, backend="local"), 2
    with exe:
        pids = assert_concurrent(exe, n)
        assert os.getpid() not in pids


def test_max_workers_per_task_runs_that_many_tasks_at_once():
    with pmp.Executor(max_workers=2, block_allocation=False, backend="local") as exe:
        assert_concurrent(exe, 2)


def test_max_cores_alone_gives_max_cores_over_cores_per_worker_mpi_workers():
    before = set(pmp_worker_children())
    with pmp.Executor(max_cores=4, cores_per_worker=2, block_allocation=True, backend="local") as exe:
        first = exe.submit(mpi_info).result(timeout=TIMEOUT)
        assert [(size, rank) for size, rank, _ in first] == [(2, 0), (2, 1)]
        workers = new_workers(before)
        assert len(workers) == 2 and all(is_mpiexec(argv) for argv in workers.values()), workers
        assert_concurrent(exe, 2, tasks_per_gate=2)  # 2 workers x 2 ranks: 4 distinct PIDs


def test_max_cores_alone_per_task():
    with pmp.Executor(max_cores=2, block_allocation=False, backend="local") as exe:
        assert_concurrent(exe, 2)


@pytest.mark.parametrize("block_allocation", [True, False])
def test_cores_per_worker_runs_each_task_on_that_many_ranks(block_allocation):
    with pmp.Executor(max_workers=1, cores_per_worker=2, block_allocation=block_allocation,
                      backend="local") as exe:
        result = exe.submit(mpi_info).result(timeout=TIMEOUT)
        assert [(size, rank) for size, rank, _ in result] == [(2, 0), (2, 1)]
        assert len({pid for _, _, pid in result}) == 2


def test_max_cores_less_than_cores_per_worker_is_a_value_error():
    with pytest.raises(ValueError):
        pmp.Executor(max_cores=1, cores_per_worker=2, backend="local")


# ---------------------------------------------------------------- threads, GPUs, oversubscription

@pytest.mark.parametrize("block_allocation", [True, False])
def test_threads_per_core_sets_thread_variables_in_workers(block_allocation):
    with pmp.Executor(max_workers=1, threads_per_core=2, block_allocation=block_allocation,
                      backend="local") as exe:
        env = exe.submit(thread_env).result(timeout=TIMEOUT)
    assert env["OMP_NUM_THREADS"] == "2"
    assert env["OPENBLAS_NUM_THREADS"] == "2"


def test_default_threads_per_core_is_one():
    with pmp.Executor(max_workers=1, backend="local") as exe:
        env = exe.submit(thread_env).result(timeout=TIMEOUT)
    assert env["OMP_NUM_THREADS"] == "1" and env["OPENBLAS_NUM_THREADS"] == "1"


def test_user_set_omp_num_threads_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    with pmp.Executor(max_workers=1, threads_per_core=2, block_allocation=True, backend="local") as exe:
        env = exe.submit(thread_env).result(timeout=TIMEOUT)
    assert env["OMP_NUM_THREADS"] == "3"
    assert env["OPENBLAS_NUM_THREADS"] == "2"


def test_gpus_per_worker_is_accepted():
    with pmp.Executor(max_workers=1, gpus_per_worker=1, block_allocation=True, backend="local") as exe:
        assert exe.submit(sum, [1, 2]).result(timeout=TIMEOUT) == 3


def test_oversubscribe_is_accepted():
    with pmp.Executor(max_workers=1, cores_per_worker=2, oversubscribe=True, block_allocation=True,
                      backend="local") as exe:
        assert [(s, r) for s, r, _ in exe.submit(mpi_info).result(timeout=TIMEOUT)] == [(2, 0), (2, 1)]


# ---------------------------------------------------------------- cwd, hostname, backend

@pytest.mark.parametrize("block_allocation", [True, False])
def test_cwd_is_the_working_directory_of_tasks(block_allocation, tmp_path):
    with pmp.Executor(max_workers=1, cwd=str(tmp_path), block_allocation=block_allocation,
                      backend="local") as exe:
        assert exe.submit(get_cwd).result(timeout=TIMEOUT) == str(tmp_path)


def test_cwd_of_mpi_workers(tmp_path):
    with pmp.Executor(max_workers=1, cores_per_worker=2, cwd=str(tmp_path), block_allocation=True,
                      backend="local") as exe:
        assert exe.submit(get_cwd).result(timeout=TIMEOUT) == [str(tmp_path)] * 2


def test_default_cwd_is_the_controllers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pmp.Executor(max_workers=1, backend="local") as exe:
        assert exe.submit(get_cwd).result(timeout=TIMEOUT) == str(tmp_path)


def test_non_existent_cwd_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        pmp.Executor(max_workers=1, cwd=str(tmp_path / "missing"), backend="local")


def test_hostname_localhost_is_accepted():
    with pmp.Executor(max_workers=1, hostname_localhost=True, backend="local") as exe:
        assert exe.submit(sum, [1, 2]).result(timeout=TIMEOUT) == 3


@pytest.mark.parametrize("backend", ["local", "mpi"])
def test_local_backend_names(backend):
    with pmp.Executor(max_workers=1, block_allocation=True, backend=backend) as exe:
        assert exe.submit(sum, [1, 2]).result(timeout=TIMEOUT) == 3


def test_flux_backend_is_a_value_error_naming_the_alternatives():
    with pytest.raises(ValueError) as info:
        pmp.Executor(max_workers=1, backend="flux")
    message = str(info.value)
    assert "not supported" in message
    assert "local" in message or "slurm" in message, f"the message should name what to use: {message}"


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match="no-such-backend"):
        pmp.Executor(max_workers=1, backend="no-such-backend")


# ---------------------------------------------------------------- block_allocation, init_function

def test_block_allocation_reuses_its_workers():
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as exe:
        pids = [exe.submit(get_pid).result(timeout=TIMEOUT) for _ in range(5)]
    assert len(set(pids)) == 1 and os.getpid() not in pids


def test_without_block_allocation_every_task_gets_a_fresh_process():
    with pmp.Executor(max_workers=1, block_allocation=False, backend="local") as exe:
        pids = [exe.submit(get_pid).result(timeout=TIMEOUT) for _ in range(4)]
    assert len(set(pids)) == 4 and os.getpid() not in pids


def test_init_function_without_block_allocation_is_a_value_error():
    with pytest.raises(ValueError):
        pmp.Executor(max_workers=1, init_function=dict, block_allocation=False, backend="local")


# ---------------------------------------------------------------- command line, dependencies, refresh rate

def test_command_line_argument_lst_goes_to_mpiexec():
    before = set(pmp_worker_children())
    with pmp.Executor(max_workers=1, cores_per_worker=2, command_line_argument_lst=["--bind-to", "none"],
                      block_allocation=True, backend="local") as exe:
        assert [(s, r) for s, r, _ in exe.submit(mpi_info).result(timeout=TIMEOUT)] == [(2, 0), (2, 1)]
        (argv,) = new_workers(before).values()
        assert is_mpiexec(argv)
        i = argv.index("--bind-to")
        assert argv[i + 1] == "none"


def test_command_line_argument_lst_per_task():
    with pmp.Executor(max_workers=1, cores_per_worker=2, command_line_argument_lst=["--bind-to", "none"],
                      block_allocation=False, backend="local") as exe:
        assert [(s, r) for s, r, _ in exe.submit(mpi_info).result(timeout=TIMEOUT)] == [(2, 0), (2, 1)]


def test_disable_dependencies_refuses_future_arguments():
    with pmp.Executor(max_workers=1, disable_dependencies=True, block_allocation=True, backend="local") as exe:
        first = exe.submit(sum, [1, 1])
        assert first.result(timeout=TIMEOUT) == 2
        with pytest.raises(ValueError):
            exe.submit(sum, [first, 1])
        with pytest.raises(ValueError):
            exe.submit(sum, [1, 1], start=first)
        assert exe.submit(sum, [first.result(), 1]).result(timeout=TIMEOUT) == 3


def test_refresh_rate_is_accepted():
    with pmp.Executor(max_workers=1, refresh_rate=0.5, backend="local") as exe:
        assert exe.submit(sum, [1, 2]).result(timeout=TIMEOUT) == 3


# ---------------------------------------------------------------- resource_dict (block_allocation=False)

def test_resource_dict_cores():
    with pmp.Executor(max_cores=2, block_allocation=False, backend="local") as exe:
        serial = exe.submit(get_pid)
        mpi = exe.submit(mpi_info, resource_dict={"cores": 2})
        assert isinstance(serial.result(timeout=TIMEOUT), int)
        assert [(s, r) for s, r, _ in mpi.result(timeout=TIMEOUT)] == [(2, 0), (2, 1)]


def test_resource_dict_cwd(tmp_path):
    with pmp.Executor(max_cores=1, block_allocation=False, backend="local") as exe:
        assert exe.submit(get_cwd, resource_dict={"cwd": str(tmp_path)}).result(timeout=TIMEOUT) == str(tmp_path)
        assert exe.submit(get_cwd).result(timeout=TIMEOUT) == os.getcwd()


def test_resource_dict_threads_per_core():
    # 1 rank x 2 threads: 2 of the executor's cores
    with pmp.Executor(max_cores=2, block_allocation=False, backend="local") as exe:
        env = exe.submit(thread_env, resource_dict={"threads_per_core": 2}).result(timeout=TIMEOUT)
        assert env["OMP_NUM_THREADS"] == "2"
        assert exe.submit(thread_env).result(timeout=TIMEOUT)["OMP_NUM_THREADS"] == "1"


def test_resource_dict_unknown_key_is_a_value_error_naming_it():
    with pmp.Executor(max_cores=1, block_allocation=False, backend="local") as exe:
        with pytest.raises(ValueError, match="not_a_resource"):
            exe.submit(get_pid, resource_dict={"not_a_resource": 1})
        assert exe.submit(sum, [1, 2]).result(timeout=TIMEOUT) == 3


def test_resource_dict_more_cores_than_max_cores_is_a_value_error():
    with pmp.Executor(max_cores=2, block_allocation=False, backend="local") as exe:
        with pytest.raises(ValueError):
            exe.submit(get_pid, resource_dict={"cores": 3})


# ---------------------------------------------------------------- defaults from the plugin's variables

def test_pmp_workers_sets_the_number_of_workers(monkeypatch):
    monkeypatch.setenv("PMP_WORKERS", "3")
    before = set(pmp_worker_children())
    with pmp.Executor(block_allocation=True, backend="local") as exe:
        assert exe.submit(get_pid).result(timeout=TIMEOUT) != os.getpid()
        assert len(new_workers(before)) == 3


def test_pmp_workers_sets_tasks_at_once_per_task(monkeypatch):
    monkeypatch.setenv("PMP_WORKERS", "3")
    with pmp.Executor(block_allocation=False, backend="local") as exe:
        assert_concurrent(exe, 3)


def test_pmp_threads_per_core_sets_thread_variables(monkeypatch):
    monkeypatch.setenv("PMP_THREADS_PER_CORE", "2")
    with pmp.Executor(max_workers=1, backend="local") as exe:
        assert exe.submit(thread_env).result(timeout=TIMEOUT)["OMP_NUM_THREADS"] == "2"


def test_explicit_threads_per_core_wins_over_pmp_threads_per_core(monkeypatch):
    monkeypatch.setenv("PMP_THREADS_PER_CORE", "2")
    with pmp.Executor(max_workers=1, threads_per_core=1, backend="local") as exe:
        assert exe.submit(thread_env).result(timeout=TIMEOUT)["OMP_NUM_THREADS"] == "1"


def test_pmp_cores_per_worker_sets_mpi_ranks(monkeypatch):
    monkeypatch.setenv("PMP_CORES_PER_WORKER", "2")
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as exe:
        assert [(s, r) for s, r, _ in exe.submit(mpi_info).result(timeout=TIMEOUT)] == [(2, 0), (2, 1)]
