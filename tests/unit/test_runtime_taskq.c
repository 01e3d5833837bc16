/* Task queues (FIFO, push_front, removal anywhere) and the task id index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "taskq.h"

static struct pmp_task *new_tasks(size_t n)
{
	struct pmp_task *t = calloc(n, sizeof(*t));
	assert_non_null(t);
	for (size_t i = 0; i < n; i++) {
		t[i].id = i;
		t[i].worker = -1;
	}
	return t;
}

/* Walks the queue both ways: the links agree with each other, with len, and with the
 * expected order of ids. */
static void assert_queue(const struct pmp_taskq *q, const uint64_t *ids, size_t n)
{
	assert_int_equal(q->len, n);
	if (n == 0) {
		assert_null(q->head);
		assert_null(q->tail);
		return;
	}
	assert_null(q->head->prev);
	assert_null(q->tail->next);
	const struct pmp_task *t = q->head;
	for (size_t i = 0; i < n; i++, t = t->next) {
		assert_non_null(t);
		assert_true(t->id == ids[i]);
		if (i + 1 < n)
			assert_ptr_equal(t->next->prev, t);
	}
	assert_null(t);
	t = q->tail;
	for (size_t i = n; i-- > 0; t = t->prev)
		assert_true(t->id == ids[i]);
	assert_null(t);
}

static void test_fifo_order(void **st)
{
	(void)st;
	struct pmp_taskq q = {0};
	struct pmp_task *t = new_tasks(5);
	assert_null(pmp_taskq_pop(&q));
	for (size_t i = 0; i < 5; i++)
		pmp_taskq_push(&q, &t[i]);
	assert_queue(&q, (uint64_t[]){0, 1, 2, 3, 4}, 5);
	for (size_t i = 0; i < 5; i++) {
		struct pmp_task *p = pmp_taskq_pop(&q);
		assert_ptr_equal(p, &t[i]);
		assert_null(p->prev);
		assert_null(p->next);
		assert_int_equal(q.len, 4 - i);
	}
	assert_queue(&q, NULL, 0);
	assert_null(pmp_taskq_pop(&q));
	assert_int_equal(q.len, 0);

	/* The queue works again once empty, and a task's stale links do not matter. */
	t[3].next = &t[4];
	t[3].prev = &t[2];
	pmp_taskq_push(&q, &t[3]);
	pmp_taskq_push(&q, &t[1]);
	assert_queue(&q, (uint64_t[]){3, 1}, 2);
	free(t);
}

static void test_push_front(void **st)
{
	(void)st;
	struct pmp_taskq q = {0};
	struct pmp_task *t = new_tasks(4);
	pmp_taskq_push_front(&q, &t[0]); /* into an empty queue: head and tail */
	assert_queue(&q, (uint64_t[]){0}, 1);
	pmp_taskq_push(&q, &t[1]);
	pmp_taskq_push_front(&q, &t[2]);
	pmp_taskq_push_front(&q, &t[3]);
	assert_queue(&q, (uint64_t[]){3, 2, 0, 1}, 4);
	assert_ptr_equal(pmp_taskq_pop(&q), &t[3]);
	assert_queue(&q, (uint64_t[]){2, 0, 1}, 3);
	free(t);
}

static void test_remove_middle_head_tail(void **st)
{
	(void)st;
	struct pmp_taskq q = {0};
	struct pmp_task *t = new_tasks(6);
	for (size_t i = 0; i < 6; i++)
		pmp_taskq_push(&q, &t[i]);
	pmp_taskq_remove(&q, &t[2]); /* middle */
	assert_null(t[2].prev);
	assert_null(t[2].next);
	assert_queue(&q, (uint64_t[]){0, 1, 3, 4, 5}, 5);
	pmp_taskq_remove(&q, &t[0]); /* head */
	assert_queue(&q, (uint64_t[]){1, 3, 4, 5}, 4);
	pmp_taskq_remove(&q, &t[5]); /* tail */
	assert_queue(&q, (uint64_t[]){1, 3, 4}, 3);
	pmp_taskq_push(&q, &t[2]); /* the tail after a tail removal */
	assert_queue(&q, (uint64_t[]){1, 3, 4, 2}, 4);
	pmp_taskq_remove(&q, &t[4]);
	pmp_taskq_remove(&q, &t[1]);
	pmp_taskq_remove(&q, &t[2]);
	assert_queue(&q, (uint64_t[]){3}, 1);
	pmp_taskq_remove(&q, &t[3]); /* the only one */
	assert_queue(&q, NULL, 0);
	pmp_taskq_push_front(&q, &t[0]);
	assert_queue(&q, (uint64_t[]){0}, 1);
	free(t);
}

