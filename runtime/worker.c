/* The worker side: one DEALER socket to the controller, and a monitor on it so that
 * a worker waiting for work learns at once when its controller is gone. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "errors.h"
#include "msg.h"
#include "pmp.h"
#include "workers.h"

struct pmp_worker {
	void *zctx, *sock, *monitor;
	int32_t id;
	bool connected; /* the connection came up once: losing it means the controller is gone */
};

static int open_monitor(pmp_worker *w, char *err, size_t errlen)
{
	char addr[64];
	snprintf(addr, sizeof(addr), "inproc://pmp-monitor-%p", (void *)w);
	if (zmq_socket_monitor(w->sock, addr, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) < 0 ||
	    !(w->monitor = zmq_socket(w->zctx, ZMQ_PAIR)) || zmq_connect(w->monitor, addr) < 0)
		return pmp_err(err, errlen, "pmp: cannot watch the connection to the controller (%s)",
			       zmq_strerror(errno));
	return 0;
}

pmp_worker *pmp_worker_connect(const char *endpoint, int32_t id, char *err, size_t errlen)
{
	pmp_worker *w = calloc(1, sizeof(*w));
	char info[256], host[128] = "?";
	uint8_t rid[PMP_ROUTING_ID_SIZE];
	int zero = 0, linger = 5000, ivl = 1000, timeout = 10000;

	if (!w) {
		pmp_err(err, errlen, "pmp: out of memory");
		return NULL;
	}
	if (!endpoint)
		endpoint = getenv("PMP_ENDPOINT");
	if (id < 0) {
		const char *s = getenv("PMP_WORKER_ID");
		char *end = NULL;
		long v = s ? strtol(s, &end, 10) : -1;
		id = (s && *s && !*end && v >= 0 && v <= INT32_MAX) ? (int32_t)v : -1;
	}
	if (!endpoint || !*endpoint || id < 0) {
		pmp_err(err, errlen, "pmp: PMP_ENDPOINT and PMP_WORKER_ID are not set: a pmp worker is "
			"started by a pmp executor, not by hand");
		goto fail;
	}
	w->id = id;
	if (!(w->zctx = zmq_ctx_new()) || !(w->sock = zmq_socket(w->zctx, ZMQ_DEALER))) {
		pmp_err(err, errlen, "pmp: cannot create a ZeroMQ socket (%s)", zmq_strerror(errno));
		goto fail;
	}
	pmp_routing_id(id, rid);
	zmq_setsockopt(w->sock, ZMQ_ROUTING_ID, rid, sizeof(rid));
	zmq_setsockopt(w->sock, ZMQ_SNDHWM, &zero, sizeof(zero));
	zmq_setsockopt(w->sock, ZMQ_RCVHWM, &zero, sizeof(zero));
	/* Bounded: a last result is flushed, but a dead controller does not hold us. */
	zmq_setsockopt(w->sock, ZMQ_LINGER, &linger, sizeof(linger));
	/* ZMTP heartbeats: a silent peer (a node that died) drops the connection. */
	zmq_setsockopt(w->sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl));
	zmq_setsockopt(w->sock, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof(timeout));
	if (open_monitor(w, err, errlen) < 0)
		goto fail;
	if (zmq_connect(w->sock, endpoint) < 0) {
		pmp_err(err, errlen, "pmp: cannot connect to the controller at %s (%s)", endpoint, zmq_strerror(errno));
		goto fail;
	}
	gethostname(host, sizeof(host) - 1);
	const char *node = getenv("SLURMD_NODENAME");
	snprintf(info, sizeof(info), "pid %d on %s", (int)getpid(), node && *node ? node : host);
	struct pmp_header h = {PMP_MSG_READY, 0, (uint64_t)id};
	pmp_frame f = {info, strlen(info)};
	if (pmp_send(w->sock, NULL, &h, &f, 1) < 0) {
		pmp_err(err, errlen, "pmp: cannot say ready to the controller (%s)", zmq_strerror(errno));
		goto fail;
	}
	return w;
fail:
	pmp_worker_close(w);
	return NULL;
}

