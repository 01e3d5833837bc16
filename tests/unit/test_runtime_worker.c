/* The worker side of libpmp (worker.c) against a ROUTER socket in this process standing in
 * for the controller, over real ZeroMQ: which results a worker answers together in one
 * message (PMP_FLAG_MORE), and which it never holds back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msg.h"
#include "pmp.h"
#include "protocol.h"
#include "security.h"

struct stand_in {
	void *ctx, *router;
	zmq_msg_t route; /* the worker's routing id */
	pmp_worker *w;
};

/* CURVE: its server accepts a client that knows the server's key without a ZAP handler
 * (PLAIN, the token, needs the controller's). */
static void open_stand_in(struct stand_in *s)
{
	struct pmp_keys k;
	char err[PMP_ERR_MAX] = "", endpoint[128];
	size_t len = sizeof(endpoint);
	assert_int_equal(pmp_keys_make(&k, PMP_MECH_CURVE, err, sizeof(err)), 0);
	assert_non_null(s->ctx = zmq_ctx_new());
	assert_non_null(s->router = zmq_socket(s->ctx, ZMQ_ROUTER));
	int timeout_ms = 10000; /* a message that never comes fails the test, not hangs it */
	assert_int_equal(zmq_setsockopt(s->router, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms)), 0);
	assert_int_equal(pmp_secure_server(s->router, &k), 0);
	assert_int_equal(zmq_bind(s->router, "tcp://127.0.0.1:*"), 0);
	assert_int_equal(zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, endpoint, &len), 0);
	assert_int_equal(setenv("PMP_SECRET", k.env, 1), 0);
	s->w = pmp_worker_connect(endpoint, 7, err, sizeof(err));
	if (!s->w)
		fail_msg("pmp_worker_connect: %s", err);
	pmp_msg *ready = pmp_msg_recv(s->router, 8, 0);
	assert_non_null(ready);
	struct pmp_header h;
	pmp_frame head = pmp_msg_frame(ready, 1);
	assert_int_equal(pmp_header_decode(head.data, head.size, &h), 0);
	assert_int_equal(h.type, PMP_MSG_READY);
	zmq_msg_init(&s->route);
	zmq_msg_copy(&s->route, &ready->frames[0]);
	pmp_msg_free(ready);
}

static void close_stand_in(struct stand_in *s)
{
	pmp_worker_close(s->w);
	zmq_msg_close(&s->route);
	zmq_close(s->router);
	zmq_ctx_term(s->ctx);
}

/* Tasks first..last, their payloads "t<id>". */
static void send_tasks(struct stand_in *s, uint64_t first, uint64_t last, uint8_t flags)
{
	for (uint64_t id = first; id <= last; id++) {
		char payload[32];
		struct pmp_header h = {PMP_MSG_TASK, flags, id, 0};
		pmp_frame f = {payload, (size_t)snprintf(payload, sizeof(payload), "t%llu", (unsigned long long)id)};
		assert_int_equal(pmp_send(s->router, &s->route, &h, &f, 1), 0);
	}
}

/* The worker's next task, answered with its own payload (or with n frames of size bytes
 * each, when n > 0). */
static void answer_next(struct stand_in *s, uint64_t expect, size_t n, size_t size)
{
	pmp_request req;
	char err[PMP_ERR_MAX] = "";
	assert_int_equal(pmp_worker_recv(s->w, &req, err, sizeof(err)), 0);
	assert_int_equal(req.kind, PMP_REQUEST_TASK);
	assert_true(req.task == expect);
	pmp_frame own = pmp_msg_frame(req.msg, 0), frames[2];
	char *big = n ? calloc(1, size) : NULL;
	for (size_t i = 0; i < n; i++)
		frames[i] = (pmp_frame){big, size};
	assert_int_equal(pmp_worker_send(s->w, req.task, PMP_OK, n ? frames : &own, n ? n : 1, err, sizeof(err)), 0);
	free(big);
	pmp_msg_free(req.msg);
}

/* One message's results, as the controller reads them (controller.c's task_results):
 * their ids into ids (from *count on), and in held (when not NULL) whether each was held
 * back for the next (PMP_FLAG_MORE). A held result has one small frame, and a header
 * follows it; an empty frame may end the message instead (a worker that closed while it
 * held results). Returns the results. */
static size_t recv_results_held(struct stand_in *s, uint64_t *ids, bool *held, size_t *count)
{
	pmp_msg *m = pmp_msg_recv(s->router, PMP_RESULT_PARTS_MAX + 1, 0);
	assert_non_null(m);
	size_t at = 1, n = 0;
	for (;;) {
		struct pmp_header h;
		pmp_frame head = pmp_msg_frame(m, at);
		if (n && head.size == 0 && at + 1 == pmp_msg_count(m))
			break; /* ended without another result */
		assert_int_equal(pmp_header_decode(head.data, head.size, &h), 0);
		assert_int_equal(h.type, PMP_MSG_RESULT);
		if (held)
			held[*count] = (h.flags & PMP_FLAG_MORE) != 0;
		ids[(*count)++] = h.id;
		n++;
		if (!(h.flags & PMP_FLAG_MORE))
			break;
		assert_true(pmp_msg_frame(m, at + 1).size < 64 * 1024); /* held: small */
		assert_true(at + 2 < pmp_msg_count(m));                 /* and something follows */
		at += 2;
	}
	pmp_msg_free(m);
	return n;
}

static size_t recv_results(struct stand_in *s, uint64_t *ids, size_t *count)
{
	return recv_results_held(s, ids, NULL, count);
}

/* Short tasks waiting at the worker: their results go out together, in order, and in
 * fewer messages than results. The stand-in sends all the tasks before the worker (this
 * thread) takes the first, so that most of them are there when it answers the one before;
 * three tries make a run in which every task came only after the answer before it
 * (nothing held back) a failure beyond doubt. */
