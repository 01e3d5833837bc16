/* Deadlines on CLOCK_MONOTONIC, for the controller and its fork servers. */
#ifndef PMP_DEADLINE_H
#define PMP_DEADLINE_H

#include <time.h>

/* *t = now + seconds. */
static inline void pmp_deadline_in(struct timespec *t, double seconds)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += (time_t)seconds;
	t->tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

#endif
