"""The examples of pympipool's (now executorlib's) documentation, run on pmp.Executor with
the local backend. Functions are defined here, in the test module, or as lambdas: pmp
pickles them with cloudpickle."""
import concurrent.futures
import multiprocessing
import os

import pytest

import pmp
from conftest import HERE


def calc(*args):
    return sum(*args)


def calc_with_init(i, j, k):
    return i + j + k


def init_function():
    return {"j": 4, "k": 3, "l": 2}


def calc_mpi(i):
    from mpi4py import MPI

    size = MPI.COMM_WORLD.Get_size()
    rank = MPI.COMM_WORLD.Get_rank()
    return i, size, rank


def test_sum_on_one_core():
    with pmp.Executor(max_cores=1, backend="local") as exe:
        future = exe.submit(sum, [1, 1])
        assert future.result() == 2
        assert future.done()


@pytest.mark.parametrize("block_allocation", [False, True])
def test_four_calc_on_two_workers(block_allocation):
    with pmp.Executor(max_cores=2, block_allocation=block_allocation, backend="local") as exe:
        fs_1 = exe.submit(calc, [2, 1])
        fs_2 = exe.submit(calc, [2, 2])
        fs_3 = exe.submit(calc, [2, 3])
        fs_4 = exe.submit(calc, [2, 4])
        assert [fs_1.result(), fs_2.result(), fs_3.result(), fs_4.result()] == [3, 4, 5, 6]


@pytest.mark.parametrize("block_allocation", [False, True])
def test_map(block_allocation):
    with pmp.Executor(max_cores=2, block_allocation=block_allocation, backend="local") as exe:
        assert list(exe.map(calc, [[2, 1], [2, 2], [2, 3], [2, 4]])) == [3, 4, 5, 6]


def test_init_function_fills_missing_parameters():
    with pmp.Executor(max_cores=1, init_function=init_function, block_allocation=True, backend="local") as exe:
        fs = exe.submit(calc_with_init, 2, j=5)  # j given: 5 wins over the init's 4; k from the init
        assert fs.result() == 10


def test_init_function_values_used_for_every_task():
    with pmp.Executor(max_cores=1, init_function=init_function, block_allocation=True, backend="local") as exe:
        assert exe.submit(calc_with_init, 1).result() == 1 + 4 + 3
        assert exe.submit(calc_with_init, 1, k=10).result() == 1 + 4 + 10
        assert exe.submit(calc_with_init, 1, 2, 3).result() == 6


@pytest.mark.parametrize("block_allocation", [True, False])
def test_mpi4py_function_on_two_ranks(block_allocation):
    with pmp.Executor(max_cores=2, cores_per_worker=2, block_allocation=block_allocation,
                      backend="local") as exe:
        fs = exe.submit(calc_mpi, 3)
        assert fs.result() == [(3, 2, 0), (3, 2, 1)]


def test_future_as_argument():
    with pmp.Executor(max_cores=2, backend="local") as exe:
        future_1 = exe.submit(sum, [1, 1])
        future_2 = exe.submit(sum, [future_1, 1])
        assert future_2.result() == 3
        assert future_1.result() == 2


def test_lambdas_and_closures():
    offset = 5
    with pmp.Executor(max_cores=1, block_allocation=True, backend="local") as exe:
        assert exe.submit(lambda x: x * 2, 21).result() == 42
        assert exe.submit(lambda x: x + offset, 1).result() == 6
        assert list(exe.map(lambda x, y: x - y, [10, 20], [1, 2])) == [9, 18]


def test_function_from_test_module_without_its_directory_on_pythonpath(monkeypatch, tmp_path):
    """A function of a module the controller imported from its sys.path only (here: the
    test directory, put there by pytest) works, as with ProcessPoolExecutor (spawn hands
    sys.path to its children): pmp's workers must import the module to unpickle a
    function pickled by reference -- even with the directory neither on PYTHONPATH nor
    the working directory."""
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != HERE]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    monkeypatch.chdir(tmp_path)  # workers start here: the test directory is not their cwd either
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as reference:
        assert reference.submit(calc, [2, 1]).result() == 3
    with pmp.Executor(max_cores=1, backend="local") as exe:
        assert exe.submit(calc, [2, 1]).result() == 3
