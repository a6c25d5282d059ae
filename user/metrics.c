// SPDX-License-Identifier: MIT
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "buf.h"

#define CONNECTION_TIMEOUT_S 10
#define CONNECTIONS_MAX 16

struct nh_metrics {
	struct MHD_Daemon *daemon;
	nh_metrics_fill_fn fill;
	void *ctx;
	struct nh_buf text;
	char address[80];
};

int nh_metrics_parse_listen(const char *spec, struct sockaddr_storage *ss)
{
	char host[64];
	const char *port_s;
	char *end;
	unsigned long port;
	bool v6 = false;

	memset(ss, 0, sizeof(*ss));
	if (!spec)
		return -1;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host))
			return -1;
		memcpy(host, spec + 1, (size_t)(close - spec - 1));
		host[close - spec - 1] = '\0';
		port_s = close + 2;
		v6 = true;
	} else {
		const char *colon = strrchr(spec, ':');

		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			return -1;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		port_s = colon + 1;
	}
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (!*port_s || *end || errno || port > 65535 || *port_s == '-' || *port_s == '+')
		return -1;
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
	}
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *ctype,
			      const char *text, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)text,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	static const char not_found[] = "try /metrics\n";
	struct nh_metrics *m = cls;

	(void)version;
	(void)upload;
	if (!*req_cls) {
		/* Headers only: answer when the request is complete. */
		*req_cls = m;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* a body is not wanted; ignored */
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "", 0);
	if (strcmp(url, "/metrics") != 0)
		return answer(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found, sizeof(not_found) - 1);
	nh_buf_reset(&m->text);
	if (m->fill(m->ctx, &m->text) < 0)
		return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "", 0);
	return answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
		      m->text.data ? m->text.data : "", m->text.len);
}

struct nh_metrics *nh_metrics_start(const char *listen, nh_metrics_fill_fn fill, void *ctx,
				    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	struct nh_metrics *m;
	char host[INET6_ADDRSTRLEN] = "";
	bool v6;

	if (nh_metrics_parse_listen(listen, &ss) < 0) {
		snprintf(err, errlen, "metrics: '%s' is not ADDR:PORT (e.g. 127.0.0.1:9464)",
			 listen ? listen : "");
		return NULL;
	}
	v6 = ss.ss_family == AF_INET6;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->fill = fill;
	m->ctx = ctx;
	/* No thread: the main loop drives it (see metrics.h). */
	m->daemon = MHD_start_daemon(MHD_USE_EPOLL | (v6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
				     on_request, m,
				     MHD_OPTION_SOCK_ADDR, &ss,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
				     MHD_OPTION_END);
	if (!m->daemon) {
		snprintf(err, errlen, "metrics: cannot listen on %s", listen);
		free(m);
		return NULL;
	}
	info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (v6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
	snprintf(m->address, sizeof(m->address), v6 ? "[%s]:%u" : "%s:%u", host,
		 info ? info->port : 0);
	return m;
}

int nh_metrics_fd(const struct nh_metrics *m)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon,
							       MHD_DAEMON_INFO_EPOLL_FD);

	return info ? info->epoll_fd : -1;
}

void nh_metrics_run(struct nh_metrics *m)
{
	MHD_run(m->daemon);
}

const char *nh_metrics_address(const struct nh_metrics *m)
{
	return m->address;
}

void nh_metrics_stop(struct nh_metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->daemon);
	nh_buf_free(&m->text);
	free(m);
}
