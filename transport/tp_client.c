/* tp_client.c: the client library: one REQ socket, no resends.
 * SPDX-License-Identifier: MIT */
#include "countersign.h"

#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

struct cs_client {
	nng_socket sock;
};

cs_err
cs_client_open(const char *url, cs_client **out, char **cause)
{
	cs_client *c;
	int rv;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return CS_ENOMEM;
	if ((rv = nng_req0_open(&c->sock)) != 0)
		goto fail;
	if ((rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
	    16u << 20)) != 0)
		goto fail;
	if ((rv = nng_dial(c->sock, url, NULL, 0)) != 0)
		goto fail;
	*out = c;
	return CS_OK;
fail:
	cs_set_cause(cause, "cannot reach countersignd at %s: %s", url,
	    nng_strerror(rv));
	nng_close(c->sock);
	free(c);
	return CS_ETRANSPORT;
}

cs_err
cs_client_call(cs_client *c, const char *req, size_t len, int64_t timeout_ms,
    char **reply, size_t *reply_len, char **cause)
{
	nng_msg *msg;
	char *buf;
	int rv;

	if (timeout_ms > INT32_MAX)
		timeout_ms = INT32_MAX;
	if ((rv = nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO,
	    (nng_duration) timeout_ms)) != 0)
		goto fail;
	if ((rv = nng_msg_alloc(&msg, 0)) != 0)
		goto fail;
	if ((rv = nng_msg_append(msg, req, len)) != 0 ||
	    (rv = nng_sendmsg(c->sock, msg, 0)) != 0) {
		nng_msg_free(msg);
		goto fail;
	}
	if ((rv = nng_recvmsg(c->sock, &msg, 0)) != 0)
		goto fail;
	if ((buf = malloc(nng_msg_len(msg) + 1)) == NULL) {
		nng_msg_free(msg);
		return CS_ENOMEM;
	}
	memcpy(buf, nng_msg_body(msg), nng_msg_len(msg));
	buf[nng_msg_len(msg)] = '\0';
	if (reply_len != NULL)
		*reply_len = nng_msg_len(msg);
	nng_msg_free(msg);
	*reply = buf;
	return CS_OK;
fail:
	cs_set_cause(cause, "countersignd: %s", nng_strerror(rv));
	return rv == NNG_ETIMEDOUT ? CS_ETIMEDOUT : CS_ETRANSPORT;
}

cs_err
cs_client_call_json(cs_client *c, const json_t *req, int64_t timeout_ms,
    json_t **reply, char **cause)
{
	char *text, *buf = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *root;
	cs_err rv;

	if ((text = json_dumps(req, JSON_COMPACT)) == NULL)
		return CS_ENOMEM;
	rv = cs_client_call(c, text, strlen(text), timeout_ms, &buf, &len,
	    cause);
	free(text);
	if (rv != CS_OK)
		return rv;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		cs_set_cause(cause, "countersignd sent an unreadable reply");
		return CS_EPARSE;
	}
	*reply = root;
	return CS_OK;
}

void
cs_client_close(cs_client *c)
{
	if (c == NULL)
		return;
	nng_close(c->sock);
	free(c);
}
