/* SPDX-License-Identifier: MIT */
/*
 * Retries: the policy (what is retried, how long to wait, Retry-After),
 * then the delivery engine retrying against a scripted HTTP server on
 * loopback: order per key, a retry holding back only its own lane,
 * limits, handing items over (take/abort), reconfiguration.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "deliver.h"
#include "retry.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the policy ------------------------------------------------------------ */

static void what_is_retried(void **state)
{
	(void)state;
	assert_int_equal(nh_retry_classify(true, 200), NH_ATTEMPT_OK);
	assert_int_equal(nh_retry_classify(true, 204), NH_ATTEMPT_OK);
	assert_int_equal(nh_retry_classify(false, 0), NH_ATTEMPT_RETRY);
	assert_int_equal(nh_retry_classify(true, 408), NH_ATTEMPT_RETRY);
	assert_int_equal(nh_retry_classify(true, 429), NH_ATTEMPT_RETRY);
	assert_int_equal(nh_retry_classify(true, 500), NH_ATTEMPT_RETRY);
	assert_int_equal(nh_retry_classify(true, 503), NH_ATTEMPT_RETRY);
	assert_int_equal(nh_retry_classify(true, 599), NH_ATTEMPT_RETRY);
	assert_int_equal(nh_retry_classify(true, 400), NH_ATTEMPT_PERMANENT);
	assert_int_equal(nh_retry_classify(true, 401), NH_ATTEMPT_PERMANENT);
	assert_int_equal(nh_retry_classify(true, 404), NH_ATTEMPT_PERMANENT);
	assert_int_equal(nh_retry_classify(true, 413), NH_ATTEMPT_PERMANENT);
	assert_int_equal(nh_retry_classify(true, 301), NH_ATTEMPT_PERMANENT);
	assert_int_equal(nh_retry_classify(true, 600), NH_ATTEMPT_PERMANENT);
}

static void backoff_is_full_jitter_under_a_doubling_cap(void **state)
{
	struct nh_retry_policy p = { .max_attempts = 100, .initial_ms = 200, .max_delay_ms = 30000 };
	uint64_t rng = 12345;

	(void)state;
	for (unsigned failed = 1; failed <= 40; failed++) {
		uint64_t cap = failed >= 9 ? 30000 : 200ull << (failed - 1), top = 0, bottom = UINT64_MAX;

		if (cap > 30000)
			cap = 30000;
		for (int i = 0; i < 2000; i++) {
			uint64_t w = nh_retry_backoff_ms(&p, failed, nh_retry_random(&rng));

			assert_true(w <= cap);
			top = w > top ? w : top;
			bottom = w < bottom ? w : bottom;
		}
		/* Spread over the whole range, not clustered at the cap. */
		assert_true(top >= cap * 9 / 10);
		assert_true(bottom <= cap / 10);
	}
	/* The same random number gives the same wait. */
	assert_int_equal(nh_retry_backoff_ms(&p, 3, 777), nh_retry_backoff_ms(&p, 3, 777));
	assert_int_equal(nh_retry_backoff_ms(&p, 3, 800), 800); /* cap 800: rnd % 801 */
	assert_int_equal(nh_retry_backoff_ms(&p, 3, 801), 0);
}

static void retry_after_seconds_and_dates(void **state)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT */
	const int64_t t = 784111777;
	uint64_t ms;

	(void)state;
#define RA(s, now) nh_retry_after_parse(s, strlen(s), now, &ms)
	assert_int_equal(RA("120", t), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(RA(" 0 ", t), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(RA("99999999999999999999", t), 0);
	assert_true(ms >= 86400000ull);
	assert_int_equal(RA("Sun, 06 Nov 1994 08:49:37 GMT", t - 10), 0);
	assert_int_equal(ms, 10000);
	assert_int_equal(RA("Sunday, 06-Nov-94 08:49:37 GMT", t - 3), 0);
	assert_int_equal(ms, 3000);
	assert_int_equal(RA("Sun Nov  6 08:49:37 1994", t - 1), 0);
	assert_int_equal(ms, 1000);
	assert_int_equal(RA("Sun, 06 Nov 1994 08:49:37 GMT", t + 100), 0);
	assert_int_equal(ms, 0); /* in the past: now */
	assert_int_equal(RA("Tue, 29 Feb 2000 23:59:60 GMT", 0), 0);
	assert_int_equal(RA("", t), -1);
	assert_int_equal(RA("   ", t), -1);
	assert_int_equal(RA("-1", t), -1);
	assert_int_equal(RA("1.5", t), -1);
	assert_int_equal(RA("10s", t), -1);
	assert_int_equal(RA("Sun, 06 Nov 1994 08:49:37 UTC", t), -1);
	assert_int_equal(RA("Sun, 06 Nov 1994 25:49:37 GMT", t), -1);
	assert_int_equal(RA("Sun, 6 Nov 1994 08:49:37 GMT", t), -1);
	assert_int_equal(RA("Sun, 06 Nov 1994 08:49:37 GMT trailing", t), -1);
	assert_int_equal(RA("Sund, 06 Nov 1994 08:49:37 GMT", t), -1);
	/* Not NUL-terminated: only the given length counts. */
	assert_int_equal(nh_retry_after_parse("12345", 2, t, &ms), 0);
	assert_int_equal(ms, 12000);
#undef RA
}

/* ---- a scripted HTTP server -------------------------------------------------- */

#define MAX_CONNS 32
#define MAX_SCRIPT 64

struct action {
	int status;              /* 0: close the connection without a reply */
	const char *retry_after; /* header value or NULL */
	unsigned delay_ms;
	bool hold;               /* no reply until srv_release(): on the wire for sure */
};

struct got {
	char *body;
	int64_t at_ms;
	int status; /* what it was answered */
};

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
	bool waiting;
	int64_t reply_at;
	struct action act;
};

