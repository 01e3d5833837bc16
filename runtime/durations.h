/* How long tasks run, by kind, as the workers report it with each result (the RESULT
 * header's run time). A kind is the submitter's number for tasks that take about as long
 * as each other: pmp's Python side gives each function its own. A kind whose tasks are
 * known to be short lets a worker hold more of them than its share of a short queue
 * (pmp_workers_limit): as many as run within PMP_HOLD_BUDGET_US, so that none of them
 * waits longer than that behind the others. A kind not known (yet) keeps the share rule,
 * which is what keeps a short queue's long tasks for the workers that free up first.
 * Pure bookkeeping, for the I/O thread alone. */
#ifndef PMP_DURATIONS_H
#define PMP_DURATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PMP_KIND_SLOTS 64       /* kinds known at once; a new kind takes its slot over */
#define PMP_KIND_KNOWN 8        /* answers before a kind's typical run time is used */
#define PMP_HOLD_BUDGET_US 1000 /* what a task of a known kind may wait behind others at a worker */
/* A kind this short or shorter is sent PMP_FLAG_SHORT: its worker may hold a result back
 * while it runs such a task (a worker answers them together, in one message). Below it, a
 * message's cost (a few microseconds of CPU at each end, and a wake-up) is a fair part of
 * a task's; above it, holding results back gains little and delays them more. */
#define PMP_SHORT_US 200

struct pmp_kind_time {
	uint32_t kind;    /* 0: the slot is free */
	uint32_t answers; /* counted to PMP_KIND_KNOWN */
	int32_t log2_us;  /* the typical run time: a moving average of log2(us), 8 fraction bits */
};

struct pmp_durations {
	struct pmp_kind_time slots[PMP_KIND_SLOTS];
};

/* A task of kind (0: of no kind, not recorded) ran run_us microseconds. */
void pmp_durations_record(struct pmp_durations *d, uint32_t kind, unsigned run_us);
/* The typical run time of kind's tasks in microseconds (at least 1), or 0 while not
 * known: a geometric mean, recent answers weighing most. A worker descheduled in the
 * middle of a task reports milliseconds for a task of microseconds (with 128 workers on 2
 * cores, every so often): in the logarithm one such answer moves the mean by a factor,
 * and the next few bring it back, where in a plain mean it would dominate. */
unsigned pmp_durations_typical(const struct pmp_durations *d, uint32_t kind);
/* How many tasks of kind run within PMP_HOLD_BUDGET_US by their typical time; 0 while
 * it is not known. */
size_t pmp_durations_hold(const struct pmp_durations *d, uint32_t kind);
/* Whether kind is known to run within PMP_SHORT_US. */
bool pmp_durations_short(const struct pmp_durations *d, uint32_t kind);

#endif
