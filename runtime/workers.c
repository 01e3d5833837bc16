/* The worker table: see workers.h. */
#include "workers.h"

#include <stdlib.h>
#include <string.h>

#include "process.h"

struct pmp_wk *pmp_workers_add(struct pmp_worker_table *t, pmp_spec *spec, bool per_task)
{
	if ((size_t)t->next_id >= t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct pmp_wk **slots = realloc(t->slots, cap * sizeof(*slots));
		if (!slots)
			return NULL;
		memset(slots + t->cap, 0, (cap - t->cap) * sizeof(*slots));
		t->slots = slots;
		t->cap = cap;
	}
	struct pmp_wk *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->id = t->next_id++;
	w->state = PMP_W_STARTING;
	w->pid = -1;
	w->pidfd = -1;
	w->fd = -1;
	w->spec = pmp_spec_ref(spec);
	w->per_task = per_task;
	t->slots[w->id] = w;
	t->live++;
	return w;
}

struct pmp_wk *pmp_workers_get(const struct pmp_worker_table *t, int64_t id)
{
	if (id < 0 || (uint64_t)id >= t->cap)
		return NULL;
	return t->slots[id];
}

void pmp_workers_remove(struct pmp_worker_table *t, int32_t id)
{
	struct pmp_wk *w = pmp_workers_get(t, id);
	if (!w)
		return;
	pmp_spec_unref(w->spec);
	free(w);
	t->slots[id] = NULL;
	t->live--;
}

void pmp_workers_free(struct pmp_worker_table *t)
{
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i])
			pmp_workers_remove(t, (int32_t)i);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

size_t pmp_workers_limit(size_t queued, size_t workers, size_t prefetch, size_t hold)
{
	if (workers == 0 || prefetch <= 1)
		return 1;
	/* Each worker's share of the queue, halved: a worker holds more than one task only
	 * when the others (also those still starting) would have two each as well, so a
	 * first worker does not take the tasks of those about to connect. */
	size_t share = queued / workers / 2;
	/* Short tasks beyond the share: with 128 workers on 2 cores, a queue of 2,000-4,000
	 * no-op tasks held each worker to 8-15 of them (its share), and each ran dry and
	 * slept between answers; allowed 16 or more, the executor ran 1.3-1.6 times as many
	 * tasks a second (the README has the numbers). */
	if (hold > share)
		share = hold;
	return share < 1 ? 1 : share < prefetch ? share : prefetch;
}

void pmp_wk_take(struct pmp_wk *w, struct pmp_task *t)
{
	pmp_taskq_push(&w->inflight, t);
	w->inflight_bytes += t->bytes;
}

void pmp_wk_drop(struct pmp_wk *w, struct pmp_task *t)
{
	pmp_taskq_remove(&w->inflight, t);
	w->inflight_bytes -= t->bytes;
}

struct pmp_task *pmp_wk_drop_first(struct pmp_wk *w)
{
	struct pmp_task *t = w->inflight.head;
	if (t)
		pmp_wk_drop(w, t);
	return t;
}

size_t pmp_window_after(size_t window, bool waited, bool full, size_t holds, size_t queued)
{
	if (!queued)
		return holds ? window : PMP_WINDOW_START;
	if (waited && full && window < PMP_WINDOW_MAX)
		return 2 * window;
	return window;
}

void pmp_wk_answered(struct pmp_wk *w, bool waited, size_t queued)
{
	size_t window = pmp_window_after(w->window, waited, w->full, w->inflight.len, queued);
	if (window != w->window)
		w->full = false; /* not at its new window until tasks fill it */
	w->window = window;
}

/* READY, long-lived, not running a suspect task (taskq.h: it runs alone, and is only ever
 * given to a worker that holds nothing, so it is the head), and beyond the first
 * PMP_WINDOW_START tasks holding less than PMP_WINDOW_BYTES (one task may take it past). */
static bool takes_any(const struct pmp_wk *w)
{
	return w && w->state == PMP_W_READY && !w->per_task && !(w->inflight.head && w->inflight.head->suspect) &&
	       (w->inflight.len < PMP_WINDOW_START || w->inflight_bytes < PMP_WINDOW_BYTES);
}

