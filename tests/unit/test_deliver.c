/* SPDX-License-Identifier: MIT */
/*
 * The delivery engine against a real HTTP server on loopback.
 *
 * The server is a small HTTP/1.1 keep-alive server written here (unit
 * tests are not linked with libmicrohttpd): it records every request in
 * arrival order, counts TCP connections, and can answer late or with a
 * chosen status. The last test runs the real build/nh-sink if it is built.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "nh_test.h"

#include "deliver.h"

/* ---- a loopback HTTP/1.1 server ------------------------------------------ */

#define MAX_CONNS 64

struct rec {
	char *body;
	size_t len;
	char *head; /* request line and headers, CRLF-separated */
};

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
	bool waiting;    /* a reply is due at reply_at */
	int64_t reply_at;
	int reply_status;
};

struct srv {
	int lfd, wake[2];
	uint16_t port;
	pthread_t thread;
	/* set before start */
	int status;          /* default 200 */
	int fail_first;      /* this many requests get fail_status first */
	int fail_status;
	unsigned delay_ms;
	/* results, under lock */
	pthread_mutex_t lock;
	struct rec *recs;
	size_t n_recs, cap_recs;
	unsigned connections, open, peak;
	struct conn conns[MAX_CONNS];
	size_t n_conns;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_close(struct srv *s, size_t i)
{
	close(s->conns[i].fd);
	free(s->conns[i].buf);
	s->conns[i] = s->conns[--s->n_conns];
	pthread_mutex_lock(&s->lock);
	s->open--;
	pthread_mutex_unlock(&s->lock);
}

static void send_reply(struct conn *c)
{
	char r[128];
	int n = snprintf(r, sizeof(r), "HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\nok",
			 c->reply_status);

	/* A client that timed out is gone: ignore the error. */
	(void)!send(c->fd, r, (size_t)n, MSG_NOSIGNAL);
	c->waiting = false;
}

/* Takes one complete request off c->buf if there is one. */
static bool take_request(struct srv *s, struct conn *c)
{
	char *end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
	size_t head_len, clen = 0, total;
	struct rec r;
	char *p;

	if (!end)
		return false;
	head_len = (size_t)(end - c->buf);
	for (p = c->buf; p && p < end; p = memchr(p, '\n', (size_t)(end - p)), p = p ? p + 1 : p)
		if (strncasecmp(p, "content-length:", 15) == 0)
			clen = strtoul(p + 15, NULL, 10);
	total = head_len + 4 + clen;
	if (c->len < total)
		return false;

	r.head = strndup(c->buf, head_len);
	r.len = clen;
	r.body = malloc(clen + 1);
	memcpy(r.body, end + 4, clen);
	r.body[clen] = '\0';
	memmove(c->buf, c->buf + total, c->len - total);
	c->len -= total;

	pthread_mutex_lock(&s->lock);
	if (s->n_recs == s->cap_recs) {
		s->cap_recs = s->cap_recs ? s->cap_recs * 2 : 64;
		s->recs = realloc(s->recs, s->cap_recs * sizeof(*s->recs));
	}
	s->recs[s->n_recs++] = r;
	pthread_mutex_unlock(&s->lock);

	if (s->fail_first > 0) {
		s->fail_first--;
		c->reply_status = s->fail_status;
	} else {
		c->reply_status = s->status;
	}
	c->waiting = true;
	c->reply_at = now_ms() + s->delay_ms;
	return true;
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p[MAX_CONNS + 2];
		int timeout = -1;
		int64_t t = now_ms();

		p[0] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
		p[1] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		for (size_t i = 0; i < s->n_conns; i++) {
			struct conn *c = &s->conns[i];

			p[i + 2] = (struct pollfd){ .fd = c->fd, .events = c->waiting ? 0 : POLLIN };
			if (c->waiting) {
				int64_t left = c->reply_at - t;

				left = left < 0 ? 0 : left;
				if (timeout < 0 || left < timeout)
					timeout = (int)left;
			}
		}
		if (poll(p, s->n_conns + 2, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		/* Connections: newest last, so visit from the end to survive
		 * conn_close's swap. */
		t = now_ms();
		for (size_t i = s->n_conns; i-- > 0;) {
			struct conn *c = &s->conns[i];

			if (c->waiting && c->reply_at <= t)
				send_reply(c);
			if (p[i + 2].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t n;

				if (c->cap - c->len < 4096) {
					c->cap = c->cap ? c->cap * 2 : 8192;
					c->buf = realloc(c->buf, c->cap);
				}
				n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
				if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
					conn_close(s, i);
					continue;
				}
				if (n > 0)
					c->len += (size_t)n;
			}
			while (!c->waiting && take_request(s, c))
				if (s->delay_ms == 0)
					send_reply(c);
		}
		if ((p[1].revents & POLLIN) && s->n_conns < MAX_CONNS) {
			int fd = accept(s->lfd, NULL, NULL);

			if (fd >= 0) {
				s->conns[s->n_conns++] = (struct conn){ .fd = fd };
				pthread_mutex_lock(&s->lock);
				s->connections++;
				if (++s->open > s->peak)
					s->peak = s->open;
				pthread_mutex_unlock(&s->lock);
			}
		}
	}
	return NULL;
}

static struct srv *srv_new(void)
{
	struct srv *s = calloc(1, sizeof(*s));

