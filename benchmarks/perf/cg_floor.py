"""What callgrind.sh runs for the floor: the pyzmq+pickle ping-pong (ipc, one worker), 200
round trips to warm up, then N more; with WORKER_CALLGRIND_OUT, the worker process runs
under callgrind instead of this one.  usage: cg_floor.py N [WORKER_CALLGRIND_OUT]"""
import os
import pickle
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import floors, tasks  # noqa: E402

import zmq  # noqa: E402

n = int(sys.argv[1])
if len(sys.argv) > 2:
    spawn = subprocess.Popen

    def under_callgrind(argv, *args, **kwargs):
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={sys.argv[2]}", *argv]
        return spawn(argv, *args, **kwargs)

    floors.subprocess.Popen = under_callgrind
context = zmq.Context()
with floors.ping_pong_worker(context) as (router, identity):
    router.setsockopt(zmq.RCVTIMEO, 600_000)  # a worker under valgrind is slow to start
    for _ in range(200 + n):
        router.send_multipart([identity, pickle.dumps((tasks.noop, (), {}), protocol=5)])
        pickle.loads(router.recv_multipart()[1])
context.term()