/* takes_any, and with room in its window. Within a turn, tasks only come: once a worker
 * has no room, it has none for the rest of the turn. */
static bool takes_tasks(const struct pmp_wk *w)
{
	return takes_any(w) && w->inflight.len < w->window;
}

bool pmp_wk_takes(const struct pmp_wk *w, size_t limit)
{
	return takes_tasks(w) && w->inflight.len < limit;
}

bool pmp_wk_takes_run(const struct pmp_wk *w, size_t cap)
{
	return takes_any(w) && w->inflight.len < cap;
}

struct pmp_wk *pmp_workers_pick(const struct pmp_worker_table *t, size_t limit)
{
	struct pmp_wk *best = NULL;
	for (size_t i = 0; i < t->cap; i++) {
		struct pmp_wk *w = t->slots[i];
		if (!pmp_wk_takes(w, limit))
			continue;
		if (!best || w->inflight.len < best->inflight.len)
			best = w;
		if (best->inflight.len == 0)
			break; /* idle: cannot do better */
	}
	return best;
}

/* The fewest tasks a worker that takes tasks holds; false if there is none. */
static bool min_inflight(const struct pmp_worker_table *t, size_t *min)
{
	bool any = false;
	for (size_t i = 0; i < t->cap; i++) {
		const struct pmp_wk *w = t->slots[i];
		if (takes_tasks(w) && (!any || w->inflight.len < *min)) {
			*min = w->inflight.len;
			any = true;
		}
	}
	return any;
}

struct pmp_wk *pmp_workers_pick_next(const struct pmp_worker_table *t, size_t limit, struct pmp_pick_cursor *c)
{
	if (!c->started) {
		c->started = true;
		c->next = 0;
		if (!min_inflight(t, &c->level))
			return NULL; /* stays so: nobody becomes READY during a turn */
	}
	for (int passes = 0; passes < 2; passes++) {
		if (c->level >= limit)
			return NULL;
		for (; c->next < t->cap; c->next++) {
			struct pmp_wk *w = t->slots[c->next];
			if (takes_tasks(w) && w->inflight.len == c->level) {
				c->next++;
				return w;
			}
		}
		/* Every worker of this level got a task: the next level, from the start (or
		 * the fewest there are, should one that got a task have stopped since). */
		c->next = 0;
		if (!min_inflight(t, &c->level))
			return NULL;
	}
	return NULL;
}

size_t pmp_workers_expected(const struct pmp_worker_table *t)
{
	size_t n = 0;
	for (size_t i = 0; i < t->cap; i++)
		n += t->slots[i] && t->slots[i]->state != PMP_W_STOPPING && !t->slots[i]->per_task;
	return n;
}

int pmp_workers_starting_cores(const struct pmp_worker_table *t)
{
	int n = 0;
	for (size_t i = 0; i < t->cap; i++) {
		const struct pmp_wk *w = t->slots[i];
		if (w && w->state == PMP_W_STARTING && !w->per_task && w->spec)
			n += w->spec->cores;
	}
	return n;
}

size_t pmp_workers_ready(const struct pmp_worker_table *t)
{
	size_t n = 0;
	for (size_t i = 0; i < t->cap; i++)
		n += t->slots[i] && t->slots[i]->state == PMP_W_READY && !t->slots[i]->per_task;
	return n;
}

void pmp_routing_id(int32_t id, uint8_t out[PMP_ROUTING_ID_SIZE])
{
	out[0] = 'w';
	for (int i = 0; i < 4; i++)
		out[1 + i] = (uint8_t)((uint32_t)id >> (8 * i));
}

int64_t pmp_routing_id_parse(const void *data, size_t size)
{
	const uint8_t *p = data;
	if (size != PMP_ROUTING_ID_SIZE || p[0] != 'w')
		return -1;
	uint32_t id = 0;
	for (int i = 3; i >= 0; i--)
		id = (id << 8) | p[1 + i];
	return id > INT32_MAX ? -1 : (int64_t)id;
}