static void test_index_add_find_remove(void **st)
{
	(void)st;
	struct pmp_taskindex x = {0};
	struct pmp_task *t = new_tasks(3);
	t[0].id = 10;
	t[1].id = 0;
	t[2].id = UINT64_MAX;

	assert_null(pmp_taskindex_find(&x, 10)); /* before the first insert */
	assert_null(pmp_taskindex_remove(&x, 10));
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(pmp_taskindex_add(&x, &t[i]), 0);
	assert_int_equal(x.count, 3);
	assert_true(x.nbuckets > 0 && (x.nbuckets & (x.nbuckets - 1)) == 0);
	for (size_t i = 0; i < 3; i++)
		assert_ptr_equal(pmp_taskindex_find(&x, t[i].id), &t[i]);
	assert_null(pmp_taskindex_find(&x, 11));
	assert_null(pmp_taskindex_find(&x, 1));

	assert_null(pmp_taskindex_remove(&x, 11)); /* missing */
	assert_int_equal(x.count, 3);
	assert_ptr_equal(pmp_taskindex_remove(&x, 0), &t[1]);
	assert_int_equal(x.count, 2);
	assert_null(pmp_taskindex_find(&x, 0));
	assert_null(pmp_taskindex_remove(&x, 0)); /* already gone */
	assert_ptr_equal(pmp_taskindex_find(&x, 10), &t[0]);
	assert_ptr_equal(pmp_taskindex_find(&x, UINT64_MAX), &t[2]);

	/* Once removed, the id can be added again. */
	assert_int_equal(pmp_taskindex_add(&x, &t[1]), 0);
	assert_ptr_equal(pmp_taskindex_find(&x, 0), &t[1]);

	pmp_taskindex_free(&x);
	assert_null(x.buckets);
	assert_int_equal(x.nbuckets, 0);
	assert_int_equal(x.count, 0);
	assert_null(pmp_taskindex_find(&x, 10));
	pmp_taskindex_free(&x); /* twice is fine */
	free(t);
}

static void test_index_rejects_duplicate_ids(void **st)
{
	(void)st;
	struct pmp_taskindex x = {0};
	struct pmp_task *t = new_tasks(3);
	t[0].id = t[1].id = 42;
	t[2].id = 43;
	assert_int_equal(pmp_taskindex_add(&x, &t[0]), 0);
	errno = 0;
	assert_int_equal(pmp_taskindex_add(&x, &t[1]), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(x.count, 1);
	assert_ptr_equal(pmp_taskindex_find(&x, 42), &t[0]); /* the first stays */
	assert_int_equal(pmp_taskindex_add(&x, &t[2]), 0);
	/* The same task twice is a duplicate too. */
	assert_int_equal(pmp_taskindex_add(&x, &t[2]), -1);
	assert_int_equal(errno, EEXIST);
	assert_ptr_equal(pmp_taskindex_remove(&x, 42), &t[0]);
	assert_int_equal(pmp_taskindex_add(&x, &t[1]), 0);
	assert_ptr_equal(pmp_taskindex_find(&x, 42), &t[1]);
	pmp_taskindex_free(&x);
	free(t);
}

static void test_index_grows_with_sequential_ids(void **st)
{
	(void)st;
	const size_t n = 100000;
	struct pmp_taskindex x = {0};
	struct pmp_task *t = new_tasks(n);
	for (size_t i = 0; i < n; i++)
		t[i].id = i + 1;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(pmp_taskindex_add(&x, &t[i]), 0);
		/* Grown before it gets fuller than one task a bucket. */
		assert_true(x.count <= x.nbuckets);
	}
	assert_int_equal(x.count, n);
	assert_true(x.nbuckets >= n);
	assert_true((x.nbuckets & (x.nbuckets - 1)) == 0);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(pmp_taskindex_find(&x, i + 1), &t[i]);
	assert_null(pmp_taskindex_find(&x, 0));
	assert_null(pmp_taskindex_find(&x, n + 1));

	/* Every other one removed: the rest are still found, the removed ones are not. */
	for (size_t i = 0; i < n; i += 2)
		assert_ptr_equal(pmp_taskindex_remove(&x, i + 1), &t[i]);
	assert_int_equal(x.count, n / 2);
	for (size_t i = 0; i < n; i++) {
		if (i % 2)
			assert_ptr_equal(pmp_taskindex_find(&x, i + 1), &t[i]);
		else
			assert_null(pmp_taskindex_find(&x, i + 1));
	}
	pmp_taskindex_free(&x);
	free(t);
}

