/* The worker table: ids, lookups, the dispatch choice and routing ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "process.h"
#include "workers.h"

static pmp_spec *some_spec(void)
{
	const char *argv[] = {"/bin/true", NULL};
	char err[PMP_ERR_MAX] = "";
	pmp_spec *s = pmp_spec_new(argv, NULL, NULL, 1, err, sizeof(err));
	assert_non_null(s);
	return s;
}

/* Gives w `n` in-flight tasks taken from pool (which must have room). */
static void hold(struct pmp_wk *w, struct pmp_task *pool, size_t *used, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct pmp_task *t = &pool[(*used)++];
		t->worker = w->id;
		pmp_wk_take(w, t);
	}
}

/* w connected, with room for window tasks. */
static void ready(struct pmp_wk *w, size_t window)
{
	w->state = PMP_W_READY;
	w->window = window;
}

static void release_all(struct pmp_worker_table *t)
{
	for (size_t i = 0; i < t->cap; i++)
		while (t->slots[i] && pmp_wk_drop_first(t->slots[i]))
			;
}

static void test_add_get_remove(void **st)
{
	(void)st;
	struct pmp_worker_table t = {0};
	pmp_spec *spec = some_spec();

	assert_null(pmp_workers_get(&t, 0)); /* empty table */
	struct pmp_wk *a = pmp_workers_add(&t, spec, false);
	struct pmp_wk *b = pmp_workers_add(&t, spec, true);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->id, 0);
	assert_int_equal(b->id, 1);
	assert_int_equal(a->state, PMP_W_STARTING);
	assert_int_equal(a->pid, -1);
	assert_int_equal(a->pidfd, -1);
	assert_false(a->per_task);
	assert_true(b->per_task);
	assert_false(a->init_sent);
	assert_int_equal(a->inflight.len, 0);
	assert_ptr_equal(a->spec, spec);
	assert_int_equal(spec->refs, 3); /* ours and one per worker */
	assert_int_equal(t.live, 2);

	assert_ptr_equal(pmp_workers_get(&t, 0), a);
	assert_ptr_equal(pmp_workers_get(&t, 1), b);
	assert_null(pmp_workers_get(&t, 2));
	assert_null(pmp_workers_get(&t, -1));
	assert_null(pmp_workers_get(&t, INT64_MIN));
	assert_null(pmp_workers_get(&t, INT64_MAX));
	assert_null(pmp_workers_get(&t, (int64_t)t.cap));

	pmp_workers_remove(&t, 0);
	assert_null(pmp_workers_get(&t, 0));
	assert_ptr_equal(pmp_workers_get(&t, 1), b);
	assert_int_equal(t.live, 1);
	assert_int_equal(spec->refs, 2);
	pmp_workers_remove(&t, 0); /* gone already: nothing happens */
	pmp_workers_remove(&t, -1);
	pmp_workers_remove(&t, 1000);
	assert_int_equal(t.live, 1);

	/* Ids are never reused. */
	struct pmp_wk *c = pmp_workers_add(&t, spec, false);
	assert_int_equal(c->id, 2);
	assert_null(pmp_workers_get(&t, 0));

	pmp_workers_free(&t);
	assert_int_equal(spec->refs, 1); /* the workers' references were dropped */
	assert_null(t.slots);
	assert_int_equal(t.live, 0);
	pmp_spec_unref(spec);
}

static void test_ids_increase_past_growth(void **st)
{
	(void)st;
	struct pmp_worker_table t = {0};
	pmp_spec *spec = some_spec();
	for (int32_t i = 0; i < 100; i++) {
		struct pmp_wk *w = pmp_workers_add(&t, spec, false);
		assert_non_null(w);
		assert_int_equal(w->id, i);
		if (i % 3 == 0)
			pmp_workers_remove(&t, i); /* removals do not free ids up */
	}
	assert_true(t.cap >= 100);
	assert_int_equal(t.live, 100 - 34);
	for (int32_t i = 0; i < 100; i++) {
		struct pmp_wk *w = pmp_workers_get(&t, i);
		if (i % 3 == 0) {
			assert_null(w);
		} else {
			assert_non_null(w);
			assert_int_equal(w->id, i);
		}
	}
	assert_int_equal(spec->refs, 1 + 66);
	pmp_workers_free(&t);
	assert_int_equal(spec->refs, 1);
	pmp_spec_unref(spec);
}

