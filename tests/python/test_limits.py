"""max_message_size: larger tasks are refused at submit(), larger results fail their
future with a clear error, and the executor goes on."""
import pytest

import pmp


def big(n):
    return b"x" * n


def test_message_size_limit():
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local", max_message_size=100_000) as exe:
        with pytest.raises(ValueError, match=r"pmp: this task pickles to \d+ bytes, more than max_message_size=100000"):
            exe.submit(len, b"y" * 200_000)
        assert exe.submit(len, b"y" * 1000).result(timeout=60) == 1000
        with pytest.raises(ValueError, match=r"pmp: the task's result pickles to \d+ bytes, more than "
                                             r"max_message_size=100000"):
            exe.submit(big, 200_000).result(timeout=60)
        assert exe.submit(big, 10).result(timeout=60) == b"x" * 10


@pytest.mark.parametrize("value", [0, -1, 1.5, "10"])
def test_message_size_must_be_a_positive_int(value):
    with pytest.raises(ValueError, match="max_message_size must be a positive number of bytes"):
        pmp.Executor(max_workers=1, backend="local", max_message_size=value)