	s->status = 200;
	s->fail_status = 503;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

static void srv_start(struct srv *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int one = 1;

	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 128), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pipe(s->wake), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void srv_free(struct srv *s)
{
	(void)!write(s->wake[1], "x", 1);
	pthread_join(s->thread, NULL);
	while (s->n_conns)
		conn_close(s, s->n_conns - 1);
	close(s->lfd);
	close(s->wake[0]);
	close(s->wake[1]);
	for (size_t i = 0; i < s->n_recs; i++) {
		free(s->recs[i].body);
		free(s->recs[i].head);
	}
	free(s->recs);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static size_t srv_count(struct srv *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->n_recs;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void url_of(const struct srv *s, char *url, size_t len)
{
	snprintf(url, len, "http://127.0.0.1:%u/hook", s->port);
}

/* Does the header block hold this exact "Name: value" line (name case-
 * insensitive)? Returns how many lines have this name. */
static int header_count(const char *head, const char *name, const char *value)
{
	size_t nl = strlen(name);
	int n = 0;

	for (const char *p = head; p; p = strstr(p, "\r\n"), p = p ? p + 2 : p) {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			const char *e = strstr(v, "\r\n");
			size_t vl = e ? (size_t)(e - v) : strlen(v);

			while (vl && *v == ' ')
				v++, vl--;
			if (!value || (strlen(value) == vl && memcmp(v, value, vl) == 0))
				n++;
		}
	}
	return n;
}

/* ---- helpers --------------------------------------------------------------- */

struct done_log {
	unsigned calls;
	int last_status;
	CURLcode last_rc;
	struct nh_deliver *d;  /* for resubmission */
	unsigned resubmit_on;  /* status that gets one resubmission */
	unsigned resubmitted;
};

/* Submits a body as its own item, spread over the lanes in turn. */
static int submit_body(struct nh_deliver *d, char *body, size_t len)
{
	static uint64_t seq;
	struct nh_deliver_item it = { .body = body, .len = len, .seq = seq, .key = seq };

	if (nh_deliver_submit_item(d, &it) < 0)
		return -1;
	seq++;
	return 0;
}

static void on_result(void *ctx, struct nh_deliver_item *it, const struct nh_deliver_result *r)
{
	struct done_log *l = ctx;

	l->calls++;
	l->last_status = r->http_status;
	l->last_rc = r->rc;
	if (l->resubmit_on && r->http_status == (int)l->resubmit_on && !l->resubmitted) {
		l->resubmitted++;
		if (submit_body(l->d, it->body, it->len) == 0)
			return;
	}
	free(it->body);
}

static struct nh_deliver *deliver_for(const char *url, unsigned pool, unsigned timeout_ms,
				      size_t queue_max, struct done_log *log)
{
	struct nh_deliver_opts o = { .url = url, .pool_size = pool, .timeout_ms = timeout_ms,
				     .queue_max = queue_max, .on_result = log ? on_result : NULL,
				     .ctx = log };
	char err[256] = "";
	struct nh_deliver *d = nh_deliver_new(&o, err, sizeof(err));

	if (!d)
		fail_msg("nh_deliver_new: %s", err);
	if (log)
		log->d = d;
	return d;
}

static char *make_body(unsigned i, size_t *len)
{
	char *b = malloc(256);
	int n = snprintf(b, 256, "{\"seq\":%u,\"pad\":\"%.*s\"}", i, (int)(i % 97),
			 "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
			 "0123456789abcdefghijklmnopqrstuvwxyz0123456789");
	*len = (size_t)n;
	return b;
}

static void submit_n(struct nh_deliver *d, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		size_t len;
		char *b = make_body(i, &len);

		assert_int_equal(submit_body(d, b, len), 0);
	}
}

/* ---- tests ----------------------------------------------------------------- */

static void one_connection_keeps_submission_order(void **state)
{
	struct srv *s = srv_new();
	struct nh_deliver_stats st;
	struct nh_deliver *d;
	char url[64];

	(void)state;
	srv_start(s);
	url_of(s, url, sizeof(url));
	d = deliver_for(url, 1, 5000, 1000, NULL);
	submit_n(d, 500);
	assert_int_equal(nh_deliver_in_flight(d), 500);
	assert_int_equal(nh_deliver_drain(d, 20000), 0);

	assert_int_equal(srv_count(s), 500);
	for (unsigned i = 0; i < 500; i++) {
		size_t len;
		char *want = make_body(i, &len);

		assert_int_equal(s->recs[i].len, len);
		assert_memory_equal(s->recs[i].body, want, len);
		free(want);
	}
	/* One pooled connection carried all 500 requests. */
	assert_int_equal(s->connections, 1);
	nh_deliver_stats(d, &st);
	assert_int_equal(st.posted_ok, 500);
	assert_int_equal(st.by_status[2], 500);
	assert_int_equal(st.failed_http + st.failed_transport + st.failed_timeout, 0);
	nh_deliver_free(d);
	srv_free(s);
}

static int cmp_seq(const void *a, const void *b)
{
	unsigned x = (unsigned)strtoul(((const struct rec *)a)->body + 7, NULL, 10);
	unsigned y = (unsigned)strtoul(((const struct rec *)b)->body + 7, NULL, 10);

	return (x > y) - (x < y);
}

static void pool_of_four_reuses_its_connections(void **state)
{
	struct srv *s = srv_new();
	struct nh_deliver_stats st;
	struct nh_deliver *d;
	char url[64];

	(void)state;
	srv_start(s);
	url_of(s, url, sizeof(url));
	d = deliver_for(url, 4, 5000, 1000, NULL);
	submit_n(d, 500);
	assert_int_equal(nh_deliver_drain(d, 20000), 0);

	assert_int_equal(srv_count(s), 500);
	qsort(s->recs, 500, sizeof(*s->recs), cmp_seq);
	for (unsigned i = 0; i < 500; i++) {
		size_t len;
		char *want = make_body(i, &len);

		assert_int_equal(s->recs[i].len, len);
		assert_memory_equal(s->recs[i].body, want, len);
		free(want);
	}
	assert_in_range(s->connections, 1, 4);
	nh_deliver_stats(d, &st);
	assert_int_equal(st.posted_ok, 500);
	nh_deliver_free(d);
	srv_free(s);
}

static void pool_size_requests_run_at_once(void **state)
{
	struct srv *s = srv_new();
	struct nh_deliver *d;
	char url[64];

	(void)state;
	s->delay_ms = 300;
	srv_start(s);
	url_of(s, url, sizeof(url));
	d = deliver_for(url, 4, 5000, 100, NULL);
	submit_n(d, 8);
	assert_int_equal(nh_deliver_drain(d, 30000), 0);
	/* Four at once (the endpoint saw four requests open together), not
	 * eight in a row. */
	assert_int_equal(srv_count(s), 8);
	assert_int_equal(s->peak, 4);
	assert_int_equal(s->connections, 4);
	nh_deliver_free(d);
	srv_free(s);
}

static void configured_headers_are_sent(void **state)
{
	struct nh_header h[] = { { "X-Token", "abc 123" }, { "X-Empty", "" } };
	struct nh_deliver_opts o = { .pool_size = 1, .timeout_ms = 5000, .queue_max = 10,
				     .headers = h, .n_headers = 2 };
	struct srv *s = srv_new();
	struct nh_deliver *d;
	char url[64], err[256];
	const char *head;

	(void)state;
	srv_start(s);
	url_of(s, url, sizeof(url));
	o.url = url;
	d = nh_deliver_new(&o, err, sizeof(err));
	assert_non_null(d);
	submit_n(d, 1);
	assert_int_equal(nh_deliver_drain(d, 5000), 0);
	assert_int_equal(srv_count(s), 1);
	head = s->recs[0].head;
	assert_true(strncmp(head, "POST /hook HTTP/1.1\r\n", 21) == 0);
	assert_int_equal(header_count(head, "X-Token", "abc 123"), 1);
	assert_int_equal(header_count(head, "X-Empty", ""), 1);
	assert_int_equal(header_count(head, "Content-Type", "application/json"), 1);
	assert_int_equal(header_count(head, "Expect", NULL), 0);
	nh_deliver_free(d);
	srv_free(s);
}

static void configured_content_type_replaces_the_default(void **state)
{
	struct nh_header h[] = { { "content-type", "text/plain; charset=utf-8" } };
	struct nh_deliver_opts o = { .pool_size = 1, .timeout_ms = 5000, .queue_max = 10,
				     .headers = h, .n_headers = 1 };
	struct srv *s = srv_new();
	struct nh_deliver *d;
	char url[64], err[256];

	(void)state;
	srv_start(s);
	url_of(s, url, sizeof(url));
	o.url = url;
	d = nh_deliver_new(&o, err, sizeof(err));
	assert_non_null(d);
	submit_n(d, 1);
	assert_int_equal(nh_deliver_drain(d, 5000), 0);
	assert_int_equal(srv_count(s), 1);
	assert_int_equal(header_count(s->recs[0].head, "Content-Type", NULL), 1);
	assert_int_equal(header_count(s->recs[0].head, "Content-Type", "text/plain; charset=utf-8"), 1);
	nh_deliver_free(d);
	srv_free(s);
}

/* curl would send "Expect: 100-continue" with a body over 1 MiB and wait a
 * second for a "100 Continue" that many servers (this one) never send. */
static void large_body_goes_out_whole_without_expect(void **state)
{
	size_t len = 2u << 20;
	char *body = malloc(len);
	struct srv *s = srv_new();
	struct nh_deliver *d;
	char url[64];

	(void)state;
	for (size_t i = 0; i < len; i++)
		body[i] = (char)('a' + i % 26);
	body[len / 2] = '\0'; /* a binary body is sent whole, never strlen'd */
	srv_start(s);
	url_of(s, url, sizeof(url));
	d = deliver_for(url, 1, 5000, 10, NULL);
	assert_int_equal(submit_body(d, body, len), 0);
	assert_int_equal(nh_deliver_drain(d, 30000), 0);
	assert_int_equal(srv_count(s), 1);
	/* No "Expect: 100-continue": curl would hold the body for a second
	 * waiting for an answer this endpoint never sends. */
	assert_int_equal(header_count(s->recs[0].head, "Expect", NULL), 0);
	assert_int_equal(s->recs[0].len, len);
	for (size_t i = 0; i < len; i++)
		if (s->recs[0].body[i] != (i == len / 2 ? '\0' : (char)('a' + i % 26)))
			fail_msg("byte %zu differs", i);
	nh_deliver_free(d);
	srv_free(s);
}

static void status_500_is_failed_http(void **state)
{
	struct done_log log = { 0 };
	struct srv *s = srv_new();
	struct nh_deliver_stats st;
	struct nh_deliver *d;
	char url[64];

	(void)state;
	s->status = 500;
	srv_start(s);
	url_of(s, url, sizeof(url));
	d = deliver_for(url, 2, 5000, 10, &log);
	submit_n(d, 1);
	assert_int_equal(nh_deliver_drain(d, 5000), 0);
	nh_deliver_stats(d, &st);
	assert_int_equal(st.failed_http, 1);
	assert_int_equal(st.by_status[5], 1);
	assert_int_equal(st.posted_ok, 0);
	assert_int_equal(log.calls, 1);
	assert_int_equal(log.last_status, 500);
	assert_int_equal(log.last_rc, CURLE_OK);
	nh_deliver_free(d);
	srv_free(s);
}

static void slow_reply_is_failed_timeout(void **state)
{
	struct done_log log = { 0 };
	struct srv *s = srv_new();
	struct nh_deliver_stats st;
	struct nh_deliver *d;
	char url[64];

	(void)state;
	s->delay_ms = 3000;
	srv_start(s);
	url_of(s, url, sizeof(url));
	d = deliver_for(url, 1, 200, 10, &log);
	submit_n(d, 1);
	assert_int_equal(nh_deliver_drain(d, 30000), 0);
	nh_deliver_stats(d, &st);
	assert_int_equal(st.failed_timeout, 1);
	assert_int_equal(st.posted_ok + st.failed_http + st.failed_transport, 0);
	assert_int_equal(log.last_rc, CURLE_OPERATION_TIMEDOUT);
	nh_deliver_free(d);
	srv_free(s);
}

static void refused_connection_is_failed_transport(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct done_log log = { 0 };
	struct nh_deliver_stats st;
	struct nh_deliver *d;
	char url[64];
	int fd;

	(void)state;
	/* A port that was just free and has no listener. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", ntohs(a.sin_port));

	d = deliver_for(url, 2, 2000, 10, &log);
	submit_n(d, 3);
	assert_int_equal(nh_deliver_drain(d, 5000), 0);
	nh_deliver_stats(d, &st);
	assert_int_equal(st.failed_transport, 3);
	assert_int_equal(st.posted_ok + st.failed_http + st.failed_timeout, 0);
	assert_int_equal(log.calls, 3);
	assert_int_equal(log.last_status, 0);
	assert_int_equal(log.last_rc, CURLE_COULDNT_CONNECT);
	nh_deliver_free(d);
}

static void full_queue_refuses_and_keeps_order(void **state)
{
	struct srv *s = srv_new();
	struct nh_deliver_stats st;
	struct nh_deliver *d;
	char url[64], *extra;
	size_t len;

	(void)state;
	srv_start(s);
	url_of(s, url, sizeof(url));
	d = deliver_for(url, 1, 5000, 3, NULL);
	submit_n(d, 4); /* one running, three queued */
	extra = make_body(99, &len);
	assert_int_equal(submit_body(d, extra, len), -1);
	free(extra); /* still ours after -1 */
	assert_int_equal(nh_deliver_in_flight(d), 4);
	nh_deliver_stats(d, &st);
	assert_int_equal(st.queue_full, 1);

	assert_int_equal(nh_deliver_drain(d, 5000), 0);
	assert_int_equal(srv_count(s), 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(strtoul(s->recs[i].body + 7, NULL, 10), i);
	/* Room again once the queue has drained. */
	extra = make_body(4, &len);
	assert_int_equal(submit_body(d, extra, len), 0);
	assert_int_equal(nh_deliver_drain(d, 5000), 0);
	assert_int_equal(srv_count(s), 5);
	nh_deliver_free(d);
	srv_free(s);
}

static void on_result_can_take_and_resubmit_the_body(void **state)
{
	struct done_log log = { .resubmit_on = 503 };
	struct srv *s = srv_new();
	struct nh_deliver_stats st;
	struct nh_deliver *d;
	char url[64];

	(void)state;
	s->fail_first = 1;
	srv_start(s);
	url_of(s, url, sizeof(url));
	d = deliver_for(url, 1, 5000, 10, &log);
	submit_n(d, 1);
	assert_int_equal(nh_deliver_drain(d, 5000), 0);
	assert_int_equal(srv_count(s), 2);
	assert_string_equal(s->recs[0].body, s->recs[1].body);
	nh_deliver_stats(d, &st);
	assert_int_equal(st.failed_http, 1);
	assert_int_equal(st.posted_ok, 1);
	assert_int_equal(log.calls, 2);
	assert_int_equal(log.last_status, 200);
	nh_deliver_free(d);
	srv_free(s);
}

static void drain_gives_up_at_its_deadline(void **state)
{
	struct done_log log = { 0 };
	struct srv *s = srv_new();
	struct nh_deliver *d;
	char url[64];
	int64_t t0;

	(void)state;
	s->delay_ms = 5000;
	srv_start(s);
	url_of(s, url, sizeof(url));
	d = deliver_for(url, 1, 0, 10, &log);
	submit_n(d, 3);
	t0 = now_ms();
	assert_int_equal(nh_deliver_drain(d, 200), 3);
	/* Not before its deadline (the monotonic clock cannot run fast), and
	 * before the endpoint's first answer (5 s): nothing was answered. */
	assert_true(now_ms() - t0 >= 200);
	assert_int_equal(log.calls, 0);
	nh_deliver_free(d); /* frees the running and queued bodies */
	srv_free(s);
}

static void *wake_later(void *arg)
{
	struct timespec ts = { 0, 100 * 1000000 };

	nanosleep(&ts, NULL);
	nh_deliver_wakeup(arg);
	return NULL;
}

static void poll_returns_for_extra_fd_and_wakeup(void **state)
{
	struct nh_deliver *d = deliver_for("http://127.0.0.1:9/hook", 1, 1000, 1, NULL);
	uint64_t one = 1;
	pthread_t th;
	int64_t t0;
	int efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	/* Nothing ready: the full timeout passes. */
	t0 = now_ms();
	assert_int_equal(nh_deliver_poll(d, efd, 100), 0);
	assert_true(now_ms() - t0 >= 90);

	/* The caller's fd is readable: back long before the timeout (60 s;
	 * only a wakeup can bring it back within half of that). */
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
	t0 = now_ms();
	assert_int_equal(nh_deliver_poll(d, efd, 60000), 0);
	assert_true(now_ms() - t0 < 30000);

	/* Another thread wakes it. */
	assert_int_equal(pthread_create(&th, NULL, wake_later, d), 0);
	t0 = now_ms();
	assert_int_equal(nh_deliver_poll(d, -1, 60000), 0);
	assert_true(now_ms() - t0 < 30000);
	pthread_join(th, NULL);

	close(efd);
	nh_deliver_free(d);
}

static void bad_options_are_refused(void **state)
{
	struct nh_header crlf[] = { { "X-A", "v\r\nX-Injected: 1" } };
	struct nh_header colon[] = { { "X:A", "v" } };
	struct nh_deliver_opts o = { .url = "http://127.0.0.1:1/", .pool_size = 1 };
	struct nh_deliver_opts b;
	char err[256];

	(void)state;
	b = o, b.url = NULL;
	err[0] = '\0';
	assert_null(nh_deliver_new(&b, err, sizeof(err)));
	assert_true(err[0]);
	b = o, b.url = "ftp://127.0.0.1/x";
	err[0] = '\0';
	assert_null(nh_deliver_new(&b, err, sizeof(err)));
	assert_non_null(strstr(err, "http"));
	b = o, b.url = "http://[::1/x";
	err[0] = '\0';
	assert_null(nh_deliver_new(&b, err, sizeof(err)));
	assert_true(err[0]);
	b = o, b.pool_size = 0;
	err[0] = '\0';
	assert_null(nh_deliver_new(&b, err, sizeof(err)));
	assert_non_null(strstr(err, "pool_size"));
	b = o, b.headers = crlf, b.n_headers = 1;
	err[0] = '\0';
	assert_null(nh_deliver_new(&b, err, sizeof(err)));
	assert_non_null(strstr(err, "X-A"));
	b = o, b.headers = colon, b.n_headers = 1;
	assert_null(nh_deliver_new(&b, err, sizeof(err)));
}

/* ---- the real sink --------------------------------------------------------- */

static void nh_sink_receives_everything(void **state)
{
	char exe[4096], sink[4200], out[] = "/tmp/nh-sink-test-XXXXXX", errf[64];
	char port_line[128], url[64], *line = NULL, *slash;
	size_t cap = 0, n = 0;
	int pfd[2], st, ofd, efd;
	unsigned port, conns = 0;
	ssize_t len;
	pid_t pid;
	FILE *f;

	(void)state;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(len > 0);
	exe[len] = '\0';
	slash = strrchr(exe, '/');
	*slash = '\0';
	/* build/tests/test_deliver -> build/nh-sink */
	snprintf(sink, sizeof(sink), "%s/../nh-sink", exe);
	if (access(sink, X_OK) != 0) {
		NH_SKIP("%s not built (make builds it before the unit tests)", sink);
	}
	ofd = mkstemp(out);
	assert_true(ofd >= 0);
	close(ofd);
	snprintf(errf, sizeof(errf), "%s.err", out);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		efd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(efd, 2);
		execl(sink, sink, "--listen", "127.0.0.1:0", "--out", out, "--expect", "300",
		      "--timeout", "20", "--count", "--path", "/hook", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	assert_non_null(fgets(port_line, sizeof(port_line), f));
	assert_int_equal(sscanf(port_line, "listening on 127.0.0.1:%u", &port), 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", port);

	{
		struct nh_deliver *d = deliver_for(url, 4, 5000, 1000, NULL);
		struct nh_deliver_stats ds;

		submit_n(d, 300);
		assert_int_equal(nh_deliver_drain(d, 20000), 0);
		nh_deliver_stats(d, &ds);
		assert_int_equal(ds.posted_ok, 300);
		nh_deliver_free(d);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	fclose(f);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);

	/* Every body, byte for byte, one per line. */
	{
		bool *seen = calloc(300, sizeof(bool));

		f = fopen(out, "r");
		assert_non_null(f);
		while ((len = getline(&line, &cap, f)) > 0) {
			unsigned seq = (unsigned)strtoul(line + 7, NULL, 10);
			size_t blen;
			char *want;

			assert_true(seq < 300 && !seen[seq]);
			seen[seq] = true;
			want = make_body(seq, &blen);
			assert_int_equal((size_t)len, blen + 1);
			assert_memory_equal(line, want, blen);
			free(want);
			n++;
		}
		fclose(f);
		free(seen);
		assert_int_equal(n, 300);
	}
	f = fopen(errf, "r");
	assert_non_null(f);
	while (getline(&line, &cap, f) > 0) {
		char *c = strstr(line, " connections=");

		if (c)
			conns = (unsigned)strtoul(c + 13, NULL, 10);
	}
	fclose(f);
	free(line);
	assert_in_range(conns, 1, 4);
	unlink(out);
	unlink(errf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_connection_keeps_submission_order),
		cmocka_unit_test(pool_of_four_reuses_its_connections),
		cmocka_unit_test(pool_size_requests_run_at_once),
		cmocka_unit_test(configured_headers_are_sent),
		cmocka_unit_test(configured_content_type_replaces_the_default),
		cmocka_unit_test(large_body_goes_out_whole_without_expect),
		cmocka_unit_test(status_500_is_failed_http),
		cmocka_unit_test(slow_reply_is_failed_timeout),
		cmocka_unit_test(refused_connection_is_failed_transport),
		cmocka_unit_test(full_queue_refuses_and_keeps_order),
		cmocka_unit_test(on_result_can_take_and_resubmit_the_body),
		cmocka_unit_test(drain_gives_up_at_its_deadline),
		cmocka_unit_test(poll_returns_for_extra_fd_and_wakeup),
		cmocka_unit_test(bad_options_are_refused),
		cmocka_unit_test(nh_sink_receives_everything),
	};

	/* The server writes to clients that may have given up. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
