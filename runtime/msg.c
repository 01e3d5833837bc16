/* Received messages and multipart sends. */
#include "msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t pmp_msg_count(const pmp_msg *m)
{
	return m ? m->n : 0;
}

pmp_frame pmp_msg_frame(const pmp_msg *m, size_t i)
{
	pmp_frame f = {NULL, 0};
	if (m && i < m->n) {
		zmq_msg_t *z = (zmq_msg_t *)&m->frames[i];
		f.data = zmq_msg_data(z);
		f.size = zmq_msg_size(z);
	}
	return f;
}

void pmp_msg_free(pmp_msg *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		zmq_msg_close(&m->frames[i]);
	free(m);
}

static void drain(void *socket)
{
	int more = 1;
	size_t len = sizeof(more);
	while (zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &len) == 0 && more) {
		zmq_msg_t part;
		zmq_msg_init(&part);
		int rc = zmq_msg_recv(&part, socket, 0);
		zmq_msg_close(&part);
		if (rc < 0)
			return;
	}
}

pmp_msg *pmp_msg_recv(void *socket, size_t max_parts, int flags)
{
	size_t cap = 4;
	pmp_msg *m = malloc(sizeof(*m) + cap * sizeof(zmq_msg_t));
	if (!m)
		return NULL;
	m->n = 0;
	for (;;) {
		if (m->n == cap) {
			if (cap >= max_parts) {
				drain(socket);
				pmp_msg_free(m);
				errno = EMSGSIZE;
				return NULL;
			}
			cap = cap * 2 < max_parts ? cap * 2 : max_parts;
			pmp_msg *bigger = realloc(m, sizeof(*m) + cap * sizeof(zmq_msg_t));
			if (!bigger) {
				drain(socket);
				pmp_msg_free(m);
				errno = ENOMEM;
				return NULL;
			}
			m = bigger;
		}
		zmq_msg_init(&m->frames[m->n]);
		if (zmq_msg_recv(&m->frames[m->n], socket, m->n ? 0 : flags) < 0) {
			int saved = errno;
			zmq_msg_close(&m->frames[m->n]);
			pmp_msg_free(m);
			errno = saved;
			return NULL;
		}
		bool more = zmq_msg_more(&m->frames[m->n]);
		m->n++;
		if (!more)
			return m;
	}
}

pmp_msg *pmp_msg_split(pmp_msg *m, size_t from)
{
	return pmp_msg_take(m, from, from < m->n ? m->n - from : 0);
}

pmp_msg *pmp_msg_take(pmp_msg *m, size_t from, size_t count)
{
	size_t n = from < m->n ? m->n - from : 0;
	if (count < n)
		n = count;
	pmp_msg *out = malloc(sizeof(*out) + (n ? n : 1) * sizeof(zmq_msg_t));
	if (!out)
		return NULL;
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		zmq_msg_init(&out->frames[i]);
		zmq_msg_move(&out->frames[i], &m->frames[from + i]);
	}
	return out;
}

static int send_head(void *socket, const zmq_msg_t *route, const struct pmp_header *h, bool more)
{
	uint8_t head[PMP_HEADER_SIZE];
	if (route) {
		zmq_msg_t copy;
		zmq_msg_init(&copy);
		zmq_msg_copy(&copy, (zmq_msg_t *)route);
		if (zmq_msg_send(&copy, socket, ZMQ_SNDMORE) < 0) {
			zmq_msg_close(&copy);
			return -1;
		}
	}
	pmp_header_encode(h, head);
	return zmq_send(socket, head, sizeof(head), more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

int pmp_send(void *socket, const zmq_msg_t *route, const struct pmp_header *h,
	     const pmp_frame *frames, size_t n)
{
	if (send_head(socket, route, h, n > 0) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (zmq_send(socket, frames[i].data, frames[i].size, i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
			return -1;
	return 0;
}

int pmp_send_msg(void *socket, const zmq_msg_t *route, const struct pmp_header *h, pmp_msg *m)
{
	if (send_head(socket, route, h, m && m->n > 0) < 0)
		return -1;
	for (size_t i = 0; m && i < m->n; i++)
		if (zmq_msg_send(&m->frames[i], socket, i + 1 < m->n ? ZMQ_SNDMORE : 0) < 0)
			return -1;
	return 0;
}
