/* pmp/_output_helper: the process that labels a pmp worker's output (pybind/pmp/_output.py
 * starts it with posix_spawn). It copies what the worker writes to its stdout and stderr
 * pipes to the real stdout and stderr, each line labelled "[NAME, task T] " with the task
 * running when it read the line ("[NAME] " outside tasks).
 *
 * A small program of its own rather than a fork of the Python worker: a forked copy shares
 * the worker's pages copy-on-write for as long as it lives, and the worker then pays a
 * page copy for every page it writes afterwards, 4-5 ms of CPU per worker start (per-task
 * mode starts a worker per task). A process rather than a thread: it copies while a task
 * holds the GIL in C code, and it still copies, and ends with, what a worker wrote just
 * before it crashed.
 *
 *   argv: _output_helper NAME
 *   fd 0  requests: a byte asks for everything read to go out (unterminated lines ended),
 *         then a byte back on fd 5; end of file: the worker is gone
 *   fd 1, fd 2  where the lines go
 *   fd 3, fd 4  the worker's stdout and stderr pipes (the helper ends when both end: when
 *         the worker and the subprocesses that inherited them are gone)
 *   fd 6  16 shared bytes: the running task (int64, -1 for none), and whether this helper
 *         holds output it has not written (int64, 0 or 1)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "slots.h"

enum { REQUEST_FD = 0, PIPE_FDS = 3, ANSWER_FD = 5, SLOTS_FD = 6 };

#define LONGEST_LINE (1 << 16) /* an unterminated line goes out once it is this long */
#define READ_SIZE (1 << 16)
#define OUT_SIZE (1 << 17)
#define LABEL_SIZE 160

struct stream {
	int read_fd, out_fd;
	bool gone;            /* out_fd failed: the reader is gone, nowhere to write */
	int64_t partial_task; /* the task an unterminated line was read under */
	size_t partial_len;
	size_t out_len;
	char partial[LONGEST_LINE];
	char out[OUT_SIZE];
};

static const char *name;
static int64_t *slots;
static struct stream streams[2];
static char chunk[READ_SIZE];

static void write_all(struct stream *s, const char *data, size_t len)
{
	while (len && !s->gone) {
		ssize_t n = write(s->out_fd, data, len);
		if (n >= 0) {
			data += n;
			len -= (size_t)n;
		} else if (errno == EAGAIN) {
			/* The destination is non-blocking (a terminal shared with others): wait for room. */
			struct pollfd room = {s->out_fd, POLLOUT, 0};
			if (poll(&room, 1, -1) < 0 && errno != EINTR)
				s->gone = true;
		} else if (errno != EINTR) {
			s->gone = true; /* EPIPE and the like: the controller or srun exited */
		}
	}
}

static void flush_out(struct stream *s)
{
	write_all(s, s->out, s->out_len);
	s->out_len = 0;
}

static void emit(struct stream *s, const char *data, size_t len)
{
	if (s->out_len + len > sizeof(s->out))
		flush_out(s);
	if (len > sizeof(s->out)) {
		write_all(s, data, len);
		return;
	}
	memcpy(s->out + s->out_len, data, len);
	s->out_len += len;
}

static size_t label(int64_t task, char *buf)
{
	int n = task < 0 ? snprintf(buf, LABEL_SIZE, "[%s] ", name)
			 : snprintf(buf, LABEL_SIZE, "[%s, task %" PRId64 "] ", name, task);
	return n < 0 ? 0 : (size_t)n < LABEL_SIZE ? (size_t)n : LABEL_SIZE - 1;
}

/* An unterminated line goes out, ended, under the label of the task it was read under. */
static void finish_line(struct stream *s)
{
	if (!s->partial_len)
		return;
	char buf[LABEL_SIZE];
	emit(s, buf, label(s->partial_task, buf));
	emit(s, s->partial, s->partial_len);
	emit(s, "\n", 1);
	s->partial_len = 0;
}

static void copy_lines(struct stream *s, int64_t task, const char *data, size_t len)
{
	char buf[LABEL_SIZE];
	size_t label_len = label(task, buf);

	if (s->partial_len && s->partial_task != task)
		finish_line(s);
	s->partial_task = task;
	while (len) {
		const char *newline = memchr(data, '\n', len);
		if (newline) {
			size_t line = (size_t)(newline - data) + 1;
			emit(s, buf, label_len);
			emit(s, s->partial, s->partial_len);
			emit(s, data, line);
			s->partial_len = 0;
			data += line;
			len -= line;
			continue;
		}
		size_t take = sizeof(s->partial) - s->partial_len;
		take = take < len ? take : len;
		memcpy(s->partial + s->partial_len, data, take);
		s->partial_len += take;
		data += take;
		len -= take;
		if (s->partial_len == sizeof(s->partial))
			finish_line(s);
	}
}

