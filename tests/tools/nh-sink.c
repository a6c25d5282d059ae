/* SPDX-License-Identifier: MIT */
/*
 * nh-sink: a webhook endpoint for tests, the demo and benchmarks.
 *
 * Receives POSTs on loopback (libmicrohttpd), writes each body as one line,
 * answers with a chosen status after a chosen delay, and counts requests
 * and TCP connections so that tests can check keep-alive.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX (64u << 20) /* larger bodies are answered 413 */

static const char usage[] =
"usage: nh-sink [options]\n"
"\n"
"A local HTTP endpoint that records webhook POSTs.\n"
"\n"
"  --listen ADDR:PORT   where to listen (default 127.0.0.1:8097); PORT 0 picks\n"
"                       a free port. The first stdout line is always\n"
"                       \"listening on ADDR:PORT\" with the real port. IPv6: [::1]:PORT\n"
"  --path PATH          only POSTs to PATH count and get --status; any other\n"
"                       path is answered 404 (default: every path counts)\n"
"  --out FILE           append each counted body to FILE as one line, in arrival\n"
"                       order: the exact bytes received, then '\\n'\n"
"  --print              write \"POST /path  <body>\" to stdout for each body\n"
"  --dump-headers FILE  append every request to FILE: \"METHOD /path\", its\n"
"                       headers as \"name: value\" lines, then an empty line\n"
"  --status CODE        answer counted POSTs with CODE (default 200)\n"
"  --arrivals FILE      append the wall-clock ms at which each counted body\n"
"                       arrived to FILE, one per line, in --out's order (for\n"
"                       capture-to-endpoint latency against a body's \"ts\")\n"
"  --ok-out FILE        append each body answered 2xx to FILE, one per line, when\n"
"                       the answer is sent (a body held by --hang-first is\n"
"                       written only if its answer is ever sent)\n"
"\n"
"Faults, applied to the counted POSTs in arrival order, each option to the\n"
"next ones in this order: the first --close-first, then the next --hang-first,\n"
"then --fail-first, then --status-sequence; after them, --status:\n"
"  --close-first N      close the connection without an answer\n"
"  --hang-first N       hold the answer (200) --hang-ms ms (default 60000)\n"
"  --hang-ms N\n"
"  --fail-first N       answer --fail-status (default 503)\n"
"  --fail-status CODE\n"
"  --status-sequence L  answer the statuses of the comma-separated list L in\n"
"                       turn, e.g. 503,503,200\n"
"  --retry-after VALUE  send \"Retry-After: VALUE\" with every answer that is not 2xx\n"
"  --delay-ms N         wait N ms before answering (a connection-per-thread\n"
"                       server is used then, so delays overlap)\n"
"  --threads N          server threads without --delay-ms (default 2)\n"
"  --expect N           exit 0 once N bodies have been answered\n"
"  --timeout S          stop after S seconds (decimals allowed); exit 1 if\n"
"                       --expect was given and not met\n"
"  --count              on exit, print to stderr:\n"
"                       requests=R bodies=B bytes=N connections=C peak_connections=P\n"
"                       (connections = distinct TCP connections accepted)\n"
"  --help               this text\n"
"\n"
"Non-POST methods are answered 405. Stops on SIGINT or SIGTERM (exit 0): it\n"
"answers nothing more and waits (up to 3 s) for the answers it has begun to\n"
"be sent, so that --ok-out lists only answers the client got.\n"
"\n"
"Examples:\n"
"  nh-sink --listen 127.0.0.1:0 --out bodies.jsonl --expect 1000 --timeout 30 --count\n"
"  nh-sink --print --path /hook\n";

struct sink_opts {
	const char *listen;
	const char *path;
	const char *out;
	const char *dump_headers;
	bool print;
	bool count;
	unsigned status;
	unsigned delay_ms;
	const char *ok_out;
	const char *arrivals;
	uint64_t close_first, hang_first, fail_first;
	unsigned hang_ms, fail_status;
	unsigned seq[256];
	size_t n_seq;
	const char *retry_after;
	unsigned threads;
	uint64_t expect;
	double timeout_s;
};

