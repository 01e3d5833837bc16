"""What a poll() of the workers' pidfds costs, by their count: the controller's turns
polled every worker's pidfd beside its sockets until they went into one epoll set
(runtime/controller.c, epfd). 128 sleeping children, pidfds of 4 and of all 128, each
polled 20,000 times with timeout 0 (nothing ready); microseconds a call, in turns.
usage: poll_pidfds.py [ROUNDS]"""
import os
import select
import statistics
import subprocess
import sys
import time

CALLS = 20_000


def per_call(fds):
    p = select.poll()
    for fd in fds:
        p.register(fd, select.POLLIN)
    t0 = time.perf_counter()
    for _ in range(CALLS):
        p.poll(0)
    return (time.perf_counter() - t0) / CALLS * 1e6


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    children = [subprocess.Popen(["sleep", "600"]) for _ in range(128)]
    try:
        fds = [os.pidfd_open(c.pid) for c in children]
        seen = {4: [], 128: []}
        for _ in range(rounds):
            for n in seen:
                seen[n].append(per_call(fds[:n]))
        m4, m128 = statistics.median(seen[4]), statistics.median(seen[128])
        print(f"poll() of 4 pidfds {m4:.2f} us, of 128 {m128:.2f} us: {m128 / m4:.1f}x")
    finally:
        for c in children:
            c.kill()
            c.wait()
