/* Tasks of the controller: FIFO queues, and an id index over every task that is
 * queued or in flight (to cancel a queued task, or to check that a result answers a
 * task the sender really holds). Not thread-safe: the controller locks around it. */
#ifndef PMP_TASKQ_H
#define PMP_TASKQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pmp.h"

struct pmp_task {
	uint64_t id;
	pmp_spec *spec;          /* NULL: any long-lived worker; else its own worker */
	pmp_msg *payload;        /* frames to send; kept while on a worker, to requeue the
				    task if its worker dies before it started */
	bool sent;               /* on a worker (or at least sent to it) */
	bool suspect;            /* was on a worker that died holding others too: runs alone
				    from now on (lose_tasks) */
	uint32_t kind;           /* tasks of one kind run about as long (durations.h); 0 none */
	size_t bytes;            /* of the payload */
	int32_t worker;          /* worker holding it, -1 while queued */
	struct pmp_task *prev, *next; /* in one pmp_taskq */
	struct pmp_task *hnext;  /* in the index */
};

struct pmp_taskq {
	struct pmp_task *head, *tail;
	size_t len;
};

struct pmp_taskindex {
	struct pmp_task **buckets;
	size_t nbuckets; /* a power of two, or 0 before the first insert */
	size_t count;
};

void pmp_taskq_push(struct pmp_taskq *q, struct pmp_task *t);
void pmp_taskq_push_front(struct pmp_taskq *q, struct pmp_task *t);
struct pmp_task *pmp_taskq_pop(struct pmp_taskq *q);
void pmp_taskq_remove(struct pmp_taskq *q, struct pmp_task *t);

/* 0, or -1 (ENOMEM; EEXIST when a task of that id is indexed already). */
int pmp_taskindex_add(struct pmp_taskindex *x, struct pmp_task *t);
struct pmp_task *pmp_taskindex_find(const struct pmp_taskindex *x, uint64_t id);
/* Unlinks and returns the task, or NULL. */
struct pmp_task *pmp_taskindex_remove(struct pmp_taskindex *x, uint64_t id);
void pmp_taskindex_free(struct pmp_taskindex *x); /* the table only, not the tasks */

#endif
