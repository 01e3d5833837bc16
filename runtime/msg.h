/* pmp_msg: the frames of one received message, and multipart send/receive helpers. */
#ifndef PMP_MSG_H
#define PMP_MSG_H

#include <stddef.h>
#include <zmq.h>

#include "pmp.h"
#include "protocol.h"

struct pmp_msg {
	size_t n;
	zmq_msg_t frames[];
};

/* Receives every part of the next message (blocking unless ZMQ_DONTWAIT). Returns the
 * message, or NULL with errno (EAGAIN: nothing there; EMSGSIZE: more than max_parts
 * parts, the rest drained and dropped). */
pmp_msg *pmp_msg_recv(void *socket, size_t max_parts, int flags);
/* Moves frames [from, n) into a new message (the payload after a header). */
pmp_msg *pmp_msg_split(pmp_msg *m, size_t from);
/* Moves frames [from, from + count) into a new message (one result of several). */
pmp_msg *pmp_msg_take(pmp_msg *m, size_t from, size_t count);

/* Sends [routing id] header [frames...]; frames are copied. 0 or -1 with errno. */
int pmp_send(void *socket, const zmq_msg_t *route, const struct pmp_header *h,
	     const pmp_frame *frames, size_t n);
/* Sends [routing id] header, then moves the message's frames. */
int pmp_send_msg(void *socket, const zmq_msg_t *route, const struct pmp_header *h, pmp_msg *m);

#endif