static void test_limit(void **st)
{
	(void)st;
	/* Shallow queue: one task each, so a slow task holds back nothing. */
	assert_int_equal(pmp_workers_limit(0, 4, 8, 0), 1);
	assert_int_equal(pmp_workers_limit(1, 4, 8, 0), 1);
	assert_int_equal(pmp_workers_limit(3, 4, 8, 0), 1);
	assert_int_equal(pmp_workers_limit(8, 4, 8, 0), 1); /* two each: still one at a time */
	assert_int_equal(pmp_workers_limit(12, 4, 8, 0), 1);
	/* Deep queue: more, up to prefetch. */
	assert_int_equal(pmp_workers_limit(16, 4, 8, 0), 2);
	assert_int_equal(pmp_workers_limit(28, 4, 8, 0), 3);
	assert_int_equal(pmp_workers_limit(64, 4, 8, 0), 8);
	assert_int_equal(pmp_workers_limit(1000, 4, 8, 0), 8);
	assert_int_equal(pmp_workers_limit(SIZE_MAX, 1, 8, 0), 8);
	/* No ready worker, or no prefetch. */
	assert_int_equal(pmp_workers_limit(1000, 0, 8, 0), 1);
	assert_int_equal(pmp_workers_limit(0, 0, 8, 0), 1);
	assert_int_equal(pmp_workers_limit(1000, 4, 1, 0), 1);
	assert_int_equal(pmp_workers_limit(1000, 4, 0, 0), 1);
	/* Never above prefetch, never below one. */
	for (size_t q = 0; q < 50; q++)
		for (size_t r = 1; r < 6; r++) {
			size_t l = pmp_workers_limit(q, r, 5, q % 7);
			assert_true(l >= 1 && l <= 5);
		}
	/* Tasks known to be short: as many as fit the budget (hold), however shallow the
	 * queue; the share when that is more; never above prefetch. */
	assert_int_equal(pmp_workers_limit(1, 4, 8, 5), 5);
	assert_int_equal(pmp_workers_limit(0, 4, 8, 5), 5);
	assert_int_equal(pmp_workers_limit(28, 4, 8, 2), 3);
	assert_int_equal(pmp_workers_limit(1, 4, 8, 50), 8);
	assert_int_equal(pmp_workers_limit(1, 4, 256, 50), 50);
	assert_int_equal(pmp_workers_limit(1, 4, 1, 50), 1); /* prefetch 1 is one at a time */
	assert_int_equal(pmp_workers_limit(1, 0, 8, 50), 1);
}

