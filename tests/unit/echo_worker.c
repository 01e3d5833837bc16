/* A minimal pmp worker for test_runtime_controller. Each task's frames come back
 * reversed (the first one prefixed with the init frames, once an INIT arrived), unless
 * the first frame is a command:
 *   "crash"      abort() mid-task
 *   "slowcrash"  abort() after 300 ms
 *   "exit"       _exit(3) mid-task
 *   "sleep"      answer after 1 s
 *   "error"      answer "boom" with status PMP_ERROR
 *   "whoami"     answer "PID PPID HOW", HOW "forked" or "started"
 * Optional arguments: the worker id and the endpoint it expects in its environment (to
 * check "{worker_id}" and "{endpoint}" substitution); it exits with 9 when they differ.
 * With PMP_FORK_FD it is a fork server (pmp_serve_forks), whose forked workers skip the
 * argument check (their arguments are the server's); ECHO_FORK_FAIL makes it exit at once,
 * ECHO_FORK_GATE=PATH (a FIFO) makes it wait for a writer of PATH before it serves, and
 * ECHO_FORK_DENY=clone3 (or clone3,clone) makes those system calls fail with ENOSYS in it
 * (seccomp), as some containers' profiles do, and ECHO_FORK_DIE=PATH makes it exit right
 * after its first fork, before its answer, the worker it forked writing its pid to PATH. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pmp.h"

static int is(pmp_frame f, const char *word)
{
	return f.size == strlen(word) && memcmp(f.data, word, f.size) == 0;
}

/* The init frames, concatenated; "" until an INIT arrives. */
static char *init_prefix;
static size_t init_len;

static int keep_init(pmp_msg *m)
{
	size_t len = 0;
	for (size_t i = 0; i < pmp_msg_count(m); i++)
		len += pmp_msg_frame(m, i).size;
	char *p = malloc(len + 1);
	if (!p)
		return -1;
	len = 0;
	for (size_t i = 0; i < pmp_msg_count(m); i++) {
		pmp_frame f = pmp_msg_frame(m, i);
		if (f.size)
			memcpy(p + len, f.data, f.size);
		len += f.size;
	}
	free(init_prefix);
	init_prefix = p;
	init_len = len;
	return 0;
}

static bool forked;

static int answer(pmp_worker *w, pmp_request *req, char *err, size_t errlen)
{
	size_t n = pmp_msg_count(req->msg);
	pmp_frame first = pmp_msg_frame(req->msg, 0);

	if (n && is(first, "crash"))
		abort();
	if (n && is(first, "slowcrash")) {
		usleep(300 * 1000);
		abort();
	}
	if (n && is(first, "exit"))
		_exit(3);
	if (n && is(first, "error")) {
		pmp_frame boom = {"boom", 4};
		return pmp_worker_send(w, req->task, PMP_ERROR, &boom, 1, err, errlen);
	}
	if (n && is(first, "sleep"))
		sleep(1);
	if (n && is(first, "whoami")) {
		char me[64];
		snprintf(me, sizeof(me), "%d %d %s", (int)getpid(), (int)getppid(), forked ? "forked" : "started");
		pmp_frame f = {me, strlen(me)};
		return pmp_worker_send(w, req->task, PMP_OK, &f, 1, err, errlen);
	}

	pmp_frame *out = calloc(n ? n : 1, sizeof(*out));
	char **bufs = calloc(n ? n : 1, sizeof(*bufs));
	int rc = -1;
	if (!out || !bufs)
		goto done;
	for (size_t i = 0; i < n; i++) {
		pmp_frame f = pmp_msg_frame(req->msg, i);
		size_t pre = i == 0 ? init_len : 0;
		if (!(bufs[i] = malloc(pre + f.size + 1)))
			goto done;
		if (pre)
			memcpy(bufs[i], init_prefix, pre);
		for (size_t k = 0; k < f.size; k++)
			bufs[i][pre + k] = ((const char *)f.data)[f.size - 1 - k];
		out[i] = (pmp_frame){bufs[i], pre + f.size};
	}
	rc = pmp_worker_send(w, req->task, PMP_OK, out, n, err, errlen);
done:
	for (size_t i = 0; bufs && i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(out);
	if (rc < 0 && !err[0])
		snprintf(err, errlen, "out of memory");
	return rc;
}

/* ECHO_FORK_DIE's hook: the server exits; its worker writes its pid to the file path. */
static void die_after_fork(void *path, int child)
{
	if (!child)
		_exit(1);
	FILE *f = fopen(path, "w");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0)
		_exit(1);
}

