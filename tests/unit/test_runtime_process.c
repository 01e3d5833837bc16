/* Worker specs, argv substitution, starting real processes, and describing their exit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "process.h"
#include "assert_text.h"

extern char **environ;

#define WAIT_MS 20000

/* ---------- specs ---------- */

static void test_spec_new_rejects(void **st)
{
	(void)st;
	const char *empty[] = {NULL};
	const char *blank[] = {"", "x", NULL};
	const char *ok[] = {"/bin/true", NULL};
	char err[PMP_ERR_MAX];

	strcpy(err, "untouched");
	assert_null(pmp_spec_new(NULL, NULL, NULL, 1, err, sizeof(err)));
	assert_prefix(err, "pmp: ");
	strcpy(err, "untouched");
	assert_null(pmp_spec_new(empty, NULL, NULL, 1, err, sizeof(err)));
	assert_prefix(err, "pmp: ");
	strcpy(err, "untouched");
	assert_null(pmp_spec_new(blank, NULL, NULL, 1, err, sizeof(err)));
	assert_prefix(err, "pmp: ");
	strcpy(err, "untouched");
	assert_null(pmp_spec_new(ok, NULL, NULL, -1, err, sizeof(err)));
	assert_prefix(err, "pmp: ");
	assert_null(pmp_spec_new(ok, NULL, NULL, INT_MIN, err, sizeof(err)));
	/* err may be NULL, or too short for the message (it is cut, still terminated). */
	assert_null(pmp_spec_new(NULL, NULL, NULL, 1, NULL, 0));
	char small[6] = "xxxxx";
	assert_null(pmp_spec_new(NULL, NULL, NULL, 1, small, sizeof(small)));
	assert_string_equal(small, "pmp: ");
}

static void test_spec_new_copies(void **st)
{
	(void)st;
	char prog[] = "/bin/echo", arg[] = "{worker_id}", var[] = "A=1", dir[] = "/tmp";
	const char *argv[] = {prog, arg, NULL};
	const char *envp[] = {var, NULL};
	char err[PMP_ERR_MAX] = "";
	pmp_spec *s = pmp_spec_new(argv, envp, dir, 0, err, sizeof(err)); /* 0 cores is fine */
	assert_non_null(s);
	prog[1] = arg[1] = var[0] = dir[1] = '#'; /* the caller's strings are not kept */
	assert_string_equal(s->argv[0], "/bin/echo");
	assert_string_equal(s->argv[1], "{worker_id}");
	assert_null(s->argv[2]);
	assert_string_equal(s->envp[0], "A=1");
	assert_null(s->envp[1]);
	assert_string_equal(s->cwd, "/tmp");
	assert_int_equal(s->cores, 0);
	assert_int_equal(s->refs, 1);
	assert_ptr_equal(pmp_spec_ref(s), s);
	assert_int_equal(s->refs, 2);
	pmp_spec_unref(s);
	assert_int_equal(s->refs, 1);
	pmp_spec_unref(s);

	/* No environment, no cwd. */
	s = pmp_spec_new(argv, NULL, NULL, 3, err, sizeof(err));
	assert_non_null(s);
	assert_non_null(s->envp);
	assert_null(s->envp[0]);
	assert_null(s->cwd);
	assert_int_equal(s->cores, 3);
	pmp_spec_unref(s);
	pmp_spec_unref(NULL);
	assert_null(pmp_spec_ref(NULL));
}

/* ---------- substitution ---------- */

static void expect_sub(const char *tmpl, const char *endpoint, int32_t id, const char *expect)
{
	char *s = pmp_substitute(tmpl, endpoint, id);
	assert_non_null(s);
	assert_string_equal(s, expect);
	free(s);
}

static void test_substitute(void **st)
{
	(void)st;
	const char *ep = "tcp://10.0.0.1:5555";
	expect_sub("{endpoint}", ep, 3, "tcp://10.0.0.1:5555");
	expect_sub("{worker_id}", ep, 3, "3");
	expect_sub("--pmp-endpoint={endpoint} --pmp-worker-id={worker_id}", ep, 12,
		   "--pmp-endpoint=tcp://10.0.0.1:5555 --pmp-worker-id=12");
	/* Several occurrences, and adjacent ones. */
	expect_sub("{worker_id}{worker_id}{endpoint}{endpoint}{worker_id}", "E", 7, "77EE7");
	expect_sub("a{worker_id}b{worker_id}c", ep, 0, "a0b0c");
	/* None. */
	expect_sub("python3", ep, 1, "python3");
	expect_sub("", ep, 1, "");
	/* Unknown and broken placeholders are left alone. */
	expect_sub("{x}", ep, 1, "{x}");
	expect_sub("{x}{worker_id}{}", ep, 5, "{x}5{}");
	expect_sub("{endpoint", ep, 1, "{endpoint");
	expect_sub("endpoint}", ep, 1, "endpoint}");
	expect_sub("{Endpoint}{worker-id}", ep, 1, "{Endpoint}{worker-id}");
	expect_sub("{{endpoint}}", "E", 1, "{E}");
	expect_sub("{{{{", "E", 1, "{{{{");
	/* A value that looks like a placeholder is not substituted again. */
	expect_sub("{endpoint}{worker_id}", "{worker_id}", 9, "{worker_id}9");
	/* Ids at the ends of their range, and an empty endpoint. */
	expect_sub("{worker_id}", ep, INT32_MAX, "2147483647");
	expect_sub("{worker_id}", ep, INT32_MIN, "-2147483648");
	expect_sub("<{endpoint}>", "", 1, "<>");
}