static void test_pick(void **st)
{
	(void)st;
	struct pmp_worker_table t = {0};
	struct pmp_task pool[64];
	size_t used = 0;
	pmp_spec *spec = some_spec();
	memset(pool, 0, sizeof(pool));

	assert_null(pmp_workers_pick(&t, 8)); /* empty table */
	assert_int_equal(pmp_workers_ready(&t), 0);

	struct pmp_wk *starting = pmp_workers_add(&t, spec, false);
	struct pmp_wk *stopping = pmp_workers_add(&t, spec, false);
	struct pmp_wk *per_task = pmp_workers_add(&t, spec, true);
	stopping->state = PMP_W_STOPPING;
	stopping->window = starting->window = 8;
	ready(per_task, 8);
	assert_null(pmp_workers_pick(&t, 8)); /* none of them takes long-lived tasks */
	assert_int_equal(pmp_workers_ready(&t), 0);

	struct pmp_wk *a = pmp_workers_add(&t, spec, false);
	struct pmp_wk *b = pmp_workers_add(&t, spec, false);
	struct pmp_wk *c = pmp_workers_add(&t, spec, false);
	ready(a, 8);
	ready(b, 8);
	ready(c, 8);
	assert_int_equal(pmp_workers_ready(&t), 3);

	hold(a, pool, &used, 2);
	hold(b, pool, &used, 1);
	hold(c, pool, &used, 3);
	assert_ptr_equal(pmp_workers_pick(&t, 8), b); /* fewest in flight */
	assert_ptr_equal(pmp_workers_pick(&t, 2), b);
	assert_null(pmp_workers_pick(&t, 1)); /* all at or above the limit */
	hold(b, pool, &used, 2);              /* b 3, a 2, c 3 */
	assert_ptr_equal(pmp_workers_pick(&t, 8), a);
	assert_ptr_equal(pmp_workers_pick(&t, 3), a);
	assert_null(pmp_workers_pick(&t, 2));

	/* An idle worker wins, wherever it is in the table. */
	while (pmp_wk_drop_first(c))
		;
	assert_ptr_equal(pmp_workers_pick(&t, 1), c);

	/* A worker that is no longer READY is passed over even when idle. */
	c->state = PMP_W_STOPPING;
	assert_ptr_equal(pmp_workers_pick(&t, 8), a);
	assert_int_equal(pmp_workers_ready(&t), 2);
	/* The idle workers that are not eligible do not count either. */
	starting->state = PMP_W_STARTING;
	assert_int_equal(starting->inflight.len, 0);
	assert_ptr_equal(pmp_workers_pick(&t, 8), a);

	/* Removed workers leave holes the pick skips. */
	while (pmp_wk_drop_first(a))
		;
	pmp_workers_remove(&t, a->id);
	assert_ptr_equal(pmp_workers_pick(&t, 8), b);
	assert_int_equal(pmp_workers_ready(&t), 1);

	release_all(&t);
	pmp_workers_free(&t);
	pmp_spec_unref(spec);
}

static void test_pick_ties_and_limit(void **st)
{
	(void)st;
	struct pmp_worker_table t = {0};
	struct pmp_task pool[16];
	size_t used = 0;
	pmp_spec *spec = some_spec();
	memset(pool, 0, sizeof(pool));

	struct pmp_wk *w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = pmp_workers_add(&t, spec, false);
		ready(w[i], PMP_WINDOW_MAX);
		hold(w[i], pool, &used, 2);
	}
	struct pmp_wk *p = pmp_workers_pick(&t, 3);
	assert_non_null(p);
	assert_int_equal(p->inflight.len, 2);
	assert_null(pmp_workers_pick(&t, 2));
	assert_null(pmp_workers_pick(&t, 0));
	hold(w[3], pool, &used, 1);
	pmp_wk_drop_first(w[3]);
	pmp_wk_drop_first(w[3]); /* w[3]: 1 */
	assert_ptr_equal(pmp_workers_pick(&t, 3), w[3]);
	assert_ptr_equal(pmp_workers_pick(&t, 2), w[3]);
	release_all(&t);
	pmp_workers_free(&t);
	pmp_spec_unref(spec);
}

/* A worker holds no more than its window, even with the fewest tasks and the queue deep. */
static void test_pick_respects_window(void **st)
{
	(void)st;
	struct pmp_worker_table t = {0};
	struct pmp_task pool[16];
	size_t used = 0;
	pmp_spec *spec = some_spec();
	memset(pool, 0, sizeof(pool));

	struct pmp_wk *small = pmp_workers_add(&t, spec, false), *big = pmp_workers_add(&t, spec, false);
	ready(small, 2);
	ready(big, 8);
	hold(small, pool, &used, 2);
	hold(big, pool, &used, 5);
	assert_ptr_equal(pmp_workers_pick(&t, 8), big); /* small has the fewest, and its window's worth */
	struct pmp_pick_cursor cursor = PMP_PICK_CURSOR_INIT;
	for (int i = 0; i < 3; i++) {
		assert_ptr_equal(pmp_workers_pick_next(&t, 8, &cursor), big);
		hold(big, pool, &used, 1);
	}
	assert_null(pmp_workers_pick_next(&t, 8, &cursor)); /* both full */
	assert_null(pmp_workers_pick(&t, 8));
	pmp_wk_drop_first(small);
	assert_ptr_equal(pmp_workers_pick(&t, 8), small);
	release_all(&t);
	pmp_workers_free(&t);
	pmp_spec_unref(spec);
}