/* Shared by the server threads; writes and counters under `lock` so that
 * the --out order is the order bodies were counted. */
struct sink {
	struct sink_opts o;
	pthread_mutex_t lock;
	int out_fd;
	int ok_fd;
	FILE *arrivals_out;
	FILE *headers_out;
	uint64_t faults_used;    /* counted POSTs that went through the fault options */
	atomic_bool stopping;    /* ends --hang-first holds early; no new answers */
	atomic_int unsent;       /* answers begun and not yet sent whole */
	int done_fd;             /* eventfd: --expect reached */
	uint64_t requests, bodies, bytes, answered;
	atomic_uint_fast64_t connections;
	atomic_int open_connections, peak_connections;
	struct MHD_Response *empty;
};

struct request {
	char *buf;
	size_t len, cap;
	bool too_big;
	bool counted; /* a body that was written out and answered --status */
	bool close;   /* --close-first: no answer */
	unsigned hold_ms;
	bool begun;   /* counted in unsent until on_completed */
};

static int write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static enum MHD_Result dump_header(void *cls, enum MHD_ValueKind kind,
				   const char *key, const char *value)
{
	(void)kind;
	fprintf(cls, "%s: %s\n", key, value ? value : "");
	return MHD_YES;
}

static bool path_matches(const struct sink *s, const char *url)
{
	return !s->o.path || strcmp(s->o.path, url) == 0;
}