struct srv {
	int lfd, wake[2];
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t lock;
	struct action script[MAX_SCRIPT];
	size_t n_script, next;
	/* a body containing rule[i].match is always answered rule[i].act */
	struct {
		const char *match;
		struct action act;
	} rule[4];
	unsigned fail_every;     /* every Nth request (1-based) gets 503 */
	struct got *got;
	size_t n_got, cap_got;
	struct conn conns[MAX_CONNS];
	size_t n_conns;
	bool released;           /* held replies may go (__atomic) */
};

static bool released(struct srv *s)
{
	return __atomic_load_n(&s->released, __ATOMIC_ACQUIRE);
}

/* Lets the held replies go. */
static void srv_release(struct srv *s)
{
	__atomic_store_n(&s->released, true, __ATOMIC_RELEASE);
}

static void reply(struct conn *c)
{
	char r[256];
	int n;

	if (c->act.status == 0) {
		shutdown(c->fd, SHUT_RDWR);
		c->waiting = false;
		return;
	}
	n = snprintf(r, sizeof(r), "HTTP/1.1 %d X\r\nContent-Length: 0\r\n%s%s%s\r\n",
		     c->act.status, c->act.retry_after ? "Retry-After: " : "",
		     c->act.retry_after ? c->act.retry_after : "", c->act.retry_after ? "\r\n" : "");
	(void)!send(c->fd, r, (size_t)n, MSG_NOSIGNAL);
	c->waiting = false;
}

static bool take_request(struct srv *s, struct conn *c)
{
	char *end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
	size_t head_len, clen = 0, total;
	char *body;

	if (!end)
		return false;
	head_len = (size_t)(end - c->buf);
	for (char *p = c->buf; p && p < end; p = memchr(p, '\n', (size_t)(end - p)), p = p ? p + 1 : p)
		if (strncasecmp(p, "content-length:", 15) == 0)
			clen = strtoul(p + 15, NULL, 10);
	total = head_len + 4 + clen;
	if (c->len < total)
		return false;
	body = strndup(end + 4, clen);
	memmove(c->buf, c->buf + total, c->len - total);
	c->len -= total;

	pthread_mutex_lock(&s->lock);
	c->act.status = -1;
	for (size_t i = 0; i < 4 && s->rule[i].match; i++) {
		if (strstr(body, s->rule[i].match)) {
			c->act = s->rule[i].act;
			break;
		}
	}
	if (c->act.status >= 0)
		;
	else if (s->next < s->n_script)
		c->act = s->script[s->next++];
	else if (s->fail_every && (s->n_got + 1) % s->fail_every == 0)
		c->act = (struct action){ .status = 503 };
	else
		c->act = (struct action){ .status = 200 };
	if (s->n_got == s->cap_got) {
		s->cap_got = s->cap_got ? s->cap_got * 2 : 64;
		s->got = realloc(s->got, s->cap_got * sizeof(*s->got));
	}
	s->got[s->n_got++] = (struct got){ .body = body, .at_ms = now_ms(), .status = c->act.status };
	pthread_mutex_unlock(&s->lock);
	c->waiting = true;
	c->reply_at = now_ms() + c->act.delay_ms;
	return true;
}

static void conn_close(struct srv *s, size_t i)
{
	close(s->conns[i].fd);
	free(s->conns[i].buf);
	s->conns[i] = s->conns[--s->n_conns];
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd pf[MAX_CONNS + 2];
		int timeout = -1;
		int64_t t = now_ms();

		pf[0] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
		pf[1] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		for (size_t i = 0; i < s->n_conns; i++) {
			struct conn *c = &s->conns[i];

			pf[i + 2] = (struct pollfd){ .fd = c->fd, .events = c->waiting ? 0 : POLLIN };
			if (c->waiting) {
				/* held: look at the release flag every 10 ms */
				int64_t left = c->act.hold ? (released(s) ? 0 : 10)
					       : c->reply_at > t ? c->reply_at - t : 0;

				if (timeout < 0 || left < timeout)
					timeout = (int)left;
			}
		}
		if (poll(pf, s->n_conns + 2, timeout) < 0 && errno != EINTR)
			break;
		if (pf[0].revents)
			break;
		t = now_ms();
		for (size_t i = s->n_conns; i-- > 0;) {
			struct conn *c = &s->conns[i];

			if (c->waiting && (c->act.hold ? released(s) : c->reply_at <= t))
				reply(c);
			if (pf[i + 2].revents & (POLLIN | POLLHUP | POLLERR)) {
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
				if (c->act.delay_ms == 0 && !c->act.hold)
					reply(c);
		}
		if ((pf[1].revents & POLLIN) && s->n_conns < MAX_CONNS) {
			int fd = accept(s->lfd, NULL, NULL);

			if (fd >= 0)
				s->conns[s->n_conns++] = (struct conn){ .fd = fd };
		}
	}
	return NULL;
}

static struct srv *srv_start(const struct action *script, size_t n)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int one = 1;

	pthread_mutex_init(&s->lock, NULL);
	if (n)
		memcpy(s->script, script, n * sizeof(*script));
	s->n_script = n;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->lfd, 64), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pipe(s->wake), 0);
	return s;
}

static void srv_run(struct srv *s)
{
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
	for (size_t i = 0; i < s->n_got; i++)
		free(s->got[i].body);
	free(s->got);
	free(s);
}

static void url_of(const struct srv *s, char *url, size_t len)
{
	snprintf(url, len, "http://127.0.0.1:%u/hook", s->port);
}

/* A url nothing listens on. */
static void refused_url(char *url, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	close(fd);
	snprintf(url, len, "http://127.0.0.1:%u/hook", ntohs(a.sin_port));
}

/* ---- the engine with retries ---------------------------------------------------- */

#define MAX_RESULTS 1024

struct results {
	size_t n;
	struct {
		uint64_t seq, key, tag;
		uint32_t attempts;
		enum nh_deliver_outcome out;
		int status;
	} r[MAX_RESULTS];
};