/* The adaptive window: doubles when a worker held back by it sat idle while tasks wait,
 * up to PMP_WINDOW_MAX; back to the start once the worker and the queue are empty. */
static void test_window_after(void **st)
{
	(void)st;
	/* window, waited, full, holds, queued */
	assert_int_equal(pmp_window_after(8, true, true, 3, 100), 16);
	assert_int_equal(pmp_window_after(16, true, true, 0, 1), 32);
	/* It never sat idle: the window keeps it busy. */
	assert_int_equal(pmp_window_after(8, false, true, 0, 100), 8);
	assert_int_equal(pmp_window_after(64, false, true, 5, 100), 64);
	/* Not at its window (the queue's share, or the bytes, held it back): a wider one
	 * would not help. */
	assert_int_equal(pmp_window_after(8, true, false, 0, 100), 8);
	/* Nothing queued: idle for want of tasks, not of window. The burst is over once the
	 * worker holds nothing either. */
	assert_int_equal(pmp_window_after(8, true, true, 2, 0), 8);
	assert_int_equal(pmp_window_after(64, false, true, 2, 0), 64);
	assert_int_equal(pmp_window_after(64, false, true, 0, 0), PMP_WINDOW_START);
	assert_int_equal(pmp_window_after(64, true, true, 0, 0), PMP_WINDOW_START);
	/* At most PMP_WINDOW_MAX tasks, reached from the start in 5 doublings. */
	assert_int_equal(pmp_window_after(PMP_WINDOW_MAX, true, true, 0, 100), PMP_WINDOW_MAX);
	size_t w = PMP_WINDOW_START, steps = 0;
	while (w < PMP_WINDOW_MAX) {
		size_t next = pmp_window_after(w, true, true, 0, 1000);
		assert_int_equal(next, 2 * w);
		w = next;
		steps++;
	}
	assert_int_equal(steps, 5);
}

/* A worker's answers: the window doubles on a waited answer while full, and then is not
 * full until a dispatch fills it, so further waited answers of the same turn (the tasks it
 * held when it ran dry) leave it as it is. The burst's end puts it back to the start. */
static void test_answered_doubles_once_a_fill(void **st)
{
	(void)st;
	struct pmp_wk w;
	memset(&w, 0, sizeof(w));
	w.window = PMP_WINDOW_START;
	w.full = true;
	pmp_wk_answered(&w, true, 100);
	assert_int_equal(w.window, 2 * PMP_WINDOW_START);
	assert_false(w.full);
	pmp_wk_answered(&w, true, 100); /* no dispatch since: not full */
	pmp_wk_answered(&w, true, 100);
	assert_int_equal(w.window, 2 * PMP_WINDOW_START);
	w.full = true; /* a dispatch filled it */
	pmp_wk_answered(&w, false, 100); /* kept busy: no change, still full */
	assert_int_equal(w.window, 2 * PMP_WINDOW_START);
	assert_true(w.full);
	pmp_wk_answered(&w, true, 100);
	assert_int_equal(w.window, 4 * PMP_WINDOW_START);
	assert_false(w.full);
	w.full = true;
	pmp_wk_answered(&w, false, 0); /* holds none, none queued: the burst is over */
	assert_int_equal(w.window, PMP_WINDOW_START);
	assert_false(w.full);
}

/* Beyond PMP_WINDOW_START tasks a worker takes more only while they come to less than
 * PMP_WINDOW_BYTES, however wide its window; up to PMP_WINDOW_START, whatever their size.
 * The bytes it holds follow its tasks in and out. */