/* A monitor event: true when the controller is gone. */
static bool controller_gone(pmp_worker *w)
{
	zmq_msg_t ev, addr;
	bool gone = false;
	zmq_msg_init(&ev);
	zmq_msg_init(&addr);
	if (zmq_msg_recv(&ev, w->monitor, 0) >= 0 && zmq_msg_more(&ev) && zmq_msg_recv(&addr, w->monitor, 0) >= 0 &&
	    zmq_msg_size(&ev) >= 2) {
		uint16_t event;
		memcpy(&event, zmq_msg_data(&ev), sizeof(event));
		if (event == ZMQ_EVENT_CONNECTED)
			w->connected = true;
		else if (event == ZMQ_EVENT_DISCONNECTED && w->connected)
			gone = true;
	}
	zmq_msg_close(&ev);
	zmq_msg_close(&addr);
	return gone;
}

int pmp_worker_recv(pmp_worker *w, pmp_request *req, char *err, size_t errlen)
{
	memset(req, 0, sizeof(*req));
	for (;;) {
		zmq_pollitem_t items[2] = {{w->sock, 0, ZMQ_POLLIN, 0}, {w->monitor, 0, ZMQ_POLLIN, 0}};
		if (zmq_poll(items, 2, -1) < 0) {
			if (errno == EINTR)
				return pmp_err(err, errlen, "pmp: interrupted");
			return pmp_err(err, errlen, "pmp: waiting for work failed (%s)", zmq_strerror(errno));
		}
		if ((items[1].revents & ZMQ_POLLIN) && controller_gone(w)) {
			req->kind = PMP_REQUEST_SHUTDOWN;
			return 0;
		}
		if (!(items[0].revents & ZMQ_POLLIN))
			continue;
		pmp_msg *m = pmp_msg_recv(w->sock, PMP_MAX_FRAMES + 1, ZMQ_DONTWAIT);
		if (!m) {
			if (errno == EAGAIN || errno == EMSGSIZE)
				continue;
			return pmp_err(err, errlen, "pmp: receiving work failed (%s)", zmq_strerror(errno));
		}
		struct pmp_header h;
		pmp_frame head = pmp_msg_frame(m, 0);
		if (pmp_header_decode(head.data, head.size, &h) < 0 || !pmp_type_to_worker(h.type)) {
			pmp_msg_free(m);
			continue; /* not pmp: ignore */
		}
		req->task = h.id;
		req->last = (h.flags & PMP_FLAG_LAST) != 0;
		req->kind = h.type == PMP_MSG_TASK ? PMP_REQUEST_TASK
			    : h.type == PMP_MSG_INIT ? PMP_REQUEST_INIT : PMP_REQUEST_SHUTDOWN;
		if (req->kind != PMP_REQUEST_SHUTDOWN && !(req->msg = pmp_msg_split(m, 1))) {
			pmp_msg_free(m);
			return pmp_err(err, errlen, "pmp: out of memory receiving work");
		}
		pmp_msg_free(m);
		return 0;
	}
}

int pmp_worker_send(pmp_worker *w, uint64_t task, enum pmp_status status, const pmp_frame *frames,
		    size_t n, char *err, size_t errlen)
{
	struct pmp_header h = {PMP_MSG_RESULT, status == PMP_ERROR ? PMP_FLAG_ERROR : 0, task};
	if (n > PMP_MAX_FRAMES)
		return pmp_err(err, errlen, "pmp: a result has more than %d buffers: return fewer, larger "
			       "objects", PMP_MAX_FRAMES);
	if (pmp_send(w->sock, NULL, &h, frames, n) < 0)
		return pmp_err(err, errlen, "pmp: sending a result failed (%s)", zmq_strerror(errno));
	return 0;
}

void pmp_worker_close(pmp_worker *w)
{
	if (!w)
		return;
	if (w->sock)
		zmq_socket_monitor(w->sock, NULL, 0);
	if (w->monitor)
		zmq_close(w->monitor);
	if (w->sock)
		zmq_close(w->sock);
	if (w->zctx)
		zmq_ctx_term(w->zctx);
	free(w);
}