static void test_short_tasks_are_answered_together(void **st)
{
	(void)st;
	size_t fewest = SIZE_MAX;
	for (int attempt = 0; attempt < 3 && fewest == SIZE_MAX; attempt++) {
		struct stand_in s;
		uint64_t ids[PMP_BATCH_MAX * 2];
		size_t count = 0, messages = 0;
		open_stand_in(&s);
		send_tasks(&s, 1, 100, PMP_FLAG_SHORT);
		for (uint64_t id = 1; id <= 100; id++)
			answer_next(&s, id, 0, 0);
		while (count < 100) {
			assert_true(recv_results(&s, ids, &count) <= PMP_BATCH_MAX);
			messages++;
		}
		for (uint64_t id = 1; id <= 100; id++)
			assert_true(ids[id - 1] == id);
		if (messages < 100)
			fewest = messages;
		close_stand_in(&s);
	}
	assert_true(fewest < 100);
}

/* A task not known to be short may run long: the result before it is never held back. */
static void test_results_before_a_task_not_short_go_out_alone(void **st)
{
	(void)st;
	struct stand_in s;
	uint64_t ids[20];
	size_t count = 0;
	open_stand_in(&s);
	send_tasks(&s, 1, 20, 0);
	for (uint64_t id = 1; id <= 20; id++)
		answer_next(&s, id, 0, 0);
	for (uint64_t id = 1; id <= 20; id++) {
		assert_int_equal(recv_results(&s, ids, &count), 1);
		assert_true(ids[id - 1] == id);
	}
	close_stand_in(&s);
}

/* A large result (sent from the caller's memory) or one of several frames is never held
 * back: it ends its message. recv_results checks the held ones. */
static void test_large_results_are_not_held(void **st)
{
	(void)st;
	struct stand_in s;
	uint64_t ids[8];
	size_t count = 0;
	open_stand_in(&s);
	send_tasks(&s, 1, 6, PMP_FLAG_SHORT);
	answer_next(&s, 1, 0, 0);
	answer_next(&s, 2, 1, 64 * 1024);
	answer_next(&s, 3, 0, 0);
	answer_next(&s, 4, 2, 10);
	answer_next(&s, 5, 0, 0);
	answer_next(&s, 6, 0, 0);
	bool ends[8] = {false};
	while (count < 6) {
		recv_results(&s, ids, &count);
		ends[ids[count - 1]] = true; /* the last of its message */
	}
	assert_true(ends[2]);
	assert_true(ends[4]);
	assert_true(ends[6]);
	close_stand_in(&s);
}

/* A held result waits for at most about a millisecond of tasks: once the first held
 * result is that old, the next result ends the message though another short task is
 * waiting. Tasks 1-4 wait at the worker; task 3 "runs" 3 ms. When result 2 was held (as
 * in test_short_tasks_are_answered_together, nearly always; tried up to 5 times), result
 * 3 is not held for task 4. */
static void test_held_results_wait_a_millisecond_at_most(void **st)
{
	(void)st;
	bool seen = false;
	for (int attempt = 0; attempt < 5 && !seen; attempt++) {
		struct stand_in s;
		uint64_t ids[4];
		bool held[4];
		size_t count = 0;
		open_stand_in(&s);
		send_tasks(&s, 1, 4, PMP_FLAG_SHORT);
		answer_next(&s, 1, 0, 0);
		answer_next(&s, 2, 0, 0);
		pmp_request req;
		char err[PMP_ERR_MAX] = "";
		assert_int_equal(pmp_worker_recv(s.w, &req, err, sizeof(err)), 0);
		struct timespec run = {0, 3 * 1000 * 1000};
		nanosleep(&run, NULL); /* the task's run, not a synchronisation */
		pmp_frame f = pmp_msg_frame(req.msg, 0);
		assert_int_equal(pmp_worker_send(s.w, req.task, PMP_OK, &f, 1, err, sizeof(err)), 0);
		pmp_msg_free(req.msg);
		answer_next(&s, 4, 0, 0);
		while (count < 4)
			recv_results_held(&s, ids, held, &count);
		for (uint64_t id = 1; id <= 4; id++)
			assert_true(ids[id - 1] == id);
		if (held[1]) {
			seen = true;
			assert_false(held[2]);
		}
		close_stand_in(&s);
	}
	assert_true(seen);
}

/* A worker that closes while it holds a result back still sends it. */
static void test_close_sends_a_held_result(void **st)
{
	(void)st;
	struct stand_in s;
	uint64_t ids[3];
	size_t count = 0;
	pmp_request req;
	char err[PMP_ERR_MAX] = "";
	open_stand_in(&s);
	send_tasks(&s, 1, 3, PMP_FLAG_SHORT);
	answer_next(&s, 1, 0, 0);
	answer_next(&s, 2, 0, 0); /* held, when 3 is there */
	assert_int_equal(pmp_worker_recv(s.w, &req, err, sizeof(err)), 0);
	pmp_msg_free(req.msg);
	pmp_worker_close(s.w); /* before answering 3 */
	s.w = NULL;
	while (count < 2)
		recv_results(&s, ids, &count);
	assert_true(ids[0] == 1 && ids[1] == 2);
	close_stand_in(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_tasks_are_answered_together),
		cmocka_unit_test(test_results_before_a_task_not_short_go_out_alone),
		cmocka_unit_test(test_large_results_are_not_held),
		cmocka_unit_test(test_held_results_wait_a_millisecond_at_most),
		cmocka_unit_test(test_close_sends_a_held_result),
	};
	return cmocka_run_group_tests_name("runtime_worker", tests, NULL, NULL);
}
