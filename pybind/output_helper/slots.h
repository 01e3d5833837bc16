/* The memory a pmp worker shares with its output helper (pmp/_output.py makes it and
 * names the same slots _TASK and _BUSY): int64 slots, read and written with __atomic
 * builtins by both C sides (output_helper.c, and _core's labels.c in the worker). */
#ifndef PMP_OUTPUT_SLOTS_H
#define PMP_OUTPUT_SLOTS_H

enum {
	SLOT_TASK, /* the running task's id, -1 for none: the label of what the helper reads */
	SLOT_BUSY, /* 1 while the helper holds output it has not written */
	SLOTS
};

#endif