static void on_result(void *ctx, struct nh_deliver_item *it, const struct nh_deliver_result *r)
{
	struct results *res = ctx;

	if (res->n < MAX_RESULTS) {
		res->r[res->n].seq = it->seq;
		res->r[res->n].key = it->key;
		res->r[res->n].tag = it->tag;
		res->r[res->n].attempts = it->attempts;
		res->r[res->n].out = r->outcome;
		res->r[res->n].status = r->http_status;
		res->n++;
	}
	free(it->body);
}

static struct nh_retry_policy policy(unsigned attempts, uint64_t initial, uint64_t max_delay)
{
	return (struct nh_retry_policy){ .max_attempts = attempts, .initial_ms = initial,
					 .max_delay_ms = max_delay, .max_age_ms = 3600000 };
}

/* A clock the test moves by hand: retries fall due when it says so, not
 * when a loaded machine gets round to it. */
struct fake_clock {
	struct nh_clock clock;
	int64_t now;
};

static int64_t fake_now(void *ctx)
{
	return ((struct fake_clock *)ctx)->now;
}

static void fake_clock_init(struct fake_clock *c)
{
	c->now = 1000000;
	c->clock = (struct nh_clock){ .now_ms = fake_now, .ctx = c };
}

static struct nh_deliver *engine_clocked(const char *url, unsigned pool, unsigned timeout_ms,
					 const struct nh_retry_policy *p, struct results *res,
					 const struct nh_clock *clock)
{
	struct nh_deliver_opts o = { .url = url, .pool_size = pool, .timeout_ms = timeout_ms,
				     .queue_max = 10000, .retry = p, .on_result = on_result,
				     .ctx = res, .clock = clock };
	char err[256] = "";
	struct nh_deliver *d = nh_deliver_new(&o, err, sizeof(err));

	if (!d)
		fail_msg("nh_deliver_new: %s", err);
	return d;
}

static struct nh_deliver *engine(const char *url, unsigned pool, unsigned timeout_ms,
				 const struct nh_retry_policy *p, struct results *res)
{
	return engine_clocked(url, pool, timeout_ms, p, res, NULL);
}

/* Polls until cond holds; a generous real-time bound only turns a hang
 * into a failure. */
#define POLL_UNTIL(d, cond)                                                        \
	do {                                                                       \
		int64_t poll_end_ = now_ms() + 30000;                              \
		while (!(cond)) {                                                  \
			if (now_ms() > poll_end_)                                  \
				fail_msg("still not %s after 30 s", #cond);        \
			assert_int_equal(nh_deliver_poll((d), -1, 20), 0);         \
		}                                                                  \
	} while (0)

/* Polls a few rounds: what can happen without the clock moving, does. */
static void poll_rounds(struct nh_deliver *d, int rounds)
{
	while (rounds--)
		assert_int_equal(nh_deliver_poll(d, -1, 10), 0);
}

static uint64_t wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void submit(struct nh_deliver *d, uint64_t seq, uint64_t key)
{
	struct nh_deliver_item it = { .seq = seq, .key = key, .captured_ms = wall_now(),
				      .tag = seq + 1000 };

	assert_true(asprintf(&it.body, "{\"key\":%llu,\"seq\":%llu}", (unsigned long long)key,
			     (unsigned long long)seq) > 0);
	it.len = strlen(it.body);
	assert_int_equal(nh_deliver_submit_item(d, &it), 0);
}

static uint64_t body_seq(const char *body)
{
	const char *p = strstr(body, "\"seq\":");

	return p ? strtoull(p + 6, NULL, 10) : UINT64_MAX;
}

static uint64_t body_key(const char *body)
{
	return strtoull(body + 7, NULL, 10);
}

static void status_503_503_200_delivers_once(void **state)
{
	static const struct action script[] = { { 503, NULL, 0 }, { 503, NULL, 0 }, { 200, NULL, 0 } };
	struct srv *s = srv_start(script, 3);
	struct nh_retry_policy p = policy(10, 20, 200);
	struct results res = { 0 };
	struct nh_deliver_stats st;
	struct nh_deliver *d;
	char url[64];

	(void)state;
	srv_run(s);
	url_of(s, url, sizeof(url));
	d = engine(url, 2, 2000, &p, &res);
	submit(d, 1, 7);
	assert_int_equal(nh_deliver_drain(d, 5000), 0);
	assert_int_equal(s->n_got, 3);
	for (size_t i = 1; i < 3; i++)
		assert_string_equal(s->got[i].body, s->got[0].body);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.r[0].out, NH_OUT_DELIVERED);
	assert_int_equal(res.r[0].attempts, 2);
	assert_int_equal(res.r[0].tag, 1001);
	nh_deliver_stats(d, &st);
	assert_int_equal(st.posted_ok, 1);
	assert_int_equal(st.failed_http, 2);
	assert_int_equal(st.retried, 2);
	assert_int_equal(st.latency_s.count, 1);
	assert_int_equal(st.request_s.count, 3);
	assert_int_equal(nh_deliver_failing_ms(d), 0);
	nh_deliver_free(d);
	srv_free(s);
}

static void status_400_is_final_and_others_go_on(void **state)
{
	static const struct action script[] = { { 400, NULL, 0 } };
	struct srv *s = srv_start(script, 1);
	struct nh_retry_policy p = policy(10, 20, 200);
	struct results res = { 0 };
	struct nh_deliver *d;
	char url[64];

	(void)state;
	srv_run(s);
	url_of(s, url, sizeof(url));
	d = engine(url, 1, 2000, &p, &res);
	submit(d, 1, 0);
	submit(d, 2, 0);
	assert_int_equal(nh_deliver_drain(d, 5000), 0);
	assert_int_equal(s->n_got, 2);
	assert_int_equal(res.n, 2);
	assert_int_equal(res.r[0].out, NH_OUT_REJECTED);
	assert_int_equal(res.r[0].status, 400);
	assert_int_equal(res.r[1].out, NH_OUT_DELIVERED);
	nh_deliver_free(d);
	srv_free(s);
}

