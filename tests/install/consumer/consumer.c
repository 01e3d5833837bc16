/* A C program built against an installed libpmp (pkg-config or find_package): it runs
 * itself as its own worker and prints the answer to one task. As the controller it
 * starts one worker (this program again), submits "ping" and waits for the result; as
 * the worker (PMP_ENDPOINT set) it answers each task with its payload and "pong".
 * Prints "pong ping" and exits 0 when the round trip worked. */
#include <pmp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

extern char **environ; /* the worker inherits it (e.g. LD_LIBRARY_PATH) */

struct outcome {
	pthread_mutex_t lock;
	pthread_cond_t done;
	int finished; /* 1 result, -1 failure */
	char text[PMP_ERR_MAX];
};

static void on_events(void *ctx, pmp_event *events, size_t n)
{
	struct outcome *o = ctx;
	pthread_mutex_lock(&o->lock);
	for (size_t i = 0; i < n; i++) {
		pmp_event *e = &events[i];
		if (e->kind == PMP_EVENT_RESULT) {
			size_t len = 0;
			for (size_t f = 0; f < pmp_msg_count(e->msg) && len + 1 < sizeof(o->text); f++) {
				pmp_frame fr = pmp_msg_frame(e->msg, f);
				int w = snprintf(o->text + len, sizeof(o->text) - len, "%s%.*s", f ? " " : "",
						 (int)fr.size, (const char *)fr.data);
				len += w > 0 ? (size_t)w : 0;
			}
			pmp_msg_free(e->msg);
			o->finished = e->status == PMP_OK ? 1 : -1;
		} else if (e->kind == PMP_EVENT_TASK_LOST || e->kind == PMP_EVENT_TASK_FAILED) {
			snprintf(o->text, sizeof(o->text), "%s", e->text ? e->text : "task failed");
			o->finished = -1;
		}
	}
	pthread_cond_signal(&o->done);
	pthread_mutex_unlock(&o->lock);
}

static int controller(const char *self)
{
	char err[PMP_ERR_MAX];
	struct outcome o = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, ""};
	const char *argv[] = {self, NULL};
	pmp_frame ping = {"ping", 4};

	pmp_controller *c = pmp_controller_start(NULL, on_events, &o, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	pmp_spec *spec = pmp_spec_new(argv, (const char *const *)environ, NULL, 1, err, sizeof(err));
	if (!spec || pmp_controller_add_workers(c, spec, 1, err, sizeof(err)) < 0 ||
	    pmp_controller_submit(c, 1, NULL, &ping, 1, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		pmp_spec_unref(spec);
		pmp_controller_free(c);
		return 1;
	}
	pmp_spec_unref(spec);
	pthread_mutex_lock(&o.lock);
	while (!o.finished)
		pthread_cond_wait(&o.done, &o.lock);
	pthread_mutex_unlock(&o.lock);
	pmp_controller_free(c);
	printf("%s\n", o.text);
	return o.finished == 1 ? 0 : 1;
}

static int worker(void)
{
	char err[PMP_ERR_MAX];
	pmp_request req;
	pmp_worker *w = pmp_worker_connect(NULL, -1, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	while (pmp_worker_recv(w, &req, err, sizeof(err)) == 0 && req.kind != PMP_REQUEST_SHUTDOWN) {
		if (req.kind != PMP_REQUEST_TASK) {
			pmp_msg_free(req.msg);
			continue;
		}
		pmp_frame answer[2] = {{"pong", 4}, pmp_msg_frame(req.msg, 0)};
		int rc = pmp_worker_send(w, req.task, PMP_OK, answer, 2, err, sizeof(err));
		pmp_msg_free(req.msg);
		if (rc < 0 || req.last)
			break;
	}
	pmp_worker_close(w);
	return 0;
}

int main(int argc, char **argv)
{
	(void)argc;
	return getenv("PMP_ENDPOINT") ? worker() : controller(argv[0]);
}