/* The complete request is in r: record it. Returns the status to send. */
static unsigned record(struct sink *s, struct MHD_Connection *c, const char *url,
		       const char *method, struct request *r)
{
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	unsigned status;

	pthread_mutex_lock(&s->lock);
	s->requests++;
	if (s->headers_out) {
		fprintf(s->headers_out, "%s %s\n", method, url);
		MHD_get_connection_values(c, MHD_HEADER_KIND, dump_header, s->headers_out);
		fputc('\n', s->headers_out);
		fflush(s->headers_out);
	}
	if (!post)
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	else if (!path_matches(s, url))
		status = MHD_HTTP_NOT_FOUND;
	else if (r->too_big)
		status = MHD_HTTP_CONTENT_TOO_LARGE;
	else {
		uint64_t i = s->faults_used++, o = s->o.close_first;

		status = s->o.status;
		if (i < o) {
			r->close = true;
		} else if (i < (o += s->o.hang_first)) {
			r->hold_ms = s->o.hang_ms;
			status = 200;
		} else if (i < (o += s->o.fail_first)) {
			status = s->o.fail_status;
		} else if (i < o + s->o.n_seq) {
			status = s->o.seq[i - o];
		} else {
			s->faults_used = o + s->o.n_seq; /* past the faults: stays there */
		}
		r->counted = true;
		s->bodies++;
		s->bytes += r->len;
		if (s->out_fd >= 0) {
			struct iovec iov[2] = {
				{ .iov_base = r->buf ? r->buf : "", .iov_len = r->len },
				{ .iov_base = "\n", .iov_len = 1 },
			};
			if (write_all(s->out_fd, iov, 2) < 0)
				fprintf(stderr, "nh-sink: %s: %s\n", s->o.out, strerror(errno));
		}
		if (s->arrivals_out) {
			struct timespec now;

			clock_gettime(CLOCK_REALTIME, &now);
			fprintf(s->arrivals_out, "%lld\n",
				(long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
			fflush(s->arrivals_out);
		}
		if (s->o.print) {
			printf("POST %s  %.*s\n", url, (int)r->len, r->buf ? r->buf : "");
			fflush(stdout);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return status;
}

/* Waits ms, in small steps so that a stopping sink does not wait for a
 * long --hang-ms. */
static void hold(struct sink *s, unsigned ms)
{
	while (ms > 0 && !atomic_load(&s->stopping)) {
		unsigned step = ms > 50 ? 50 : ms;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)step * 1000000 };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		ms -= step;
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **req_cls)
{
	struct sink *s = cls;
	struct request *r = *req_cls;
	unsigned status;

	(void)version;
	if (!r) {
		/* Headers only so far; the body (if any) comes in later calls. */
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*req_cls = r;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;

		*upload_size = 0;
		if (r->too_big || r->len + n > BODY_MAX) {
			r->too_big = true;
			return MHD_YES;
		}
		if (r->len + n > r->cap) {
			size_t cap = r->cap ? r->cap : 1024;
			char *b;

			while (cap < r->len + n)
				cap *= 2;
			b = realloc(r->buf, cap);
			if (!b)
				return MHD_NO;
			r->buf = b;
			r->cap = cap;
		}
		memcpy(r->buf + r->len, upload, n);
		r->len += n;
		return MHD_YES;
	}

	status = record(s, c, url, method, r);
	if (r->close) {
		r->counted = false; /* never answered */
		return MHD_NO;
	}
	if (r->counted)
		hold(s, s->o.delay_ms + r->hold_ms);
	/* Held until the sink stops: the client has long given up. */
	if (r->counted && r->hold_ms && atomic_load(&s->stopping)) {
		r->counted = false;
		return MHD_NO;
	}
	/* A stopping sink waits for the answers begun (so that --ok-out never
	 * lists one the client did not get) and begins no more: counted
	 * before the check, so that the two cannot cross. */
	atomic_fetch_add(&s->unsent, 1);
	r->begun = true;
	if (atomic_load(&s->stopping)) {
		r->counted = false;
		return MHD_NO;
	}
	if (r->counted && status >= 200 && status <= 299 && s->ok_fd >= 0) {
		struct iovec iov[2] = {
			{ .iov_base = r->buf ? r->buf : "", .iov_len = r->len },
			{ .iov_base = "\n", .iov_len = 1 },
		};

		pthread_mutex_lock(&s->lock);
		if (write_all(s->ok_fd, iov, 2) < 0)
			fprintf(stderr, "nh-sink: %s: %s\n", s->o.ok_out, strerror(errno));
		pthread_mutex_unlock(&s->lock);
	}
	if (s->o.retry_after && (status < 200 || status > 299)) {
		struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"",
									    MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret;

		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, s->o.retry_after);
		ret = MHD_queue_response(c, status, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	return MHD_queue_response(c, status, s->empty);
}

/* The response has been sent (or the client went away): only now may
 * --expect end the process, or the last client would see a reset. */
static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct sink *s = cls;
	struct request *r = *req_cls;

	(void)c;
	(void)toe;
	if (!r)
		return;
	if (r->begun)
		atomic_fetch_sub(&s->unsent, 1);
	if (r->counted) {
		bool reached;

		pthread_mutex_lock(&s->lock);
		s->answered++;
		reached = s->o.expect && s->answered == s->o.expect;
		pthread_mutex_unlock(&s->lock);
		if (reached) {
			uint64_t one = 1;

			if (write(s->done_fd, &one, sizeof(one)) < 0)
				perror("nh-sink: eventfd");
		}
	}
	free(r->buf);
	free(r);
	*req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct sink *s = cls;

	(void)c;
	(void)socket_ctx;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		int now = atomic_fetch_add(&s->open_connections, 1) + 1;
		int peak = atomic_load(&s->peak_connections);

		atomic_fetch_add(&s->connections, 1);
		while (now > peak && !atomic_compare_exchange_weak(&s->peak_connections, &peak, now))
			;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		atomic_fetch_sub(&s->open_connections, 1);
	}
}

/* "127.0.0.1:8097", "[::1]:8097" or "8097" (loopback). */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, bool *v6)
{
	char host[64];
	const char *colon, *port_s;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host))
			return -1;
		memcpy(host, spec + 1, (size_t)(close - spec - 1));
		host[close - spec - 1] = '\0';
		port_s = close + 2;
		*v6 = true;
	} else if ((colon = strrchr(spec, ':'))) {
		if ((size_t)(colon - spec) >= sizeof(host))
			return -1;
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		port_s = colon + 1;
		*v6 = false;
	} else {
		strcpy(host, "127.0.0.1");
		port_s = spec;
		*v6 = false;
	}
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (!*port_s || *end || errno || port > 65535)
		return -1;
	if (*v6) {
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

static int parse_uint(const char *name, const char *s, unsigned long long max,
		      unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (!*s || *end || errno || *out > max || s[0] == '-') {
		fprintf(stderr, "nh-sink: --%s %s: expected a whole number up to %llu\n",
			name, s, max);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct sink_opts *o)
{
	enum { OPT_LISTEN = 1, OPT_PATH, OPT_OUT, OPT_DUMP, OPT_PRINT, OPT_STATUS, OPT_DELAY,
	       OPT_THREADS, OPT_EXPECT, OPT_TIMEOUT, OPT_COUNT, OPT_HELP, OPT_OK_OUT,
	       OPT_CLOSE_FIRST, OPT_HANG_FIRST, OPT_HANG_MS, OPT_FAIL_FIRST, OPT_FAIL_STATUS,
	       OPT_STATUS_SEQ, OPT_RETRY_AFTER, OPT_ARRIVALS };
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "path", required_argument, NULL, OPT_PATH },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "dump-headers", required_argument, NULL, OPT_DUMP },
		{ "print", no_argument, NULL, OPT_PRINT },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "delay-ms", required_argument, NULL, OPT_DELAY },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "expect", required_argument, NULL, OPT_EXPECT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "count", no_argument, NULL, OPT_COUNT },
		{ "ok-out", required_argument, NULL, OPT_OK_OUT },
		{ "arrivals", required_argument, NULL, OPT_ARRIVALS },
		{ "close-first", required_argument, NULL, OPT_CLOSE_FIRST },
		{ "hang-first", required_argument, NULL, OPT_HANG_FIRST },
		{ "hang-ms", required_argument, NULL, OPT_HANG_MS },
		{ "fail-first", required_argument, NULL, OPT_FAIL_FIRST },
		{ "fail-status", required_argument, NULL, OPT_FAIL_STATUS },
		{ "status-sequence", required_argument, NULL, OPT_STATUS_SEQ },
		{ "retry-after", required_argument, NULL, OPT_RETRY_AFTER },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	char *end;
	int c;

	*o = (struct sink_opts){ .listen = "127.0.0.1:8097", .status = 200, .threads = 2,
				 .hang_ms = 60000, .fail_status = 503 };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN: o->listen = optarg; break;
		case OPT_PATH: o->path = optarg; break;
		case OPT_OUT: o->out = optarg; break;
		case OPT_DUMP: o->dump_headers = optarg; break;
		case OPT_PRINT: o->print = true; break;
		case OPT_COUNT: o->count = true; break;
		case OPT_STATUS:
			if (parse_uint("status", optarg, 999, &v) < 0)
				return -1;
			if (v < 100) {
				fprintf(stderr, "nh-sink: --status %s: expected 100 to 999\n", optarg);
				return -1;
			}
			o->status = (unsigned)v;
			break;
		case OPT_DELAY:
			if (parse_uint("delay-ms", optarg, 3600000, &v) < 0)
				return -1;
			o->delay_ms = (unsigned)v;
			break;
		case OPT_THREADS:
			if (parse_uint("threads", optarg, 256, &v) < 0 || v == 0)
				return -1;
			o->threads = (unsigned)v;
			break;
		case OPT_EXPECT:
			if (parse_uint("expect", optarg, UINT64_MAX, &v) < 0)
				return -1;
			o->expect = v;
			break;
		case OPT_TIMEOUT:
			errno = 0;
			o->timeout_s = strtod(optarg, &end);
			if (!*optarg || *end || errno || !(o->timeout_s > 0)) {
				fprintf(stderr, "nh-sink: --timeout %s: expected seconds > 0\n", optarg);
				return -1;
			}
			break;
		case OPT_OK_OUT: o->ok_out = optarg; break;
		case OPT_ARRIVALS: o->arrivals = optarg; break;
		case OPT_RETRY_AFTER: o->retry_after = optarg; break;
		case OPT_CLOSE_FIRST:
		case OPT_HANG_FIRST:
		case OPT_FAIL_FIRST:
			if (parse_uint(c == OPT_CLOSE_FIRST ? "close-first" :
				       c == OPT_HANG_FIRST ? "hang-first" : "fail-first",
				       optarg, UINT64_MAX / 4, &v) < 0)
				return -1;
			if (c == OPT_CLOSE_FIRST)
				o->close_first = v;
			else if (c == OPT_HANG_FIRST)
				o->hang_first = v;
			else
				o->fail_first = v;
			break;
		case OPT_HANG_MS:
			if (parse_uint("hang-ms", optarg, 3600000, &v) < 0)
				return -1;
			o->hang_ms = (unsigned)v;
			break;
		case OPT_FAIL_STATUS:
			if (parse_uint("fail-status", optarg, 999, &v) < 0 || v < 100)
				return -1;
			o->fail_status = (unsigned)v;
			break;
		case OPT_STATUS_SEQ: {
			char *list = strdup(optarg), *save = NULL, *tok;

			o->n_seq = 0;
			for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (o->n_seq == sizeof(o->seq) / sizeof(o->seq[0]) ||
				    parse_uint("status-sequence", tok, 999, &v) < 0 || v < 100) {
					fprintf(stderr, "nh-sink: --status-sequence %s: up to 256 statuses 100..999\n",
						optarg);
					free(list);
					return -1;
				}
				o->seq[o->n_seq++] = (unsigned)v;
			}
			free(list);
			break;
		}
		case OPT_HELP:
			fputs(usage, stdout);
			exit(0);
		default:
			fputs("try: nh-sink --help\n", stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nh-sink: unexpected argument \"%s\"; try: nh-sink --help\n",
			argv[optind]);
		return -1;
	}
	return 0;
}