static void max_attempts_then_gives_up(void **state)
{
	struct srv *s = srv_start(NULL, 0);
	struct nh_retry_policy p = policy(3, 10, 50);
	struct results res = { 0 };
	struct nh_deliver_stats st;
	struct nh_deliver *d;
	char url[64];

	(void)state;
	s->rule[0].match = "seq";
	s->rule[0].act = (struct action){ 500, NULL, 0 };
	srv_run(s);
	url_of(s, url, sizeof(url));
	d = engine(url, 1, 2000, &p, &res);
	submit(d, 1, 0);
	assert_int_equal(nh_deliver_drain(d, 5000), 0);
	assert_int_equal(s->n_got, 3);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.r[0].out, NH_OUT_GAVE_UP_ATTEMPTS);
	assert_int_equal(res.r[0].attempts, 3);
	assert_int_equal(res.r[0].status, 500);
	nh_deliver_stats(d, &st);
	assert_int_equal(st.retried, 2);
	assert_int_equal(st.gave_up_attempts, 1);
	assert_true(nh_deliver_failing_ms(d) >= 0);
	nh_deliver_free(d);
	srv_free(s);
}

static void max_age_then_gives_up(void **state)
{
	struct srv *s = srv_start(NULL, 0);
	struct nh_retry_policy p = policy(100, 10, 50);
	struct results res = { 0 };
	struct nh_deliver_item it = { .seq = 1, .captured_ms = wall_now() - 5000 };
	struct nh_deliver *d;
	char url[64];

	(void)state;
	p.max_age_ms = 1000;
	s->rule[0].match = "old";
	s->rule[0].act = (struct action){ 503, NULL, 0 };
	srv_run(s);
	url_of(s, url, sizeof(url));
	d = engine(url, 1, 2000, &p, &res);
	it.body = strdup("old");
	it.len = 3;
	assert_int_equal(nh_deliver_submit_item(d, &it), 0);
	assert_int_equal(nh_deliver_drain(d, 5000), 0);
	assert_int_equal(s->n_got, 1); /* tried once, never retried */
	assert_int_equal(res.r[0].out, NH_OUT_GAVE_UP_AGE);
	nh_deliver_free(d);
	srv_free(s);
}

static void retry_after_is_honoured_up_to_max_delay(void **state)
{
	static const struct action script[] = {
		{ 503, "1", 0 }, { 200, NULL, 0 },        /* waits 1 s */
		{ 429, "3600", 0 }, { 200, NULL, 0 },     /* capped at max_delay 300 ms */
	};
	struct srv *s = srv_start(script, 4);
	struct nh_retry_policy p = policy(10, 1, 300);
	struct results res = { 0 };
	struct fake_clock fc;
	struct nh_deliver *d;
	char url[64], err[256];

	(void)state;
	fake_clock_init(&fc);
	p.max_delay_ms = 1500;
	srv_run(s);
	url_of(s, url, sizeof(url));
	d = engine_clocked(url, 1, 5000, &p, &res, &fc.clock);
	submit(d, 1, 0);
	POLL_UNTIL(d, nh_deliver_next_retry_ms(d) >= 0);
	assert_int_equal(s->n_got, 1);
	/* Retry-After: 1 is one second from the answer, to the millisecond. */
	assert_int_equal(nh_deliver_next_retry_ms(d), 1000);
	fc.now += 999;
	poll_rounds(d, 5);
	assert_int_equal(s->n_got, 1);
	assert_int_equal(nh_deliver_next_retry_ms(d), 1);
	fc.now += 1;
	POLL_UNTIL(d, res.n == 1);
	assert_int_equal(s->n_got, 2);
	assert_int_equal(res.r[0].out, NH_OUT_DELIVERED);

	p.max_delay_ms = 300;
	assert_int_equal(nh_deliver_reconfigure(d, &(struct nh_deliver_opts){
		.url = url, .pool_size = 1, .timeout_ms = 5000, .queue_max = 100, .retry = &p },
		err, sizeof(err)), 0);
	submit(d, 2, 0);
	POLL_UNTIL(d, nh_deliver_next_retry_ms(d) >= 0);
	assert_int_equal(s->n_got, 3);
	/* Retry-After: 3600, but never longer than max_delay. */
	assert_int_equal(nh_deliver_next_retry_ms(d), 300);
	fc.now += 300;
	POLL_UNTIL(d, res.n == 2);
	assert_int_equal(s->n_got, 4);
	nh_deliver_free(d);
	srv_free(s);
}

static void each_key_keeps_its_order_through_retries(void **state)
{
	struct srv *s = srv_start(NULL, 0);
	struct nh_retry_policy p = policy(50, 1, 20);
	struct results res = { 0 };
	uint64_t last[8];
	struct nh_deliver *d;
	size_t delivered = 0;
	char url[64];

	(void)state;
	s->fail_every = 4; /* every 4th request gets 503 */
	srv_run(s);
	url_of(s, url, sizeof(url));
	d = engine(url, 4, 5000, &p, &res);
	for (uint64_t i = 0; i < 400; i++)
		submit(d, i, i % 8);
	assert_int_equal(nh_deliver_drain(d, 20000), 0);
	assert_int_equal(res.n, 400);
	for (size_t i = 0; i < res.n; i++)
		assert_int_equal(res.r[i].out, NH_OUT_DELIVERED);
	/* Arrival order at the server, attempts included: per key, never
	 * a body before an earlier one of that key has been answered 2xx. */
	memset(last, 0xff, sizeof(last));
	for (size_t i = 0; i < s->n_got; i++) {
		uint64_t k = body_key(s->got[i].body), q = body_seq(s->got[i].body);

		if (last[k] != UINT64_MAX)
			assert_true(q == last[k] || q == last[k] + 8);
		else
			assert_int_equal(q, k);
		last[k] = q;
		delivered += s->got[i].status == 200;
	}
	assert_int_equal(delivered, 400);
	assert_true(s->n_got > 400); /* there were retries */
	nh_deliver_free(d);
	srv_free(s);
}