/* Long values many times over: the output buffer must be sized for them (ASan and
 * valgrind catch an overflow here). */
static void test_substitute_long(void **st)
{
	(void)st;
	char ep[301];
	memset(ep, 'e', 300);
	ep[300] = '\0';
	char tmpl[32 * 21 + 1] = "";
	for (int i = 0; i < 32; i++)
		strcat(tmpl, "{endpoint}{worker_id}");
	char *s = pmp_substitute(tmpl, ep, INT32_MIN);
	assert_non_null(s);
	assert_int_equal(strlen(s), 32 * (300 + 11));
	assert_memory_equal(s, ep, 300);
	assert_memory_equal(s + 300, "-2147483648", 11);
	assert_memory_equal(s + 311, ep, 300);
	free(s);
}

/* ---------- spawning ---------- */

/* The worker script: every check that fails exits with its own code, 42 means all passed.
 * $1 is "{endpoint}", $2 "{worker_id}" (substituted in argv), $3 the expected cwd. */
static const char script[] =
	/* First, with builtins only: dash blocks every signal while it waits for a child. */
	"while read -r key value; do\n"
	"  case $key in SigBlk:) blk=$value;; SigIgn:) ign=$value;; esac\n"
	"done < /proc/$$/status\n"
	"[ \"$blk\" = 0000000000000000 ] || exit 22\n"
	/* Signals 1-31 (bits 0-30): 32 and 33 are glibc's own, which its posix_spawn
	 * leaves ignored. */
	"case $ign in *[08]0000000) ;; *) exit 23;; esac\n"
	"[ \"$PMP_ENDPOINT\" = ipc:///tmp/pmp-test/controller ] || exit 10\n"
	"[ \"$PMP_WORKER_ID\" = 7 ] || exit 11\n"
	"[ \"$1\" = ipc:///tmp/pmp-test/controller ] || exit 12\n"
	"[ \"$2\" = 7 ] || exit 13\n"
	"[ \"$(pwd -P)\" = \"$3\" ] || exit 14\n"
	"[ \"$OTHER\" = kept ] || exit 15\n"
	"[ \"$PMP_ENDPOINTX\" = keep ] || exit 16\n"
	/* The secret travels in the environment, never on the command line (the script
	 * spells it in two pieces, so that its own text is no false alarm). */
	"secret=token:s3; secret=${secret}cret\n"
	"[ \"$PMP_SECRET\" = \"$secret\" ] || exit 24\n"
	"tr '\\0' ' ' < /proc/$$/cmdline | grep -qF \"$secret\" && exit 25\n"
	/* The environment as given to exec: each variable once, the stale ones gone. */
	"env0=$(tr '\\0' '\\n' < /proc/$$/environ)\n"
	"[ \"$(printf '%s\\n' \"$env0\" | grep -c '^PMP_ENDPOINT=')\" = 1 ] || exit 17\n"
	"[ \"$(printf '%s\\n' \"$env0\" | grep -c '^PMP_WORKER_ID=')\" = 1 ] || exit 18\n"
	"printf '%s\\n' \"$env0\" | grep -q stale && exit 19\n"
	"[ \"$(readlink /proc/$$/fd/0)\" = /dev/null ] || exit 20\n"
	/* Its own process group. */
	"set -- $(cat /proc/$$/stat)\n"
	"[ \"$5\" = $$ ] || exit 21\n"
	"exit 42\n";

/* Waits (bounded) for the pidfd to say the process ended, then reaps it. */
static int wait_exit(pid_t pid, int pidfd)
{
	struct pollfd p = {pidfd, POLLIN, 0};
	int n;
	while ((n = poll(&p, 1, WAIT_MS)) < 0 && errno == EINTR)
		;
	assert_int_equal(n, 1);
	assert_true(p.revents & POLLIN);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, WNOHANG), pid); /* ended: no waiting */
	close(pidfd);
	return status;
}