static void test_window_bytes(void **st)
{
	(void)st;
	struct pmp_worker_table t = {0};
	struct pmp_task pool[PMP_WINDOW_START + 2];
	size_t used = 0;
	pmp_spec *spec = some_spec();
	memset(pool, 0, sizeof(pool));
	for (size_t i = 0; i < sizeof(pool) / sizeof(*pool); i++)
		pool[i].bytes = PMP_WINDOW_BYTES / 2; /* two are the bound */

	struct pmp_wk *w = pmp_workers_add(&t, spec, false);
	ready(w, PMP_WINDOW_MAX);
	hold(w, pool, &used, PMP_WINDOW_START - 1);
	assert_int_equal(w->inflight_bytes, (PMP_WINDOW_START - 1) * (PMP_WINDOW_BYTES / 2));
	assert_ptr_equal(pmp_workers_pick(&t, PMP_WINDOW_MAX), w); /* within PMP_WINDOW_START */
	hold(w, pool, &used, 1);
	assert_null(pmp_workers_pick(&t, PMP_WINDOW_MAX)); /* beyond it, and past the bytes */
	struct pmp_pick_cursor cursor = PMP_PICK_CURSOR_INIT;
	assert_null(pmp_workers_pick_next(&t, PMP_WINDOW_MAX, &cursor));
	/* Small tasks: room again beyond PMP_WINDOW_START. */
	while (pmp_wk_drop_first(w))
		;
	assert_int_equal(w->inflight_bytes, 0);
	struct pmp_task small[PMP_WINDOW_START + 4];
	memset(small, 0, sizeof(small));
	used = 0;
	for (size_t i = 0; i < sizeof(small) / sizeof(*small); i++)
		small[i].bytes = 100;
	hold(w, small, &used, PMP_WINDOW_START + 3);
	assert_ptr_equal(pmp_workers_pick(&t, PMP_WINDOW_MAX), w);
	pmp_wk_drop(w, &small[4]); /* out of the middle */
	assert_int_equal(w->inflight_bytes, (PMP_WINDOW_START + 2) * 100);
	release_all(&t);
	assert_int_equal(w->inflight_bytes, 0);
	pmp_workers_free(&t);
	pmp_spec_unref(spec);
}

/* A dispatch turn with the cursor makes, task after task, the choice pmp_workers_pick
 * makes: mixed states, counts and windows, holes, a limit that shrinks as the queue
 * does, and a worker that stops in the middle of the turn; also when the dispatch gives
 * a worker it picked a run of tasks, and gives tasks to a worker it did not pick (the
 * one it fills with short tasks). */
static void test_pick_next_matches_pick(void **st)
{
	(void)st;
	static struct pmp_task pool[4096];
	pmp_spec *spec = some_spec();
	unsigned seed = 12345;

	for (int round = 0; round < 200; round++) {
		struct pmp_worker_table t = {0};
		size_t used = 0;
		memset(pool, 0, sizeof(pool));
		for (size_t i = 0; i < sizeof(pool) / sizeof(pool[0]); i++) /* some past the bytes of a window */
			pool[i].bytes = rand_r(&seed) % 3 ? 64 : PMP_WINDOW_BYTES / 3;
		int n = 1 + (int)(rand_r(&seed) % 40);
		for (int i = 0; i < n; i++) {
			struct pmp_wk *w = pmp_workers_add(&t, spec, rand_r(&seed) % 8 == 0);
			unsigned r = rand_r(&seed) % 10;
			w->state = r < 7 ? PMP_W_READY : r < 9 ? PMP_W_STARTING : PMP_W_STOPPING;
			w->window = 1 + rand_r(&seed) % 16; /* at times below the limit, at times above */
			hold(w, pool, &used, rand_r(&seed) % 12);
		}
		if (n > 3)
			pmp_workers_remove(&t, (int32_t)(rand_r(&seed) % (unsigned)n)); /* a hole (its tasks are the pool's) */
		struct pmp_pick_cursor cursor = PMP_PICK_CURSOR_INIT;
		size_t queued = 1 + rand_r(&seed) % 300, stop_at = rand_r(&seed) % 50;
		for (size_t step = 0; queued > 0 && used < sizeof(pool) / sizeof(pool[0]); step++) {
			/* The kind at the queue's head changes: the limit goes up and down. */
			size_t known = rand_r(&seed) % 4 ? 0 : rand_r(&seed) % 24;
			size_t limit = pmp_workers_limit(queued, (size_t)n, 16, known);
			struct pmp_wk *want = pmp_workers_pick(&t, limit);
			struct pmp_wk *got = pmp_workers_pick_next(&t, limit, &cursor);
			assert_ptr_equal(got, want);
			if (!got)
				break;
			hold(got, pool, &used, 1);
			queued--;
			for (size_t more = rand_r(&seed) % 4 ? 0 : rand_r(&seed) % 8; /* a run */
			     more > 0 && queued > 0 && pmp_wk_takes(got, limit); more--, queued--)
				hold(got, pool, &used, 1);
			struct pmp_wk *other = pmp_workers_get(&t, rand_r(&seed) % (unsigned)n);
			if (rand_r(&seed) % 8 == 0 && queued > 0 && pmp_wk_takes(other, limit)) { /* not picked */
				hold(other, pool, &used, 1);
				queued--;
			}
			if (step == stop_at) /* its send failed */
				got->state = PMP_W_STOPPING;
		}
		release_all(&t);
		pmp_workers_free(&t);
	}
	pmp_spec_unref(spec);
}