static void a_retry_holds_back_only_its_lane(void **state)
{
	struct srv *s = srv_start(NULL, 0);
	struct nh_retry_policy p = policy(10, 1, 5000);
	struct results res = { 0 };
	struct fake_clock fc;
	struct nh_deliver *d;
	char url[64];

	(void)state;
	fake_clock_init(&fc);
	s->rule[0].match = "\"seq\":0}";
	s->rule[0].act = (struct action){ 503, "2", 0 };
	srv_run(s);
	url_of(s, url, sizeof(url));
	d = engine_clocked(url, 2, 5000, &p, &res, &fc.clock);
	submit(d, 0, 0); /* lane 0: waits 2 s to be retried */
	submit(d, 2, 0); /* lane 0: behind it */
	for (uint64_t i = 1; i < 20; i += 2)
		submit(d, i, 1); /* lane 1 */
	/* The clock stands still: lane 1 finishes while lane 0 waits. */
	POLL_UNTIL(d, res.n == 10);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(res.r[i].key, 1);
	assert_int_equal(nh_deliver_in_flight(d), 2);
	assert_int_equal(nh_deliver_next_retry_ms(d), 2000);
	assert_int_equal(s->n_got, 11); /* seq 2 was never sent */
	/* The drain gives up at once: nothing can finish before its end. */
	assert_int_equal(nh_deliver_drain(d, 500), 2);
	assert_int_equal(s->n_got, 11);
	/* Once due, the retry goes, alone: seq 2 still waits behind it (the
	 * endpoint answers seq 0 with 503 and Retry-After 2 every time). */
	fc.now += 2000;
	POLL_UNTIL(d, s->n_got == 12 && nh_deliver_next_retry_ms(d) == 2000);
	assert_int_equal(nh_deliver_in_flight(d), 2);
	assert_int_equal(s->n_got, 12);
	assert_int_equal(res.n, 10);
	nh_deliver_free(d);
	srv_free(s);
}

struct taken_log {
	size_t n;
	uint64_t seq[64];
	bool running[64];
};

static void take_fn(void *ctx, struct nh_deliver_item *it, bool running)
{
	struct taken_log *t = ctx;

	t->seq[t->n] = it->seq;
	t->running[t->n] = running;
	t->n++;
	if (running)
		it->tag = 9999;
	else
		free(it->body);
}

static void take_hands_over_everything_in_seq_order(void **state)
{
	struct srv *s = srv_start(NULL, 0);
	struct nh_retry_policy p = policy(10, 1, 5000);
	struct results res = { 0 };
	struct taken_log t = { 0 };
	struct nh_deliver *d;
	char url[64];

	(void)state;
	s->rule[0].match = "\"key\":0,";
	s->rule[0].act = (struct action){ 503, "10", 0 };
	/* Lane 2's requests are held: they are on the wire at take(). */
	s->rule[1].match = "\"key\":2,";
	s->rule[1].act = (struct action){ 200, NULL, 0, true };
	srv_run(s);
	url_of(s, url, sizeof(url));
	d = engine(url, 3, 5000, &p, &res);
	submit(d, 5, 2);
	submit(d, 0, 0); /* waits for its retry */
	submit(d, 3, 0);
	submit(d, 1, 1); /* delivered */
	submit(d, 4, 2);
	POLL_UNTIL(d, res.n == 1 && nh_deliver_running(d) == 1 && nh_deliver_next_retry_ms(d) >= 0);

	assert_int_equal(nh_deliver_take(d, take_fn, &t), 4);
	assert_int_equal(t.seq[0], 0);
	assert_int_equal(t.seq[1], 3);
	assert_int_equal(t.seq[2], 4);
	assert_int_equal(t.seq[3], 5);
	assert_false(t.running[0]);
	assert_true(t.running[3]);
	assert_int_equal(nh_deliver_in_flight(d), 1);
	assert_int_equal(nh_deliver_handed_over(d), 1);
	/* The running one still ends, with the tag take() gave it. */
	srv_release(s);
	assert_int_equal(nh_deliver_drain(d, 30000), 0);
	assert_int_equal(res.n, 2);
	assert_int_equal(res.r[1].seq, 5);
	assert_int_equal(res.r[1].tag, 9999);
	assert_int_equal(res.r[1].out, NH_OUT_DELIVERED);
	nh_deliver_free(d);
	srv_free(s);
}

static void handed_over_failure_is_released_not_retried(void **state)
{
	static const struct action script[] = { { 503, NULL, 500 } };
	struct srv *s = srv_start(script, 1);
	struct nh_retry_policy p = policy(10, 1, 50);
	struct results res = { 0 };
	struct taken_log t = { 0 };
	struct nh_deliver *d;
	char url[64];

	(void)state;
	srv_run(s);
	url_of(s, url, sizeof(url));
	d = engine(url, 1, 5000, &p, &res);
	submit(d, 1, 0);
	assert_int_equal(nh_deliver_poll(d, -1, 50), 0);
	assert_int_equal(nh_deliver_take(d, take_fn, &t), 1);
	assert_int_equal(nh_deliver_drain(d, 3000), 0);
	assert_int_equal(s->n_got, 1);
	assert_int_equal(res.n, 1);
	assert_int_equal(res.r[0].out, NH_OUT_RELEASED);
	nh_deliver_free(d);
	srv_free(s);
}

