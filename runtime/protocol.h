/* The wire format: every message starts with a 16-byte header frame, then payload frames.
 *
 *   bytes 0-3  "PMP1"
 *   byte  4    type (enum pmp_msg_type)
 *   byte  5    flags (PMP_FLAG_*, by type)
 *   bytes 6-7  RESULT: how long the worker ran the task, in microseconds, little-endian,
 *              65535 for that long or longer (the controller learns from it which tasks
 *              are short); zero in the other types
 *   bytes 8-15 id, little-endian: the task id (TASK, RESULT), the worker id (READY)
 *
 * A worker may answer several short tasks in one message (PMP_FLAG_MORE): a RESULT
 * header so flagged is followed by exactly one payload frame, then by the next RESULT
 * header; the first header without the flag owns every frame after it. One message
 * rather than one each is one wake-up of each side's ZeroMQ thread, not one per task (on
 * the Slurm backend, 2 us less CPU a no-op task; README, Benchmarks).
 *
 * Pure code, so that the unit tests and the fuzzer drive the decoder directly. */
#ifndef PMP_PROTOCOL_H
#define PMP_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PMP_HEADER_SIZE 16
#define PMP_MAX_FRAMES 4096 /* payload frames of one task or result; more is refused */
#define PMP_BATCH_MAX 64    /* results answered together in one message, at most */
/* The parts of a message a worker sends, at most: PMP_BATCH_MAX - 1 results of one
 * payload frame each, and a last one of up to PMP_MAX_FRAMES. */
#define PMP_RESULT_PARTS_MAX (2 * (PMP_BATCH_MAX - 1) + 1 + PMP_MAX_FRAMES)

enum pmp_msg_type {
	PMP_MSG_TASK = 1,     /* controller -> worker: run this; payload = the task */
	PMP_MSG_INIT = 2,     /* controller -> worker: set up; payload = the init */
	PMP_MSG_SHUTDOWN = 3, /* controller -> worker: exit */
	PMP_MSG_READY = 4,    /* worker -> controller: connected; payload = "pid host" */
	PMP_MSG_RESULT = 5,   /* worker -> controller: task done; payload = result or error */
};

#define PMP_FLAG_LAST 0x01  /* TASK: exit after this task */
#define PMP_FLAG_SHORT 0x02 /* TASK: of a kind known to run short (PMP_SHORT_US): the worker
			       may hold the result before it until this one is done too */
#define PMP_FLAG_ERROR 0x01 /* RESULT: the payload is an exception */
#define PMP_FLAG_WAITED 0x02 /* RESULT: the worker sat idle, waiting for this task, after its
				last answer: it ran out of work (the controller's window) */
#define PMP_FLAG_MORE 0x04  /* RESULT: one payload frame follows, then another RESULT */

struct pmp_header {
	uint8_t type;
	uint8_t flags;
	uint64_t id;
	uint16_t run_us; /* RESULT only; PMP_RUN_US_MAX for that or longer */
};

#define PMP_RUN_US_MAX UINT16_MAX

void pmp_header_encode(const struct pmp_header *h, uint8_t out[PMP_HEADER_SIZE]);
/* 0, or -1 when the frame is not a header pmp sent: wrong size, magic, type, flags, or
 * bytes 6-7 set in a type other than RESULT. */
int pmp_header_decode(const void *data, size_t size, struct pmp_header *h);
/* Types each side accepts from the other. */
bool pmp_type_to_controller(uint8_t type);
bool pmp_type_to_worker(uint8_t type);

#endif