static bool any_partial(void)
{
	return streams[0].partial_len || streams[1].partial_len;
}

/* One read from a worker pipe, copied out: >0 bytes read, 0 at its end, -1 when it is empty
 * for now. */
static ssize_t read_stream(struct stream *s)
{
	/* Busy before reading: the worker sees its output in the pipe, or here. */
	__atomic_store_n(&slots[SLOT_BUSY], 1, __ATOMIC_SEQ_CST);
	int64_t task = __atomic_load_n(&slots[SLOT_TASK], __ATOMIC_SEQ_CST);
	ssize_t n;
	do
		n = read(s->read_fd, chunk, sizeof(chunk));
	while (n < 0 && errno == EINTR);
	if (n > 0)
		copy_lines(s, task, chunk, (size_t)n);
	flush_out(s);
	__atomic_store_n(&slots[SLOT_BUSY], any_partial(), __ATOMIC_SEQ_CST);
	if (n < 0 && errno != EAGAIN)
		n = 0; /* EIO, EBADF: this pipe is of no more use */
	return n;
}

/* The worker's request: everything out, unterminated lines ended, then the answer. False
 * when the worker is gone. */
static bool sync_request(void)
{
	char request;
	ssize_t n;
	do
		n = read(REQUEST_FD, &request, 1);
	while (n < 0 && errno == EINTR);
	for (int i = 0; i < 2; i++) {
		while (read_stream(&streams[i]) > 0) {
		}
		finish_line(&streams[i]);
		flush_out(&streams[i]);
	}
	__atomic_store_n(&slots[SLOT_BUSY], 0, __ATOMIC_SEQ_CST);
	if (n != 1)
		return false;
	while (write(ANSWER_FD, "a", 1) < 0 && errno == EINTR) {
	}
	return true;
}

static void copy_until_the_pipes_end(void)
{
	struct pollfd fds[3] = {
		{PIPE_FDS, POLLIN, 0},
		{PIPE_FDS + 1, POLLIN, 0},
		{REQUEST_FD, POLLIN, 0},
	};
	int open_pipes = 2;

	while (open_pipes) {
		if (poll(fds, 3, -1) < 0)
			continue; /* EINTR */
		for (int i = 0; i < 3; i++) {
			if (fds[i].fd < 0 || !fds[i].revents)
				continue;
			if (i == 2) {
				if (!sync_request())
					fds[i].fd = -1; /* the worker is gone: copy until its pipes end */
			} else if (read_stream(&streams[i]) == 0) {
				fds[i].fd = -1;
				open_pipes--;
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		finish_line(&streams[i]);
		flush_out(&streams[i]);
	}
}

/* The worker sees this process end, and lets its output go unlabelled. */
static int cannot_start(const char *why)
{
	dprintf(2, "pmp: the output helper of %s cannot start (%s): report this\n", name, why);
	return 1;
}

int main(int argc, char **argv)
{
	/* Ctrl-C, and the controller's SIGTERM to the worker's process group (when the worker
	 * is lost), stop the worker: this process still copies what the worker wrote last.
	 * SIGKILL still ends it. A closed destination is an error of write, not a signal. */
	struct sigaction ignore = {.sa_handler = SIG_IGN};
	sigemptyset(&ignore.sa_mask);
	const int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		sigaction(ignored[i], &ignore, NULL);

	name = argc == 2 ? argv[1] : "worker";
	if (argc != 2)
		return cannot_start("usage: _output_helper NAME");
	void *shared = mmap(NULL, SLOTS * sizeof(int64_t), PROT_READ | PROT_WRITE, MAP_SHARED, SLOTS_FD, 0);
	if (shared == MAP_FAILED)
		return cannot_start(strerror(errno));
	slots = shared;
	close(SLOTS_FD);
	for (int i = 0; i < 2; i++) {
		streams[i].read_fd = PIPE_FDS + i;
		streams[i].out_fd = 1 + i;
		if (fcntl(streams[i].read_fd, F_SETFL, O_NONBLOCK) < 0)
			return cannot_start(strerror(errno));
	}
	copy_until_the_pipes_end();
	return 0;
}