static void abort_puts_requests_back_for_take(void **state)
{
	static const struct action script[] = { { 200, NULL, 0, true } };
	struct srv *s = srv_start(script, 1);
	struct nh_retry_policy p = policy(10, 1, 50);
	struct results res = { 0 };
	struct taken_log t = { 0 };
	struct nh_deliver *d;
	char url[64];

	(void)state;
	srv_run(s);
	url_of(s, url, sizeof(url));
	d = engine(url, 1, 10000, &p, &res);
	submit(d, 1, 0);
	submit(d, 2, 0);
	assert_int_equal(nh_deliver_poll(d, -1, 50), 0);
	assert_int_equal(nh_deliver_running(d), 1);
	nh_deliver_abort(d);
	assert_int_equal(nh_deliver_running(d), 0);
	assert_int_equal(nh_deliver_take(d, take_fn, &t), 2);
	assert_int_equal(t.seq[0], 1);
	assert_false(t.running[0]);
	assert_int_equal(t.seq[1], 2);
	assert_int_equal(nh_deliver_in_flight(d), 0);
	assert_int_equal(res.n, 0);
	nh_deliver_free(d);
	srv_release(s);
	srv_free(s);
}

static void refused_endpoint_is_failing_and_its_url_cannot_change(void **state)
{
	struct srv *s = srv_start(NULL, 0);
	struct nh_retry_policy p = policy(100, 10, 100);
	struct results res = { 0 };
	struct nh_deliver_opts o = { .pool_size = 2, .timeout_ms = 2000, .queue_max = 100,
				     .retry = &p };
	struct nh_deliver_stats st;
	struct fake_clock fc;
	struct nh_deliver *d;
	char bad[64], good[64], err[256];

	(void)state;
	fake_clock_init(&fc);
	srv_run(s);
	refused_url(bad, sizeof(bad));
	url_of(s, good, sizeof(good));
	d = engine_clocked(bad, 2, 2000, &p, &res, &fc.clock);
	submit(d, 1, 0);
	submit(d, 2, 1);
	/* Both lanes' first attempts are refused; failing counts from the first. */
	POLL_UNTIL(d, (nh_deliver_stats(d, &st), st.failed_transport >= 2));
	assert_int_equal(nh_deliver_failing_ms(d), 0);
	fc.now += 250;
	assert_int_equal(nh_deliver_failing_ms(d), 250);
	assert_int_equal(res.n, 0);

	/* Events were captured for their destination: a reload cannot send
	 * them elsewhere, so the engine refuses another url, and pool_size. */
	o.url = good;
	o.pool_size = 3;
	assert_int_equal(nh_deliver_reconfigure(d, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pool_size"));
	o.pool_size = 2;
	assert_int_equal(nh_deliver_reconfigure(d, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "urls"));
	o.url = bad;
	o.timeout_ms = 500;
	assert_int_equal(nh_deliver_reconfigure(d, &o, err, sizeof(err)), 0);
	assert_int_equal(res.n, 0);
	assert_int_equal(nh_deliver_in_flight(d), 2);
	assert_int_equal(s->n_got, 0);
	nh_deliver_free(d);
	srv_free(s);
}

/* ---- pools of endpoints ---------------------------------------------------------- */

static size_t got_n(struct srv *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->n_got;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static struct nh_deliver *pool_engine(const char *const *urls, size_t n, enum nh_balance b,
				      unsigned pool, unsigned inflight,
				      const struct nh_retry_policy *p, struct results *res,
				      const struct nh_clock *clock, struct nh_deliver_hub *hub)
{
	struct nh_deliver_opts o = { .urls = urls, .n_urls = n, .balance = b, .pool_size = pool,
				     .inflight = inflight, .timeout_ms = 5000, .queue_max = 10000,
				     .retry = p, .on_result = on_result, .ctx = res,
				     .clock = clock, .circuit_failures = 2, .circuit_open_ms = 1000,
				     .hub = hub };
	char err[256] = "";
	struct nh_deliver *d = nh_deliver_new(&o, err, sizeof(err));

	if (!d)
		fail_msg("nh_deliver_new: %s", err);
	return d;
}

/* Each key's bodies at one server, in seq order; returns how many it got. */
static size_t keys_stay_home(struct srv *s, bool home[8])
{
	uint64_t last[8];

	memset(last, 0xff, sizeof(last));
	for (size_t i = 0; i < s->n_got; i++) {
		uint64_t k = body_key(s->got[i].body), q = body_seq(s->got[i].body);

		assert_true(k < 8);
		assert_true(home[k]);
		if (last[k] != UINT64_MAX)
			assert_true(q > last[k]);
		last[k] = q;
	}
	return s->n_got;
}

static void hash_keeps_each_key_on_one_endpoint(void **state)
{
	struct srv *a = srv_start(NULL, 0), *b = srv_start(NULL, 0);
	struct nh_retry_policy p = policy(3, 1, 1);
	struct results res = { 0 };
	char ua[64], ub[64];
	const char *urls[2] = { ua, ub };
	bool at_a[8] = { 0 }, at_b[8] = { 0 };
	struct nh_deliver *d;

	(void)state;
	srv_run(a);
	srv_run(b);
	url_of(a, ua, sizeof(ua));
	url_of(b, ub, sizeof(ub));
	d = pool_engine(urls, 2, NH_BALANCE_HASH, 4, 1, &p, &res, NULL, NULL);
	for (uint64_t i = 0; i < 400; i++)
		submit(d, i, i % 8);
	assert_int_equal(nh_deliver_drain(d, 20000), 0);
	assert_int_equal(res.n, 400);
	/* lane = key % 4, endpoint = lane % 2: even keys at a, odd at b. */
	for (int k = 0; k < 8; k++)
		(k % 2 ? at_b : at_a)[k] = true;
	assert_int_equal(keys_stay_home(a, at_a), 200);
	assert_int_equal(keys_stay_home(b, at_b), 200);
	nh_deliver_free(d);
	srv_free(a);
	srv_free(b);
}

static void round_robin_alternates(void **state)
{
	struct srv *a = srv_start(NULL, 0), *b = srv_start(NULL, 0);
	struct nh_retry_policy p = policy(3, 1, 1);
	struct results res = { 0 };
	char ua[64], ub[64];
	const char *urls[2] = { ua, ub };
	struct nh_deliver *d;

	(void)state;
	srv_run(a);
	srv_run(b);
	url_of(a, ua, sizeof(ua));
	url_of(b, ub, sizeof(ub));
	d = pool_engine(urls, 2, NH_BALANCE_ROUND_ROBIN, 4, 1, &p, &res, NULL, NULL);
	for (uint64_t i = 0; i < 100; i++)
		submit(d, i, i);
	assert_int_equal(nh_deliver_drain(d, 20000), 0);
	assert_int_equal(res.n, 100);
	assert_int_equal(got_n(a), 50);
	assert_int_equal(got_n(b), 50);
	nh_deliver_free(d);
	srv_free(a);
	srv_free(b);
}

/* a fails twice (its circuit opens), b takes everything in order; once
 * the circuit's time is up one request probes a, and a has it back. */
static void failover_opens_the_circuit_then_a_probe_closes_it(void **state)
{
	static const struct action down[2] = { { .status = 503 }, { .status = 503 } };
	struct srv *a = srv_start(down, 2), *b = srv_start(NULL, 0);
	struct nh_retry_policy p = policy(10, 1, 1);
	struct results res = { 0 };
	struct nh_endpoint_stats es;
	char ua[64], ub[64];
	const char *urls[2] = { ua, ub };
	struct fake_clock fc;
	struct nh_deliver *d;

	(void)state;
	fake_clock_init(&fc);
	srv_run(a);
	srv_run(b);
	url_of(a, ua, sizeof(ua));
	url_of(b, ub, sizeof(ub));
	d = pool_engine(urls, 2, NH_BALANCE_FAILOVER, 1, 1, &p, &res, &fc.clock, NULL);
	for (uint64_t i = 0; i < 10; i++)
		submit(d, i, 0);
	/* Retries fall due 0..1 ms later by the test's clock. */
	POLL_UNTIL(d, (fc.now += 1, res.n == 10));
	assert_int_equal(got_n(a), 2);
	assert_int_equal(got_n(b), 10);
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(res.r[i].out, NH_OUT_DELIVERED);
		assert_int_equal(body_seq(b->got[i].body), i);
	}
	nh_deliver_endpoint_stats(d, 0, &es);
	assert_int_equal(es.circuit, NH_CIRCUIT_OPEN);
	assert_int_equal(es.circuit_opened, 1);
	assert_int_equal(es.failed_http, 2);
	assert_true(es.probe_in_ms > 0);

	fc.now += 1000;
	submit(d, 10, 0);
	submit(d, 11, 0);
	POLL_UNTIL(d, res.n == 12);
	assert_int_equal(got_n(a), 4);
	assert_int_equal(got_n(b), 10);
	nh_deliver_endpoint_stats(d, 0, &es);
	assert_int_equal(es.circuit, NH_CIRCUIT_CLOSED);
	assert_int_equal(es.ok, 2);
	nh_deliver_endpoint_stats(d, 1, &es);
	assert_int_equal(es.ok, 10);
	assert_int_equal(es.circuit, NH_CIRCUIT_CLOSED);
	nh_deliver_free(d);
	srv_free(a);
	srv_free(b);
}

/* inflight = 4: one lane has four requests on the wire at once. */
static void inflight_sends_several_of_one_lane(void **state)
{
	static const struct action held[4] = { { .status = 200, .hold = true },
					       { .status = 200, .hold = true },
					       { .status = 200, .hold = true },
					       { .status = 200, .hold = true } };
	struct srv *s = srv_start(held, 4);
	struct nh_retry_policy p = policy(3, 1, 1);
	struct results res = { 0 };
	char u[64];
	const char *urls[1] = { u };
	struct nh_deliver *d;

	(void)state;
	srv_run(s);
	url_of(s, u, sizeof(u));
	d = pool_engine(urls, 1, NH_BALANCE_HASH, 1, 4, &p, &res, NULL, NULL);
	for (uint64_t i = 0; i < 6; i++)
		submit(d, i, 0);
	POLL_UNTIL(d, got_n(s) == 4);
	poll_rounds(d, 3);
	assert_int_equal(got_n(s), 4);
	assert_int_equal(nh_deliver_running(d), 4);
	assert_int_equal(res.n, 0);
	srv_release(s);
	assert_int_equal(nh_deliver_drain(d, 20000), 0);
	assert_int_equal(res.n, 6);
	assert_int_equal(got_n(s), 6);
	nh_deliver_free(d);
	srv_free(s);
}

/* Two destinations on one hub: polling either moves both along. */
static void a_hub_moves_every_engine(void **state)
{
	struct srv *a = srv_start(NULL, 0), *b = srv_start(NULL, 0);
	struct nh_retry_policy p = policy(3, 1, 1);
	struct results ra = { 0 }, rb = { 0 };
	char ua[64], ub[64], err[256];
	const char *urls_a[1] = { ua }, *urls_b[1] = { ub };
	struct nh_deliver_hub *hub = nh_deliver_hub_new(err, sizeof(err));
	struct nh_deliver *da, *db;

	(void)state;
	assert_non_null(hub);
	srv_run(a);
	srv_run(b);
	url_of(a, ua, sizeof(ua));
	url_of(b, ub, sizeof(ub));
	da = pool_engine(urls_a, 1, NH_BALANCE_HASH, 2, 1, &p, &ra, NULL, hub);
	db = pool_engine(urls_b, 1, NH_BALANCE_HASH, 2, 1, &p, &rb, NULL, hub);
	for (uint64_t i = 0; i < 20; i++) {
		submit(da, i, i);
		submit(db, i, i);
	}
	POLL_UNTIL(da, ra.n == 20 && rb.n == 20);
	assert_int_equal(got_n(a), 20);
	assert_int_equal(got_n(b), 20);
	nh_deliver_free(da);
	nh_deliver_free(db);
	nh_deliver_hub_free(hub);
	srv_free(a);
	srv_free(b);
}

/* ---- the settings ---------------------------------------------------------------- */

#define WEBHOOK "webhook { url = \"http://127.0.0.1:1/h\", events = [ { event = \"on_message_publish\" } ] }\n"

static int load(const char *text, struct nh_config *cfg, char *msgs, size_t len)
{
	FILE *f = fmemopen(msgs, len, "w");
	int rc = nh_config_load_buf("t.conf", text, strlen(text), cfg, f);

	fclose(f);
	return rc;
}

static void settings_defaults_and_overrides(void **state)
{
	struct nh_config cfg;
	char msgs[1024] = "", *dl;

	(void)state;
	assert_int_equal(load(WEBHOOK, &cfg, msgs, sizeof(msgs)), 0);
	assert_int_equal(cfg.retry_max_attempts, 10);
	assert_int_equal(cfg.retry_initial_ms, 200);
	assert_int_equal(cfg.retry_max_delay_ms, 30000);
	assert_int_equal(cfg.retry_max_age_ms, 3600000);
	assert_string_equal(nh_config_spool_dir(&cfg), "/var/lib/nanohook/spool");
	assert_int_equal(cfg.spool_max_bytes, 1ull << 30);
	assert_int_equal(cfg.spool_max_age_ms, 24ull * 3600000);
	assert_int_equal(cfg.spool_fsync, NH_FSYNC_BATCH);
	assert_int_equal(cfg.spool_failing_ms, 5000);
	assert_true(cfg.order_per_client);
	assert_int_equal(cfg.drain_timeout_ms, 0);
	assert_null(cfg.metrics_listen);
	dl = nh_config_dead_letter_path(&cfg);
	assert_string_equal(dl, "/var/lib/nanohook/spool/dead-letter.jsonl");
	free(dl);
	nh_config_free(&cfg);

	assert_int_equal(load(WEBHOOK "nanohook {\n"
			      "  retry { max_attempts = 3, initial = 1s, max_delay = 10s, max_age = 0 }\n"
			      "  spool { dir = \"\", max_size = 64KB, max_age = 1h, fsync = never, failing_after = 0 }\n"
			      "  dead_letter = \"/tmp/dl.jsonl\", order = none, drain_timeout = 2s\n"
			      "  metrics = \"127.0.0.1:9464\"\n"
			      "}\n", &cfg, msgs, sizeof(msgs)), 0);
	assert_string_equal(msgs, "");
	assert_int_equal(cfg.retry_max_attempts, 3);
	assert_int_equal(cfg.retry_initial_ms, 1000);
	assert_int_equal(cfg.retry_max_delay_ms, 10000);
	assert_int_equal(cfg.retry_max_age_ms, 0);
	assert_null(nh_config_spool_dir(&cfg)); /* "" = no spool */
	assert_int_equal(cfg.spool_max_bytes, 65536);
	assert_int_equal(cfg.spool_max_age_ms, 3600000);
	assert_int_equal(cfg.spool_fsync, NH_FSYNC_NEVER);
	assert_int_equal(cfg.spool_failing_ms, 0);
	assert_false(cfg.order_per_client);
	assert_int_equal(cfg.drain_timeout_ms, 2000);
	assert_string_equal(cfg.metrics_listen, "127.0.0.1:9464");
	dl = nh_config_dead_letter_path(&cfg);
	assert_string_equal(dl, "/tmp/dl.jsonl");
	free(dl);
	nh_config_free(&cfg);
}

static void bad_settings_are_refused_with_their_place(void **state)
{
	static const struct {
		const char *block, *msg;
	} cases[] = {
		{ "retry { max_attempts = 0 }", "t.conf:2:35: nanohook.retry.max_attempts: 0 is out of range" },
		{ "retry { initial = soon }", "nanohook.retry.initial: expected milliseconds" },
		{ "retry { initial = 2s, max_delay = 1s }", "nanohook.retry: max_delay (1000ms) is below initial (2000ms)" },
		{ "spool { max_size = 1KB }", "nanohook.spool.max_size: 1024 is out of range 64KB..1TB" },
		{ "spool { fsync = sometimes }", "nanohook.spool.fsync: expected batch, always or never" },
		{ "spool = 3", "nanohook.spool: expected a block" },
		{ "order = random", "nanohook.order: expected per_client or none" },
		{ "dead_letter = \"\"", "nanohook.dead_letter: empty" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nh_config cfg;
		char text[512], msgs[1024] = "";

		snprintf(text, sizeof(text), WEBHOOK "nanohook { %s }\n", cases[i].block);
		assert_int_equal(load(text, &cfg, msgs, sizeof(msgs)), -1);
		if (!strstr(msgs, cases[i].msg))
			fail_msg("%s: got \"%s\"", cases[i].block, msgs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(what_is_retried),
		cmocka_unit_test(backoff_is_full_jitter_under_a_doubling_cap),
		cmocka_unit_test(retry_after_seconds_and_dates),
		cmocka_unit_test(status_503_503_200_delivers_once),
		cmocka_unit_test(status_400_is_final_and_others_go_on),
		cmocka_unit_test(max_attempts_then_gives_up),
		cmocka_unit_test(max_age_then_gives_up),
		cmocka_unit_test(retry_after_is_honoured_up_to_max_delay),
		cmocka_unit_test(each_key_keeps_its_order_through_retries),
		cmocka_unit_test(a_retry_holds_back_only_its_lane),
		cmocka_unit_test(take_hands_over_everything_in_seq_order),
		cmocka_unit_test(handed_over_failure_is_released_not_retried),
		cmocka_unit_test(abort_puts_requests_back_for_take),
		cmocka_unit_test(refused_endpoint_is_failing_and_its_url_cannot_change),
		cmocka_unit_test(hash_keeps_each_key_on_one_endpoint),
		cmocka_unit_test(round_robin_alternates),
		cmocka_unit_test(failover_opens_the_circuit_then_a_probe_closes_it),
		cmocka_unit_test(inflight_sends_several_of_one_lane),
		cmocka_unit_test(a_hub_moves_every_engine),
		cmocka_unit_test(settings_defaults_and_overrides),
		cmocka_unit_test(bad_settings_are_refused_with_their_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
