"""What rt_syscalls.sh counts: N round trips of pmp (one local worker) or of the pyzmq+pickle
ping-pong, after start-up.  usage: rt_syscalls.py {pmp|floor} N"""
import os
import pickle
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import floors, tasks  # noqa: E402

which, n = sys.argv[1], int(sys.argv[2])
if which == "floor":
    import zmq
    context = zmq.Context()
    with floors.ping_pong_worker(context) as (router, identity):
        for _ in range(n):
            router.send_multipart([identity, pickle.dumps((tasks.noop, (), {}), protocol=5)])
            pickle.loads(router.recv_multipart()[1])
    context.term()
else:
    import pmp
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as ex:
        ex.wait_for_workers()
        for _ in range(n):
            ex.submit(tasks.noop).result()