static struct MHD_Daemon *start_server(struct sink *s, const struct sockaddr_storage *addr,
				       bool v6)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
			 (v6 ? MHD_USE_IPv6 : 0);

	/* A thread pool over epoll is fastest for many keep-alive requests;
	 * but a delayed answer would hold a pool thread, so with --delay-ms
	 * every connection gets its own thread. */
	if (s->o.delay_ms || s->o.hang_first)
		return MHD_start_daemon(flags | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL,
					0, NULL, NULL, on_request, s,
					MHD_OPTION_SOCK_ADDR, addr,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
					MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
					MHD_OPTION_END);
	return MHD_start_daemon(flags | MHD_USE_EPOLL, 0, NULL, NULL, on_request, s,
				MHD_OPTION_SOCK_ADDR, addr,
				MHD_OPTION_THREAD_POOL_SIZE, s->o.threads,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				MHD_OPTION_END);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Until a signal, --expect, or --timeout. Returns the exit code. */
static int wait_for_end(struct sink *s, int sig_fd)
{
	int64_t deadline = s->o.timeout_s > 0 ? now_ms() + (int64_t)(s->o.timeout_s * 1000) : -1;

	for (;;) {
		struct pollfd p[2] = { { .fd = sig_fd, .events = POLLIN },
				       { .fd = s->done_fd, .events = POLLIN } };
		int wait = -1;

		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0) {
				if (!s->o.expect)
					return 0;
				pthread_mutex_lock(&s->lock);
				fprintf(stderr, "nh-sink: timeout: %llu of %llu expected bodies\n",
					(unsigned long long)s->answered,
					(unsigned long long)s->o.expect);
				pthread_mutex_unlock(&s->lock);
				return 1;
			}
			wait = left > 1000 ? 1000 : (int)left;
		}
		if (poll(p, 2, wait) < 0 && errno != EINTR) {
			perror("nh-sink: poll");
			return 1;
		}
		if (p[0].revents & POLLIN)
			return 0;
		if (p[1].revents & POLLIN)
			return 0;
	}
}