/* splitmix64: a fixed sequence of well spread 64-bit ids. */
static uint64_t next_random(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void test_index_random_ids(void **st)
{
	(void)st;
	const size_t n = 5000;
	struct pmp_taskindex x = {0};
	struct pmp_task *t = new_tasks(n + 4);
	uint64_t seed = 12345;
	for (size_t i = 0; i < n; i++)
		t[i].id = next_random(&seed);
	/* Ids that differ only in their high bits, which a weak hash would fold together. */
	for (size_t i = 0; i < 4; i++)
		t[n + i].id = (uint64_t)(i + 1) << 60 | 7;
	for (size_t i = 0; i < n + 4; i++)
		assert_int_equal(pmp_taskindex_add(&x, &t[i]), 0);
	for (size_t i = 0; i < n + 4; i++)
		assert_ptr_equal(pmp_taskindex_find(&x, t[i].id), &t[i]);
	assert_null(pmp_taskindex_find(&x, 7));
	uint64_t other = 999;
	for (size_t i = 0; i < 100; i++) {
		uint64_t id = next_random(&other);
		bool present = false;
		for (size_t j = 0; j < n + 4; j++)
			present |= t[j].id == id;
		if (!present)
			assert_null(pmp_taskindex_remove(&x, id));
	}
	for (size_t i = n + 4; i-- > 0;)
		assert_ptr_equal(pmp_taskindex_remove(&x, t[i].id), &t[i]);
	assert_int_equal(x.count, 0);
	for (size_t i = 0; i < n + 4; i++)
		assert_null(pmp_taskindex_find(&x, t[i].id));
	pmp_taskindex_free(&x);
	free(t);
}

/* The index and a queue hold a task at once (its hnext and prev/next are separate). */
static void test_index_and_queue_together(void **st)
{
	(void)st;
	struct pmp_taskindex x = {0};
	struct pmp_taskq q = {0};
	struct pmp_task *t = new_tasks(200);
	for (size_t i = 0; i < 200; i++) {
		assert_int_equal(pmp_taskindex_add(&x, &t[i]), 0);
		pmp_taskq_push(&q, &t[i]);
	}
	for (size_t i = 0; i < 200; i += 3) {
		struct pmp_task *found = pmp_taskindex_remove(&x, i);
		assert_ptr_equal(found, &t[i]);
		pmp_taskq_remove(&q, found);
	}
	assert_int_equal(q.len, x.count);
	size_t seen = 0;
	for (struct pmp_task *p = q.head; p; p = p->next, seen++) {
		assert_true(p->id % 3 != 0);
		assert_ptr_equal(pmp_taskindex_find(&x, p->id), p);
	}
	assert_int_equal(seen, q.len);
	pmp_taskindex_free(&x);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_order),
		cmocka_unit_test(test_push_front),
		cmocka_unit_test(test_remove_middle_head_tail),
		cmocka_unit_test(test_index_add_find_remove),
		cmocka_unit_test(test_index_rejects_duplicate_ids),
		cmocka_unit_test(test_index_grows_with_sequential_ids),
		cmocka_unit_test(test_index_random_ids),
		cmocka_unit_test(test_index_and_queue_together),
	};
	return cmocka_run_group_tests_name("runtime_taskq", tests, NULL, NULL);
}