/* Whether a worker may take another task: READY, long-lived, not running a suspect task
 * alone, below the limit, with room in its window (tasks, and beyond PMP_WINDOW_START
 * bytes). */
static void test_takes(void **st)
{
	(void)st;
	assert_false(pmp_wk_takes(NULL, 8));
	struct pmp_task pool[PMP_WINDOW_START] = {0};
	struct pmp_worker_table t = {0};
	pmp_spec *spec = some_spec();
	size_t used = 0;
	struct pmp_wk *w = pmp_workers_add(&t, spec, false);
	struct pmp_wk *per_task = pmp_workers_add(&t, spec, true);
	assert_false(pmp_wk_takes(w, 8)); /* starting */
	ready(w, 4);
	ready(per_task, 4);
	assert_false(pmp_wk_takes(per_task, 8));
	for (size_t n = 0; n < 4; n++) {
		assert_true(pmp_wk_takes(w, 8));
		assert_int_equal(pmp_wk_takes(w, 3), n < 3); /* the limit */
		hold(w, pool, &used, 1);
	}
	assert_false(pmp_wk_takes(w, 8)); /* the window */
	ready(w, PMP_WINDOW_MAX);
	assert_true(pmp_wk_takes(w, 8));
	w->inflight.head->suspect = true; /* runs a suspect task */
	assert_false(pmp_wk_takes(w, 8));
	assert_null(pmp_workers_pick(&t, 8));
	struct pmp_pick_cursor cursor = PMP_PICK_CURSOR_INIT;
	assert_null(pmp_workers_pick_next(&t, 8, &cursor));
	w->inflight.head->suspect = false;
	pool[used].bytes = PMP_WINDOW_BYTES;
	hold(w, pool, &used, PMP_WINDOW_START - 4);
	assert_false(pmp_wk_takes(w, PMP_WINDOW_MAX)); /* the bytes, beyond PMP_WINDOW_START */
	w->state = PMP_W_STOPPING;
	while (pmp_wk_drop_first(w))
		;
	assert_false(pmp_wk_takes(w, 8));
	pmp_workers_free(&t);
	pmp_spec_unref(spec);
}

/* A run of short tasks: as pmp_wk_takes, but held to its cap, not to the worker's window;
 * the bytes beyond PMP_WINDOW_START, a suspect task, the state and per-task workers still
 * stop it. */