/* clone3, and clone too when also_clone, fail with ENOSYS from now on (seccomp). */
static int deny_clone(bool also_clone)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, also_clone ? __NR_clone : __NR_clone3, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(filter) / sizeof(filter[0]), filter};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

int main(int argc, char **argv)
{
	char err[PMP_ERR_MAX] = "";
	const char *id = getenv("PMP_WORKER_ID"), *endpoint = getenv("PMP_ENDPOINT");
	struct rlimit no_core = {0, 0};

	setrlimit(RLIMIT_CORE, &no_core); /* "crash" is on purpose: no core files */

	if (getenv("PMP_FORK_FD")) {
		int32_t wid;
		char wbuf[16];
		if (getenv("ECHO_FORK_FAIL"))
			return 1;
		const char *deny = getenv("ECHO_FORK_DENY");
		if (deny && deny_clone(strcmp(deny, "clone3,clone") == 0) < 0) {
			perror("echo_worker: seccomp");
			return 1;
		}
		if (getenv("ECHO_FORK_GATE")) {
			char byte;
			int gate = open(getenv("ECHO_FORK_GATE"), O_RDONLY | O_CLOEXEC);
			if (gate < 0 || read(gate, &byte, 1) != 1)
				return 1;
			close(gate);
		}
		struct pmp_fork_hooks die = {NULL, die_after_fork, NULL, getenv("ECHO_FORK_DIE")};
		int rc = pmp_serve_forks(atoi(getenv("PMP_FORK_FD")), die.ctx ? &die : NULL, &wid, err, sizeof(err));
		if (rc <= 0) {
			if (rc < 0)
				fprintf(stderr, "echo_worker: %s\n", err);
			return rc < 0;
		}
		snprintf(wbuf, sizeof(wbuf), "%d", (int)wid);
		setenv("PMP_WORKER_ID", wbuf, 1);
		unsetenv("PMP_FORK_FD");
		forked = true;
	}
	if (!forked && ((argc > 1 && (!id || strcmp(argv[1], id) != 0)) ||
	    (argc > 2 && (!endpoint || strcmp(argv[2], endpoint) != 0)))) {
		fprintf(stderr, "echo_worker: arguments do not match PMP_WORKER_ID/PMP_ENDPOINT\n");
		return 9;
	}
	pmp_worker *w = pmp_worker_connect(NULL, -1, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "echo_worker: %s\n", err);
		return 1;
	}
	int status = 0;
	for (;;) {
		pmp_request req;
		if (pmp_worker_recv(w, &req, err, sizeof(err)) < 0) {
			fprintf(stderr, "echo_worker: %s\n", err);
			status = 1;
			break;
		}
		if (req.kind == PMP_REQUEST_SHUTDOWN)
			break;
		if (req.kind == PMP_REQUEST_INIT) {
			int rc = keep_init(req.msg);
			pmp_msg_free(req.msg);
			if (rc < 0) {
				status = 1;
				break;
			}
			continue;
		}
		int rc = answer(w, &req, err, sizeof(err));
		pmp_msg_free(req.msg);
		if (rc < 0) {
			fprintf(stderr, "echo_worker: %s\n", err);
			status = 1;
			break;
		}
		if (req.last)
			break;
	}
	pmp_worker_close(w);
	free(init_prefix);
	return status;
}