/* The worker's cwd: made before the test, removed after it even when it fails. */
static char cwd_dir[] = "/tmp/pmp-test-cwd-XXXXXX";

static int make_cwd_dir(void **st)
{
	(void)st;
	strcpy(cwd_dir, "/tmp/pmp-test-cwd-XXXXXX");
	return mkdtemp(cwd_dir) ? 0 : -1;
}

static int remove_cwd_dir(void **st)
{
	(void)st;
	return rmdir(cwd_dir);
}

static void test_spawn_environment(void **st)
{
	(void)st;
	char *dir = cwd_dir, real[PATH_MAX];
	assert_non_null(realpath(dir, real));
	const char *argv[] = {"/bin/sh", "-c", script, "sh", "{endpoint}", "{worker_id}", real, NULL};
	const char *envp[] = {"PATH=/usr/bin:/bin", "PMP_ENDPOINT=stale-endpoint", "OTHER=kept",
			      "PMP_WORKER_ID=stale-99", "PMP_ENDPOINTX=keep", "PMP_SECRET=stale-secret", NULL};
	char err[PMP_ERR_MAX] = "";
	pmp_spec *s = pmp_spec_new(argv, envp, dir, 1, err, sizeof(err));
	assert_non_null(s);

	/* What the worker must not inherit: a pipe as stdin, a blocked and an ignored signal. */
	int pipefd[2], saved_stdin = dup(STDIN_FILENO);
	assert_true(saved_stdin >= 0);
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(dup2(pipefd[0], STDIN_FILENO), STDIN_FILENO);
	sigset_t usr1, old_mask;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	assert_int_equal(sigprocmask(SIG_BLOCK, &usr1, &old_mask), 0);
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_usr2;
	assert_int_equal(sigaction(SIGUSR2, &ign, &old_usr2), 0);

	pid_t pid = -1;
	int pidfd = -1;
	int rc = pmp_spawn(s, "ipc:///tmp/pmp-test/controller", "token:s3cret", 7, &pid, &pidfd, err, sizeof(err));

	sigaction(SIGUSR2, &old_usr2, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	dup2(saved_stdin, STDIN_FILENO);
	close(saved_stdin);
	close(pipefd[0]);
	close(pipefd[1]);

	if (rc != 0)
		fail_msg("pmp_spawn: %s", err);
	assert_true(pid > 0);
	assert_true(pidfd >= 0);
	assert_true(fcntl(pidfd, F_GETFD) & FD_CLOEXEC); /* other workers must not inherit it */
	int status = wait_exit(pid, pidfd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 42);
	pmp_spec_unref(s);
}

static void test_spawn_exit_code_and_signal(void **st)
{
	(void)st;
	const char *argv[] = {"sh", "-c", "exit $PMP_WORKER_ID", NULL}; /* found in PATH */
	const char *envp[] = {"PATH=/usr/bin:/bin", NULL};
	char err[PMP_ERR_MAX] = "";
	pmp_spec *s = pmp_spec_new(argv, envp, NULL, 1, err, sizeof(err));
	assert_non_null(s);
	pid_t pid;
	int pidfd;
	assert_int_equal(pmp_spawn(s, "tcp://127.0.0.1:1", NULL, 5, &pid, &pidfd, err, sizeof(err)), 0);
	int status = wait_exit(pid, pidfd);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 5);
	pmp_spec_unref(s);

	const char *killer[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
	s = pmp_spec_new(killer, envp, NULL, 1, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(pmp_spawn(s, "tcp://127.0.0.1:1", NULL, 0, &pid, &pidfd, err, sizeof(err)), 0);
	status = wait_exit(pid, pidfd);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	char how[128];
	pmp_describe_exit(status, how, sizeof(how));
	assert_string_equal(how, "was killed by signal 9 (SIGKILL)");
	pmp_spec_unref(s);
}

/* pmp_spawn of spec fails with a message containing each of parts. Under valgrind,
 * posix_spawn cannot report a failed exec (valgrind runs its CLONE_VM child as a fork,
 * so the error never reaches the parent): there the child exits non-zero instead. */
static void expect_spawn_failure(const char *const *argv, const char *cwd, const char *const *parts)
{
	const char *envp[] = {"PATH=/usr/bin:/bin", NULL};
	char err[PMP_ERR_MAX] = "";
	pmp_spec *s = pmp_spec_new(argv, envp, cwd, 1, err, sizeof(err));
	assert_non_null(s);
	pid_t pid = -1;
	int pidfd = -1;
	int rc = pmp_spawn(s, "tcp://127.0.0.1:1", NULL, 4, &pid, &pidfd, err, sizeof(err));
	if (rc == 0 && RUNNING_ON_VALGRIND) {
		int status = wait_exit(pid, pidfd);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	} else {
		assert_int_equal(rc, -1);
		assert_prefix(err, "pmp: ");
		assert_contains(err, "worker 4");
		for (size_t i = 0; parts[i]; i++)
			assert_contains(err, parts[i]);
		assert_int_equal(pidfd, -1);
		/* err may be NULL. */
		assert_int_equal(pmp_spawn(s, "tcp://127.0.0.1:1", NULL, 4, &pid, &pidfd, NULL, 0), -1);
	}
	pmp_spec_unref(s);
}

static void test_spawn_missing_program(void **st)
{
	(void)st;
	const char *missing[] = {"/nonexistent/pmp-no-such-worker", "--flag", NULL};
	expect_spawn_failure(missing, NULL,
			     (const char *[]){"/nonexistent/pmp-no-such-worker", strerror(ENOENT), NULL});
	/* A name looked up in PATH. */
	const char *unknown[] = {"pmp-no-such-worker-in-path", NULL};
	expect_spawn_failure(unknown, NULL, (const char *[]){"pmp-no-such-worker-in-path", NULL});
	/* A program that exists, in a working directory that does not. */
	const char *sh[] = {"/bin/sh", "-c", "exit 0", NULL};
	expect_spawn_failure(sh, "/nonexistent/pmp-no-such-dir", (const char *[]){"working directory", NULL});
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* no child was left behind */
	assert_int_equal(errno, ECHILD);
}

/* ---------- exit descriptions ---------- */

static void expect_exit(int status, const char *text)
{
	char buf[128];
	memset(buf, 'x', sizeof(buf));
	pmp_describe_exit(status, buf, sizeof(buf));
	assert_string_equal(buf, text);
}

static void test_describe_exit(void **st)
{
	(void)st;
	expect_exit(W_EXITCODE(0, 0), "exited with status 0");
	expect_exit(W_EXITCODE(1, 0), "exited with status 1");
	expect_exit(W_EXITCODE(255, 0), "exited with status 255");
	expect_exit(W_EXITCODE(0, SIGKILL), "was killed by signal 9 (SIGKILL)");
	expect_exit(W_EXITCODE(0, SIGSEGV), "was killed by signal 11 (SIGSEGV)");
	expect_exit(W_EXITCODE(0, SIGABRT) | WCOREFLAG, "was killed by signal 6 (SIGABRT)");
	expect_exit(W_EXITCODE(0, SIGTERM), "was killed by signal 15 (SIGTERM)");
}

static void test_describe_exit_unusual(void **st)
{
	(void)st;
	char buf[128], expect[128];
	/* A real-time signal has no name. */
	pmp_describe_exit(W_EXITCODE(0, SIGRTMIN + 1), buf, sizeof(buf));
	snprintf(expect, sizeof(expect), "was killed by signal %d (SIG?)", SIGRTMIN + 1);
	assert_string_equal(buf, expect);
	/* Not an exit at all (a stopped process). */
	pmp_describe_exit(W_STOPCODE(SIGSTOP), buf, sizeof(buf));
	assert_string_equal(buf, "ended (wait status 0x137f)");
	/* A short buffer is cut and terminated. */
	char small[8];
	pmp_describe_exit(W_EXITCODE(0, SIGKILL), small, sizeof(small));
	assert_string_equal(small, "was kil");

	/* Statuses from real processes (spawned, not forked: a forked copy of this test
	 * would report its own leaks under valgrind). */
	const char *scripts[] = {"exit 3", "kill -TERM $$"};
	const char *texts[] = {"exited with status 3", "was killed by signal 15 (SIGTERM)"};
	for (int i = 0; i < 2; i++) {
		char *argv[] = {"/bin/sh", "-c", (char *)scripts[i], NULL};
		pid_t pid;
		int status;
		assert_int_equal(posix_spawn(&pid, argv[0], NULL, NULL, argv, environ), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		pmp_describe_exit(status, buf, sizeof(buf));
		assert_string_equal(buf, texts[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_new_rejects),
		cmocka_unit_test(test_spec_new_copies),
		cmocka_unit_test(test_substitute),
		cmocka_unit_test(test_substitute_long),
		cmocka_unit_test_setup_teardown(test_spawn_environment, make_cwd_dir, remove_cwd_dir),
		cmocka_unit_test(test_spawn_exit_code_and_signal),
		cmocka_unit_test(test_spawn_missing_program),
		cmocka_unit_test(test_describe_exit),
		cmocka_unit_test(test_describe_exit_unusual),
	};
	return cmocka_run_group_tests_name("runtime_process", tests, NULL, NULL);
}