static void test_takes_run(void **st)
{
	(void)st;
	assert_false(pmp_wk_takes_run(NULL, 8));
	struct pmp_task pool[3 * PMP_WINDOW_START] = {0};
	struct pmp_worker_table t = {0};
	pmp_spec *spec = some_spec();
	size_t used = 0;
	struct pmp_wk *w = pmp_workers_add(&t, spec, false);
	struct pmp_wk *per_task = pmp_workers_add(&t, spec, true);
	assert_false(pmp_wk_takes_run(w, 8)); /* starting */
	ready(w, PMP_WINDOW_START);
	ready(per_task, PMP_WINDOW_START);
	assert_false(pmp_wk_takes_run(per_task, 8));
	hold(w, pool, &used, PMP_WINDOW_START);
	assert_false(pmp_wk_takes(w, 2 * PMP_WINDOW_START)); /* its window is full */
	assert_true(pmp_wk_takes_run(w, 2 * PMP_WINDOW_START)); /* a run is not held to it */
	assert_false(pmp_wk_takes_run(w, PMP_WINDOW_START)); /* but to its cap */
	hold(w, pool, &used, PMP_WINDOW_START - 1);
	assert_true(pmp_wk_takes_run(w, 2 * PMP_WINDOW_START));
	hold(w, pool, &used, 1);
	assert_false(pmp_wk_takes_run(w, 2 * PMP_WINDOW_START));
	w->inflight.head->suspect = true;
	assert_false(pmp_wk_takes_run(w, 3 * PMP_WINDOW_START));
	w->inflight.head->suspect = false;
	assert_true(pmp_wk_takes_run(w, 3 * PMP_WINDOW_START));
	pool[used].bytes = PMP_WINDOW_BYTES;
	hold(w, pool, &used, 1);
	assert_false(pmp_wk_takes_run(w, 3 * PMP_WINDOW_START)); /* the bytes, beyond PMP_WINDOW_START */
	w->state = PMP_W_STOPPING;
	while (pmp_wk_drop_first(w))
		;
	assert_false(pmp_wk_takes_run(w, 8));
	pmp_workers_free(&t);
	pmp_spec_unref(spec);
}

static void test_routing_id(void **st)
{
	(void)st;
	const int32_t ids[] = {0, 1, 255, 256, 65536, 0x01020304, INT32_MAX};
	for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++) {
		uint8_t rid[PMP_ROUTING_ID_SIZE];
		pmp_routing_id(ids[i], rid);
		assert_int_equal(rid[0], 'w'); /* never a leading 0, which ZeroMQ reserves */
		assert_int_equal(pmp_routing_id_parse(rid, sizeof(rid)), ids[i]);
	}
	uint8_t rid[PMP_ROUTING_ID_SIZE];
	pmp_routing_id(0x01020304, rid);
	assert_memory_equal(rid, "w\x04\x03\x02\x01", PMP_ROUTING_ID_SIZE);
}

static void test_routing_id_rejects(void **st)
{
	(void)st;
	uint8_t buf[8] = {'w', 1, 0, 0, 0, 0, 0, 0};
	assert_int_equal(pmp_routing_id_parse(buf, 5), 1); /* the control */
	assert_int_equal(pmp_routing_id_parse(buf, 4), -1);
	assert_int_equal(pmp_routing_id_parse(buf, 6), -1);
	assert_int_equal(pmp_routing_id_parse(buf, 0), -1);
	assert_int_equal(pmp_routing_id_parse(NULL, 0), -1);
	/* A wrong prefix: ZeroMQ's own generated ids start with 0. */
	const uint8_t prefixes[] = {0, 'W', 'x', 0xff};
	for (size_t i = 0; i < sizeof(prefixes); i++) {
		buf[0] = prefixes[i];
		assert_int_equal(pmp_routing_id_parse(buf, 5), -1);
	}
	/* Ids above INT32_MAX are not worker ids. */
	uint8_t big[5] = {'w', 0x00, 0x00, 0x00, 0x80};
	assert_int_equal(pmp_routing_id_parse(big, 5), -1);
	uint8_t all[5] = {'w', 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(pmp_routing_id_parse(all, 5), -1);
	uint8_t max[5] = {'w', 0xff, 0xff, 0xff, 0x7f};
	assert_int_equal(pmp_routing_id_parse(max, 5), INT32_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_get_remove),
		cmocka_unit_test(test_ids_increase_past_growth),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_pick_respects_window),
		cmocka_unit_test(test_window_after),
		cmocka_unit_test(test_answered_doubles_once_a_fill),
		cmocka_unit_test(test_window_bytes),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_pick_ties_and_limit),
		cmocka_unit_test(test_pick_next_matches_pick),
		cmocka_unit_test(test_takes),
		cmocka_unit_test(test_takes_run),
		cmocka_unit_test(test_routing_id),
		cmocka_unit_test(test_routing_id_rejects),
	};
	return cmocka_run_group_tests_name("runtime_workers", tests, NULL, NULL);
}