int main(int argc, char **argv)
{
	struct sink s = { .out_fd = -1, .ok_fd = -1, .done_fd = -1 };
	struct sockaddr_storage addr;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *daemon;
	char host[INET6_ADDRSTRLEN];
	sigset_t sigs;
	int sig_fd, rc;
	bool v6;

	if (parse_args(argc, argv, &s.o) < 0)
		return 2;
	if (parse_listen(s.o.listen, &addr, &v6) < 0) {
		fprintf(stderr, "nh-sink: --listen %s: expected ADDR:PORT, e.g. 127.0.0.1:8097\n",
			s.o.listen);
		return 2;
	}
	if (s.o.out && (s.out_fd = open(s.o.out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
					0644)) < 0) {
		fprintf(stderr, "nh-sink: --out %s: %s\n", s.o.out, strerror(errno));
		return 2;
	}
	if (s.o.ok_out && (s.ok_fd = open(s.o.ok_out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
					  0644)) < 0) {
		fprintf(stderr, "nh-sink: --ok-out %s: %s\n", s.o.ok_out, strerror(errno));
		return 2;
	}
	if (s.o.arrivals && !(s.arrivals_out = fopen(s.o.arrivals, "ae"))) {
		fprintf(stderr, "nh-sink: --arrivals %s: %s\n", s.o.arrivals, strerror(errno));
		return 2;
	}
	if (s.o.dump_headers && !(s.headers_out = fopen(s.o.dump_headers, "ae"))) {
		fprintf(stderr, "nh-sink: --dump-headers %s: %s\n", s.o.dump_headers,
			strerror(errno));
		return 2;
	}
	pthread_mutex_init(&s.lock, NULL);
	s.done_fd = eventfd(0, EFD_CLOEXEC);
	s.empty = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	/* Blocked before the server threads exist, so that they inherit the
	 * mask and the signals reach sig_fd only. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (s.done_fd < 0 || sig_fd < 0 || !s.empty) {
		perror("nh-sink: setup");
		return 2;
	}

	daemon = start_server(&s, &addr, v6);
	if (!daemon) {
		fprintf(stderr, "nh-sink: cannot listen on %s\n", s.o.listen);
		return 2;
	}
	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (v6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr)->sin6_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, host, sizeof(host));
	printf(v6 ? "listening on [%s]:%u\n" : "listening on %s:%u\n", host,
	       info ? info->port : 0);
	fflush(stdout);

	rc = wait_for_end(&s, sig_fd);
	atomic_store(&s.stopping, true);
	for (int i = 0; i < 300 && atomic_load(&s.unsent) > 0; i++)
		usleep(10 * 1000);
	MHD_stop_daemon(daemon);
	if (s.o.count)
		fprintf(stderr, "nh-sink: requests=%llu bodies=%llu bytes=%llu connections=%llu "
			"peak_connections=%d\n",
			(unsigned long long)s.requests, (unsigned long long)s.bodies,
			(unsigned long long)s.bytes,
			(unsigned long long)atomic_load(&s.connections),
			atomic_load(&s.peak_connections));
	MHD_destroy_response(s.empty);
	if (s.headers_out)
		fclose(s.headers_out);
	if (s.arrivals_out)
		fclose(s.arrivals_out);
	if (s.out_fd >= 0)
		close(s.out_fd);
	if (s.ok_fd >= 0)
		close(s.ok_fd);
	close(sig_fd);
	close(s.done_fd);
	return rc;
}
