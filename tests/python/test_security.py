"""Authenticated endpoints: only the executor's workers are admitted; a raw ZeroMQ peer
that sends a pickle which would run code gets nothing run, no reply, and the executor
goes on. With the token (default) and with CURVE."""
import os
import pickle

import pytest
import zmq

import pmp


class Evil:
    def __init__(self, mark):
        self.mark = mark

    def __reduce__(self):
        return (os.system, (f"touch {self.mark}",))


@pytest.mark.parametrize("security", ["token", "curve"])
@pytest.mark.parametrize("kind", [zmq.DEALER, zmq.REQ, zmq.PUSH, zmq.PAIR])
def test_a_peer_without_the_secret_is_ignored(tmp_path, monkeypatch, security, kind):
    monkeypatch.setenv("PMP_SECURITY", security)
    mark = tmp_path / "attack-ran"
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as exe:
        assert exe.submit(sum, [1, 1]).result(timeout=60) == 2
        ctx = zmq.Context()
        sock = ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        if kind == zmq.DEALER:
            sock.setsockopt(zmq.ROUTING_ID, b"w\x00\x00\x00\x00")  # poses as worker 0
        sock.connect(exe._core.endpoint)
        header = b"PMP1" + bytes([5, 0, 0, 0]) + (1).to_bytes(8, "little")  # a RESULT for task 1
        try:
            sock.send_multipart([header, pickle.dumps(Evil(mark))], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # not even queued: the handshake never completed
        assert sock.poll(500) == 0  # no reply
        sock.close()
        ctx.term()
        assert exe.submit(sum, [2, 2]).result(timeout=60) == 4  # the executor goes on
    assert not mark.exists()


def test_the_secret_is_not_on_the_command_line_and_not_left_to_tasks(monkeypatch):
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as exe:
        secret = exe._core.secret
        cmdline, env_secret = exe.submit(lambda: (open("/proc/self/cmdline", "rb").read(),
                                                  os.environ.get("PMP_SECRET"))).result(timeout=60)
    assert secret.startswith("token:") and secret.encode() not in cmdline
    assert env_secret is None  # the worker took it out of the environment after connecting


def test_the_output_helper_does_not_get_the_secret():
    """The worker's output helper starts before the worker connects: not with the secret."""
    def helper_environments():
        from _pmp_testing import child_processes
        return [open(f"/proc/{pid}/environ", "rb").read() for pid, argv in child_processes().items()
                if argv[0].endswith("/_output_helper")]

    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as exe:
        secret = exe._core.secret
        environments = exe.submit(helper_environments).result(timeout=60)
    assert len(environments) == 1 and b"PMP_WORKER_ID=" in environments[0]
    assert secret.encode() not in environments[0] and b"PMP_SECRET=" not in environments[0]
