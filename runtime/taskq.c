/* Task queues and the task index: see taskq.h. */
#include "taskq.h"

#include <errno.h>
#include <stdlib.h>

void pmp_taskq_push(struct pmp_taskq *q, struct pmp_task *t)
{
	t->next = NULL;
	t->prev = q->tail;
	if (q->tail)
		q->tail->next = t;
	else
		q->head = t;
	q->tail = t;
	q->len++;
}

void pmp_taskq_push_front(struct pmp_taskq *q, struct pmp_task *t)
{
	t->prev = NULL;
	t->next = q->head;
	if (q->head)
		q->head->prev = t;
	else
		q->tail = t;
	q->head = t;
	q->len++;
}

void pmp_taskq_remove(struct pmp_taskq *q, struct pmp_task *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		q->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		q->tail = t->prev;
	t->prev = t->next = NULL;
	q->len--;
}

struct pmp_task *pmp_taskq_pop(struct pmp_taskq *q)
{
	struct pmp_task *t = q->head;
	if (t)
		pmp_taskq_remove(q, t);
	return t;
}

/* Task ids are usually sequential: a multiplicative hash spreads them anyway. */
static size_t bucket_of(const struct pmp_taskindex *x, uint64_t id)
{
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & (x->nbuckets - 1);
}

static int grow(struct pmp_taskindex *x)
{
	size_t n = x->nbuckets ? x->nbuckets * 2 : 64;
	struct pmp_task **b = calloc(n, sizeof(*b));
	if (!b)
		return -1;
	struct pmp_taskindex bigger = {b, n, x->count};
	for (size_t i = 0; i < x->nbuckets; i++) {
		struct pmp_task *t = x->buckets[i], *next;
		for (; t; t = next) {
			next = t->hnext;
			size_t k = bucket_of(&bigger, t->id);
			t->hnext = b[k];
			b[k] = t;
		}
	}
	free(x->buckets);
	*x = bigger;
	return 0;
}

int pmp_taskindex_add(struct pmp_taskindex *x, struct pmp_task *t)
{
	if (pmp_taskindex_find(x, t->id)) {
		errno = EEXIST;
		return -1;
	}
	if (x->count >= x->nbuckets && grow(x) < 0) {
		errno = ENOMEM;
		return -1;
	}
	size_t k = bucket_of(x, t->id);
	t->hnext = x->buckets[k];
	x->buckets[k] = t;
	x->count++;
	return 0;
}

struct pmp_task *pmp_taskindex_find(const struct pmp_taskindex *x, uint64_t id)
{
	if (!x->nbuckets)
		return NULL;
	for (struct pmp_task *t = x->buckets[bucket_of(x, id)]; t; t = t->hnext)
		if (t->id == id)
			return t;
	return NULL;
}

struct pmp_task *pmp_taskindex_remove(struct pmp_taskindex *x, uint64_t id)
{
	if (!x->nbuckets)
		return NULL;
	for (struct pmp_task **p = &x->buckets[bucket_of(x, id)]; *p; p = &(*p)->hnext) {
		if ((*p)->id == id) {
			struct pmp_task *t = *p;
			*p = t->hnext;
			t->hnext = NULL;
			x->count--;
			return t;
		}
	}
	return NULL;
}

void pmp_taskindex_free(struct pmp_taskindex *x)
{
	free(x->buckets);
	x->buckets = NULL;
	x->nbuckets = x->count = 0;
}
