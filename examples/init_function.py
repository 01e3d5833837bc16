"""init_function: data loaded once per worker fills the parameters a task leaves out."""
import pmp


def calc(i, j, k):
    return i + j + k


def init_function():
    return {"j": 4, "k": 3, "l": 2}


with pmp.Executor(max_cores=1, init_function=init_function, block_allocation=True) as exe:
    print(exe.submit(calc, 2, j=5).result())  # 2 + 5 + 3
