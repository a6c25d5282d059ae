// SPDX-License-Identifier: MIT
/*
 * nh-load: the benchmark's MQTT load generator and its webhook endpoint.
 *
 * Load mode speaks just enough MQTT 3.1.1 over raw non-blocking sockets,
 * all connections in one epoll loop. A client library writes every packet
 * with its own system call; here a publisher packs as many PUBLISH packets
 * as the socket takes into one write, so one thread can keep a broker
 * busier than the broker can keep up with, which is what a throughput
 * benchmark needs on a 2-core machine where the generator, the broker,
 * nanohook and the endpoint all share the CPUs.
 *
 * Endpoint mode is a libmicrohttpd server that answers 200 to every POST,
 * counts webhook bodies and, when the payloads carry nh-load's stamp,
 * records publish-to-POST latency.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "encode.h"

static const char usage[] =
"nh-load: MQTT load generator and webhook endpoint for nanohook's benchmark.\n"
"\n"
"Usage:\n"
"  nh-load [--host H] [--port P] [--publishers N] [--messages M] [--rate R]\n"
"          [--qos Q] [--payload-size B] [--topic PREFIX] [--subscribe]\n"
"          [--stamp] [--inflight W] [--idle S] [--timeout S]\n"
"  nh-load --endpoint PORT [--expect N] [--idle S] [--timeout S]\n"
"\n"
"Load mode opens N MQTT 3.1.1 connections (raw sockets, one epoll loop,\n"
"clean session, keepalive off) and publishes M messages in total, spread\n"
"evenly over them, publisher i on topic PREFIX/RUN/i, RUN being nh-load's\n"
"process id. With --subscribe one more connection subscribes to PREFIX/RUN/#\n"
"first and counts what the broker delivers: broker throughput, publishers\n"
"to subscriber, blind to publishes left over from an earlier run.\n"
"\n"
"  -H, --host H          broker address (default 127.0.0.1)\n"
"  -p, --port P          broker port (default 1883)\n"
"  -n, --publishers N    publishing connections (default 4)\n"
"  -m, --messages M      messages in total over all publishers (default 50000)\n"
"  -r, --rate R          messages per second in total; 0 = as fast as the\n"
"                        broker takes them (default 0)\n"
"  -q, --qos Q           0, 1 or 2 for publishes and the subscription (default 0)\n"
"  -s, --payload-size B  payload bytes (default 64; at least 16 with --stamp)\n"
"  -t, --topic PREFIX    topic prefix (default nhbench)\n"
"  -S, --subscribe       also run the counting subscriber\n"
"      --subscribers N   N counting subscribers, subscriber j on publisher j's\n"
"                        topic (N = --publishers: N publisher-subscriber pairs;\n"
"                        1 is --subscribe)\n"
"      --stamp           start each payload with the publish time: 16 lowercase\n"
"                        hex digits of CLOCK_REALTIME nanoseconds. Text, so a\n"
"                        webhook with body.encoding = plain carries it intact\n"
"      --inflight W      QoS 1/2: unacknowledged publishes per connection\n"
"                        (default 16). Keep it within the broker's receive\n"
"                        maximum (Mosquitto: max_inflight_messages, 20):\n"
"                        past it Mosquitto acknowledges and drops publishes\n"
"      --idle S          with --subscribe: once everything is published, stop\n"
"                        waiting for the missing messages after S seconds\n"
"                        without one (default 2)\n"
"      --timeout S       give up S seconds after the first publish (default 60)\n"
"\n"
"What is timed: from the first publish written to the last message the\n"
"subscriber receives (--subscribe), else to the last acknowledgement (QoS 1\n"
"and 2), else to the last publish written. At the end one line on stdout\n"
"(wrapped here):\n"
"\n"
"  sent=50000 acked=0 received=50000 lost=0 seconds=0.41 msgs_per_s=121000\n"
"  publish_seconds=0.30 publishers=4 qos=0 payload=64 complete=1 cpu_ms=150\n"
"\n"
"  sent             publishes written to the sockets\n"
"  acked            PUBACKs (QoS 1) or PUBCOMPs (QoS 2) received\n"
"  received         messages the subscriber got (0 without --subscribe)\n"
"  lost             sent - received with --subscribe, else 0\n"
"  seconds          the timed interval above\n"
"  msgs_per_s       received (or acked, or sent) / seconds\n"
"  publish_seconds  first to last publish written\n"
"  complete         1 if every message was sent, acked and received\n"
"  cpu_ms           CPU time nh-load used, user + system\n"
"\n"
"Without --subscribe at QoS 0 the interval ends when the last publish is in\n"
"the kernel's socket buffer, which says little about the broker: use\n"
"--subscribe (or QoS 1) to time the broker.\n"
"\n"
"Endpoint mode listens on 127.0.0.1:PORT (0 = any free port; it prints\n"
"\"listening on 127.0.0.1:PORT\"), answers every request 200 with an empty\n"
"body over keep-alive connections, and counts webhook bodies: each\n"
"\"action\":\"...\" is one body, so a JSON array of bodies counts each. For\n"
"each \"payload\":\"...\" that starts with nh-load's stamp (plain, or base64\n"
"of it) it records latency = receive time - stamp (CLOCK_REALTIME: run it\n"
"on the publishers' machine). It stops on --expect N bodies, on --idle S\n"
"seconds without a body after the first one, on --timeout S, or on\n"
"SIGINT/SIGTERM, and prints one line on stdout (wrapped here):\n"
"\n"
"  requests=50000 bodies=50000 publish_bodies=50000 seconds=1.92\n"
"  bodies_per_s=26000 stamped=50000 lat_p50_ms=0.41 lat_p99_ms=3.2 lat_max_ms=9.1\n"
"  cpu_ms=900\n"
"\n"
"  seconds          first body to last body received\n"
"  bodies_per_s     bodies / seconds\n"
"  lat_*_ms         over the stamped bodies, nearest-rank percentiles\n"
"  cpu_ms           CPU time the endpoint used, user + system\n"
"\n"
"Examples:\n"
"  nh-load --port 1883 --publishers 4 --messages 50000 --subscribe\n"
"  nh-load --endpoint 0 --expect 10000 --idle 3 &\n"
"  nh-load --port 1883 --rate 1000 --messages 10000 --stamp\n"
"\n"
"Exit status: 0 complete, 1 incomplete (loss, timeout, a broken connection),\n"
"2 bad usage.\n";

/* ---- time ---------------------------------------------------------------- */

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* CPU time this process has used (every thread), in milliseconds. */
static double cpu_ms(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* Set by SIGINT/SIGTERM; both loops poll it at least every 100 ms. */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* ---- options ------------------------------------------------------------- */

struct options {
	const char *host;
	int port;
	unsigned publishers;
	uint64_t messages;
	double rate;
	int qos;
	size_t payload_size;
	const char *topic;
	bool subscribe;
	unsigned subscribers;	/* with subscribe: 1, or one per publisher */
	bool stamp;
	unsigned inflight;
	double idle_s;
	double timeout_s;
	/* endpoint mode */
	int endpoint_port;	/* -1 = load mode */
	uint64_t expect;
};

static int bad_value(const char *opt, const char *arg, const char *want)
{
	fprintf(stderr, "nh-load: %s %s: expected %s; try: nh-load --help\n", opt, arg, want);
	return -1;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0) || v > 1e9)
		return -1;
	*out = v;
	return 0;
}

enum { OPT_STAMP = 256, OPT_INFLIGHT, OPT_IDLE, OPT_TIMEOUT, OPT_ENDPOINT, OPT_EXPECT, OPT_SUBSCRIBERS };

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "publishers", required_argument, NULL, 'n' },
		{ "messages", required_argument, NULL, 'm' },
		{ "rate", required_argument, NULL, 'r' },
		{ "qos", required_argument, NULL, 'q' },
		{ "payload-size", required_argument, NULL, 's' },
		{ "topic", required_argument, NULL, 't' },
		{ "subscribe", no_argument, NULL, 'S' },
		{ "subscribers", required_argument, NULL, OPT_SUBSCRIBERS },
		{ "stamp", no_argument, NULL, OPT_STAMP },
		{ "inflight", required_argument, NULL, OPT_INFLIGHT },
		{ "idle", required_argument, NULL, OPT_IDLE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "endpoint", required_argument, NULL, OPT_ENDPOINT },
		{ "expect", required_argument, NULL, OPT_EXPECT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "H:p:n:m:r:q:s:t:Sh", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			o->host = optarg;
			break;
		case 'p':
			if (parse_u64(optarg, 1, 65535, &v))
				return bad_value("--port", optarg, "1-65535");
			o->port = (int)v;
			break;
		case 'n':
			if (parse_u64(optarg, 1, 10000, &v))
				return bad_value("--publishers", optarg, "1-10000");
			o->publishers = (unsigned)v;
			break;
		case 'm':
			if (parse_u64(optarg, 1, UINT64_C(1) << 40, &v))
				return bad_value("--messages", optarg, "a count >= 1");
			o->messages = v;
			break;
		case 'r':
			if (parse_seconds(optarg, &o->rate))
				return bad_value("--rate", optarg, "messages per second >= 0");
			break;
		case 'q':
			if (parse_u64(optarg, 0, 2, &v))
				return bad_value("--qos", optarg, "0, 1 or 2");
			o->qos = (int)v;
			break;
		case 's':
			if (parse_u64(optarg, 0, 1 << 20, &v))
				return bad_value("--payload-size", optarg, "0-1048576 bytes");
			o->payload_size = (size_t)v;
			break;
		case 't':
			if (!*optarg || strlen(optarg) > 1000 || strpbrk(optarg, "#+"))
				return bad_value("--topic", optarg, "a topic name without wildcards");
			o->topic = optarg;
			break;
		case 'S':
			o->subscribe = true;
			break;
		case OPT_SUBSCRIBERS:
			if (parse_u64(optarg, 1, 1000, &v))
				return bad_value("--subscribers", optarg, "1-1000");
			o->subscribe = true;
			o->subscribers = (unsigned)v;
			break;
		case OPT_STAMP:
			o->stamp = true;
			break;
		case OPT_INFLIGHT:
			if (parse_u64(optarg, 1, 30000, &v))
				return bad_value("--inflight", optarg, "1-30000");
			o->inflight = (unsigned)v;
			break;
		case OPT_IDLE:
			if (parse_seconds(optarg, &o->idle_s))
				return bad_value("--idle", optarg, "seconds >= 0");
			break;
		case OPT_TIMEOUT:
			if (parse_seconds(optarg, &o->timeout_s) || o->timeout_s <= 0)
				return bad_value("--timeout", optarg, "seconds > 0");
			break;
		case OPT_ENDPOINT:
			if (parse_u64(optarg, 0, 65535, &v))
				return bad_value("--endpoint", optarg, "a port, 0 = any free one");
			o->endpoint_port = (int)v;
			break;
		case OPT_EXPECT:
			if (parse_u64(optarg, 1, UINT64_C(1) << 40, &v))
				return bad_value("--expect", optarg, "a count >= 1");
			o->expect = v;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs("try: nh-load --help\n", stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nh-load: unexpected argument \"%s\"; try: nh-load --help\n",
			argv[optind]);
		return -1;
	}
	if (o->stamp && o->payload_size < 16) {
		fprintf(stderr, "nh-load: --stamp needs --payload-size >= 16\n");
		return -1;
	}
	if (o->subscribe && !o->subscribers)
		o->subscribers = 1;
	if (o->subscribers > 1 && o->subscribers != o->publishers) {
		fprintf(stderr, "nh-load: --subscribers %u needs --publishers %u (a subscriber "
			"per publisher)\n", o->subscribers, o->subscribers);
		return -1;
	}
	return 0;
}

/* ---- byte buffers -------------------------------------------------------- */

/* Bytes waiting to be written: [off, len) of p. */
struct obuf {
	uint8_t *p;
	size_t off, len, cap;
};

/* Makes room for n more bytes at p + len. */
static int obuf_reserve(struct obuf *b, size_t n)
{
	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	if (b->cap - b->len >= n)
		return 0;
	if (b->off) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= n)
			return 0;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n)
		cap *= 2;
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static size_t obuf_pending(const struct obuf *b)
{
	return b->len - b->off;
}

/* ---- MQTT encoding --------------------------------------------------------- */

enum {
	MQTT_CONNECT = 0x10, MQTT_CONNACK = 0x20, MQTT_PUBLISH = 0x30, MQTT_PUBACK = 0x40,
	MQTT_PUBREC = 0x50, MQTT_PUBREL = 0x62, MQTT_PUBCOMP = 0x70, MQTT_SUBSCRIBE = 0x82,
	MQTT_SUBACK = 0x90, MQTT_PINGRESP = 0xd0, MQTT_DISCONNECT = 0xe0,
};

static size_t put_varint(uint8_t *p, size_t v)
{
	size_t n = 0;

	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		p[n++] = (uint8_t)(b | (v ? 0x80 : 0));
	} while (v);
	return n;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t n)
{
	*p++ = (uint8_t)(n >> 8);
	*p++ = (uint8_t)n;
	memcpy(p, s, n);
	return p + n;
}

/* An ack-like packet: type byte, length 2, packet id. */
static int put_ack(struct obuf *b, uint8_t type, uint16_t pid)
{
	if (obuf_reserve(b, 4))
		return -1;
	uint8_t *p = b->p + b->len;
	p[0] = type;
	p[1] = 2;
	p[2] = (uint8_t)(pid >> 8);
	p[3] = (uint8_t)pid;
	b->len += 4;
	return 0;
}

static int put_connect(struct obuf *b, const char *client_id)
{
	size_t idlen = strlen(client_id);
	size_t rem = 10 + 2 + idlen;
	uint8_t *p;

	if (obuf_reserve(b, 5 + rem))
		return -1;
	p = b->p + b->len;
	*p++ = MQTT_CONNECT;
	p += put_varint(p, rem);
	p = put_str(p, "MQTT", 4);
	*p++ = 4;		/* 3.1.1 */
	*p++ = 0x02;		/* clean session */
	*p++ = 0;		/* keepalive 0: off, no PINGREQ needed */
	*p++ = 0;
	p = put_str(p, client_id, idlen);
	b->len = (size_t)(p - b->p);
	return 0;
}

static int put_subscribe(struct obuf *b, const char *filter, int qos)
{
	size_t flen = strlen(filter);
	size_t rem = 2 + 2 + flen + 1;
	uint8_t *p;

	if (obuf_reserve(b, 5 + rem))
		return -1;
	p = b->p + b->len;
	*p++ = MQTT_SUBSCRIBE;
	p += put_varint(p, rem);
	*p++ = 0;
	*p++ = 1;		/* packet id */
	p = put_str(p, filter, flen);
	*p++ = (uint8_t)qos;
	b->len = (size_t)(p - b->p);
	return 0;
}

static void put_hex16(uint8_t *p, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--) {
		p[i] = (uint8_t)digits[v & 15];
		v >>= 4;
	}
}

/* ---- connections ----------------------------------------------------------- */

enum conn_state { CS_CONNECTING, CS_SUBSCRIBING, CS_READY, CS_CLOSED };

struct conn {
	int fd;
	bool is_sub;
	unsigned sub_index;	/* subscriber j of --subscribers */
	bool want_out;		/* EPOLLOUT is registered */
	enum conn_state state;
	struct obuf out;
	uint8_t *in;
	size_t in_len, in_cap;
	/* publisher */
	uint8_t prefix[1100];	/* fixed header + topic of every PUBLISH */
	size_t prefix_len;
	uint64_t quota, queued, acked;
	uint32_t inflight;
	uint16_t next_pid;
};

struct load {
	struct options o;
	int ep;
	struct conn *conns;	/* publishers, then the subscribers */
	unsigned nconns;
	uint8_t *payload;	/* the filler every publish carries */
	uint64_t queued, sent, acked, received;
	int64_t t0, t_last_write, t_last_ack, t_last_recv;
	const char *error;
};

static int conn_open(const struct options *o, struct conn *c)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	char port[8];
	int one = 1, fd = -1, rc;

	snprintf(port, sizeof(port), "%d", o->port);
	rc = getaddrinfo(o->host, port, &hints, &res);
	if (rc) {
		fprintf(stderr, "nh-load: %s: %s\n", o->host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		fprintf(stderr, "nh-load: cannot connect to %s:%d: %s\n", o->host, o->port,
			strerror(errno));
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	c->fd = fd;
	return 0;
}

static void conn_watch(struct load *L, struct conn *c, bool want_out)
{
	struct epoll_event ev = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0),
				  .data.ptr = c };

	if (c->want_out != want_out) {
		epoll_ctl(L->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = want_out;
	}
}

/* Writes what is pending; a full socket waits for EPOLLOUT. */
static int conn_flush(struct load *L, struct conn *c)
{
	while (obuf_pending(&c->out)) {
		ssize_t n = write(c->fd, c->out.p + c->out.off, obuf_pending(&c->out));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			L->error = "write to the broker failed";
			return -1;
		}
		c->out.off += (size_t)n;
	}
	conn_watch(L, c, obuf_pending(&c->out) != 0);
	return 0;
}

/* Appends one PUBLISH to c's output. */
static int enqueue_publish(struct load *L, struct conn *c)
{
	size_t plen = L->o.payload_size;
	uint8_t *p;

	if (obuf_reserve(&c->out, c->prefix_len + 2 + plen))
		return -1;
	p = c->out.p + c->out.len;
	memcpy(p, c->prefix, c->prefix_len);
	p += c->prefix_len;
	if (L->o.qos) {
		if (++c->next_pid == 0)
			c->next_pid = 1;
		*p++ = (uint8_t)(c->next_pid >> 8);
		*p++ = (uint8_t)c->next_pid;
		c->inflight++;
	}
	memcpy(p, L->payload, plen);
	if (L->o.stamp)
		put_hex16(p, (uint64_t)clock_ns(CLOCK_REALTIME));
	c->out.len = (size_t)(p + plen - c->out.p);
	c->queued++;
	L->queued++;
	return 0;
}

static int build_prefix(const struct options *o, struct conn *c, unsigned index)
{
	char topic[1040];
	int tlen = snprintf(topic, sizeof(topic), "%s/%ld/%u", o->topic, (long)getpid(), index);
	size_t rem = 2 + (size_t)tlen + (o->qos ? 2 : 0) + o->payload_size;
	uint8_t *p = c->prefix;

	if (tlen < 0 || (size_t)tlen >= sizeof(topic) || rem > 268435455)
		return -1;
	*p++ = (uint8_t)(MQTT_PUBLISH | o->qos << 1);
	p += put_varint(p, rem);
	p = put_str(p, topic, (size_t)tlen);
	c->prefix_len = (size_t)(p - c->prefix);
	return 0;
}

/* One complete packet from the broker. */
static int on_packet(struct load *L, struct conn *c, uint8_t type, const uint8_t *body,
		     size_t len)
{
	uint16_t pid = len >= 2 ? (uint16_t)(body[0] << 8 | body[1]) : 0;

	switch (type & 0xf0) {
	case MQTT_CONNACK:
		if (len < 2 || body[1] != 0) {
			L->error = "the broker refused the connection";
			return -1;
		}
		if (c->is_sub) {
			char filter[1040];

			/* One subscriber takes every publisher's topic; with
			 * --subscribers N, subscriber j takes publisher j's. */
			if (L->o.subscribers > 1)
				snprintf(filter, sizeof(filter), "%s/%ld/%u", L->o.topic,
					 (long)getpid(), c->sub_index);
			else
				snprintf(filter, sizeof(filter), "%s/%ld/#", L->o.topic, (long)getpid());
			c->state = CS_SUBSCRIBING;
			return put_subscribe(&c->out, filter, L->o.qos);
		}
		c->state = CS_READY;
		return 0;
	case MQTT_SUBACK:
		if (len < 3 || body[2] == 0x80) {
			L->error = "the broker refused the subscription";
			return -1;
		}
		c->state = CS_READY;
		return 0;
	case MQTT_PUBACK & 0xf0:
	case MQTT_PUBCOMP & 0xf0:
		c->acked++;
		L->acked++;
		if (c->inflight)
			c->inflight--;
		L->t_last_ack = mono_ns();
		return 0;
	case MQTT_PUBREC & 0xf0:
		return put_ack(&c->out, MQTT_PUBREL, pid);
	case MQTT_PUBREL & 0xf0:	/* subscriber, QoS 2 */
		return put_ack(&c->out, MQTT_PUBCOMP, pid);
	case MQTT_PUBLISH: {
		int qos = (type >> 1) & 3;
		size_t tlen = len >= 2 ? (size_t)(body[0] << 8 | body[1]) : 0;

		L->received++;
		L->t_last_recv = mono_ns();
		if (qos == 0)
			return 0;
		if (len < 2 + tlen + 2)
			return -1;
		pid = (uint16_t)(body[2 + tlen] << 8 | body[3 + tlen]);
		return put_ack(&c->out, qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, pid);
	}
	case MQTT_PINGRESP:
		return 0;
	default:
		L->error = "unexpected packet from the broker";
		return -1;
	}
}

/* Reads what the socket has and handles every complete packet. */
static int conn_read(struct load *L, struct conn *c)
{
	for (;;) {
		if (c->in_cap - c->in_len < 65536) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 262144;
			uint8_t *p = realloc(c->in, cap);
			if (!p)
				return -1;
			c->in = p;
			c->in_cap = cap;
		}
		ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (n == 0) {
			L->error = "the broker closed a connection";
			c->state = CS_CLOSED;
			return -1;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			L->error = "read from the broker failed";
			return -1;
		}
		c->in_len += (size_t)n;

		size_t pos = 0;
		while (c->in_len - pos >= 2) {
			size_t rem = 0, hdr = 1;
			int shift = 0;
			bool whole = false;
			while (hdr < 5 && pos + hdr < c->in_len) {
				uint8_t b = c->in[pos + hdr++];
				rem |= (size_t)(b & 0x7f) << shift;
				shift += 7;
				if (!(b & 0x80)) {
					whole = true;
					break;
				}
			}
			if (!whole) {
				if (hdr >= 5) {
					L->error = "malformed packet from the broker";
					return -1;
				}
				break;
			}
			if (c->in_len - pos < hdr + rem)
				break;
			if (on_packet(L, c, c->in[pos], c->in + pos + hdr, rem))
				return -1;
			pos += hdr + rem;
		}
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
		if ((size_t)n < 65536)
			break;	/* drained for now; epoll says when there is more */
	}
	return obuf_pending(&c->out) ? conn_flush(L, c) : 0;
}

/* Handles what epoll reports; waits at most timeout_ms. */
static int poll_once(struct load *L, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(L->ep, evs, 64, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;
		if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && conn_read(L, c))
			return -1;
		if ((evs[i].events & EPOLLOUT) && conn_flush(L, c))
			return -1;
	}
	return 0;
}

static bool all_ready(const struct load *L)
{
	for (unsigned i = 0; i < L->nconns; i++)
		if (L->conns[i].state != CS_READY)
			return false;
	return true;
}

static bool pub_can_queue(const struct load *L, const struct conn *c)
{
	return c->queued < c->quota && (!L->o.qos || c->inflight < L->o.inflight);
}

/* As fast as the broker takes them: one pass gives each publisher up to
 * 64 KiB of publishes and writes them, round-robin so that no connection
 * gets ahead. Returns 1 if a publisher could take more right now (its
 * socket took everything), 0 if all wait for epoll, -1 on error. */
static int fill_max(struct load *L)
{
	int more = 0;

	for (unsigned i = 0; i < L->o.publishers; i++) {
		struct conn *c = &L->conns[i];
		if (obuf_pending(&c->out))
			continue;	/* waiting for EPOLLOUT */
		while (pub_can_queue(L, c) && obuf_pending(&c->out) < 65536)
			if (enqueue_publish(L, c))
				return -1;
		if (conn_flush(L, c))
			return -1;
		if (!obuf_pending(&c->out) && pub_can_queue(L, c))
			more = 1;
	}
	return more;
}

/* Paced: what the rate allows by now, round-robin over the publishers.
 * Returns the milliseconds until the next message is due. */
static int fill_rate(struct load *L, unsigned *rr)
{
	double elapsed = (double)(mono_ns() - L->t0) / 1e9;
	uint64_t allowed = (uint64_t)(elapsed * L->o.rate) + 1;
	unsigned blocked = 0;

	if (allowed > L->o.messages)
		allowed = L->o.messages;
	while (L->queued < allowed && blocked < L->o.publishers) {
		struct conn *c = &L->conns[*rr];
		*rr = (*rr + 1) % L->o.publishers;
		if (!pub_can_queue(L, c)) {
			blocked++;
			continue;
		}
		blocked = 0;
		if (enqueue_publish(L, c))
			return -1;
	}
	for (unsigned i = 0; i < L->o.publishers; i++)
		if (obuf_pending(&L->conns[i].out) && conn_flush(L, &L->conns[i]))
			return -1;
	if (L->queued >= L->o.messages)
		return 100;
	double due_ms = ((double)L->queued / L->o.rate - elapsed) * 1000;
	return due_ms < 1 ? 1 : due_ms > 100 ? 100 : (int)due_ms + 1;
}

static uint64_t pending_bytes(const struct load *L)
{
	uint64_t pending = 0;

	for (unsigned i = 0; i < L->o.publishers; i++)
		pending += obuf_pending(&L->conns[i].out);
	return pending;
}

/* Publishes written out so far (what is still in a buffer is not sent). */
static uint64_t count_sent(const struct load *L)
{
	uint64_t pending = pending_bytes(L);
	size_t per = L->conns[0].prefix_len + L->o.payload_size + (L->o.qos ? 2 : 0);
	/* Only PUBLISH (and the rare PUBREL) sit in a publisher's buffer, and
	 * every PUBLISH has the same size up to the topic suffix width. */
	uint64_t pending_msgs = (pending + per - 1) / per;
	return L->queued > pending_msgs ? L->queued - pending_msgs : 0;
}

static int load_setup(struct load *L)
{
	char id[64];

	L->nconns = L->o.publishers + (L->o.subscribe ? L->o.subscribers : 0);
	L->conns = calloc(L->nconns, sizeof(*L->conns));
	L->payload = malloc(L->o.payload_size ? L->o.payload_size : 1);
	L->ep = epoll_create1(EPOLL_CLOEXEC);
	if (!L->conns || !L->payload || L->ep < 0)
		return -1;
	for (size_t i = 0; i < L->o.payload_size; i++)
		L->payload[i] = (uint8_t)('a' + i % 26);

	for (unsigned i = 0; i < L->nconns; i++) {
		struct conn *c = &L->conns[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		c->fd = -1;
		c->is_sub = i >= L->o.publishers;
		c->sub_index = c->is_sub ? i - L->o.publishers : 0;
		if (c->is_sub)
			snprintf(id, sizeof(id), "nh-load-%ld-sub%u", (long)getpid(), c->sub_index);
		else
			snprintf(id, sizeof(id), "nh-load-%ld-%u", (long)getpid(), i);
		if (!c->is_sub) {
			c->quota = L->o.messages / L->o.publishers +
				   (i < L->o.messages % L->o.publishers ? 1 : 0);
			if (build_prefix(&L->o, c, i))
				return -1;
		}
		if (conn_open(&L->o, c) || epoll_ctl(L->ep, EPOLL_CTL_ADD, c->fd, &ev) ||
		    put_connect(&c->out, id) || conn_flush(L, c))
			return -1;
	}
	return 0;
}

static void load_close(struct load *L)
{
	for (unsigned i = 0; i < L->nconns; i++) {
		struct conn *c = &L->conns[i];
		if (c->fd >= 0) {
			if (c->state != CS_CLOSED) {
				static const uint8_t disconnect[2] = { MQTT_DISCONNECT, 0 };
				/* Best effort; a full socket just loses it. */
				if (write(c->fd, disconnect, 2) < 0)
					c->state = CS_CLOSED;
			}
			close(c->fd);
		}
		free(c->out.p);
		free(c->in);
	}
	free(L->conns);
	free(L->payload);
	if (L->ep >= 0)
		close(L->ep);
}

static int run_load(const struct options *o)
{
	struct load L = { .o = *o, .ep = -1 };
	int64_t deadline, idle_ns = (int64_t)(o->idle_s * 1e9), t_end, t_pub_done = 0;
	unsigned rr = 0;
	bool complete = false, timed_out = false;
	int rc = 1;

	if (load_setup(&L)) {
		if (!L.error)
			L.error = "setup failed";
		goto out;
	}
	/* Connect (and subscribe) before the clock starts. */
	deadline = mono_ns() + (int64_t)(o->timeout_s * 1e9);
	while (!all_ready(&L)) {
		if (stop_signal || L.error || mono_ns() > deadline || poll_once(&L, 100)) {
			if (!L.error)
				L.error = "the broker did not answer CONNECT/SUBSCRIBE";
			goto out;
		}
	}

	L.t0 = mono_ns();
	deadline = L.t0 + (int64_t)(o->timeout_s * 1e9);
	for (;;) {
		int wait = 100;

		if (o->rate > 0) {
			wait = fill_rate(&L, &rr);
			if (wait < 0)
				goto out;
		} else {
			int more = fill_max(&L);
			if (more < 0)
				goto out;
			if (more)
				wait = 0;
		}

		int64_t now = mono_ns();
		bool all_sent = L.queued == o->messages && !pending_bytes(&L);
		if (all_sent && !t_pub_done) {
			t_pub_done = now;
			L.t_last_write = now;
		}
		bool all_acked = !o->qos || L.acked >= o->messages;
		if (o->subscribe) {
			if (L.received >= o->messages && all_acked) {
				complete = true;
				break;
			}
			int64_t quiet_since = L.t_last_recv > t_pub_done ? L.t_last_recv : t_pub_done;
			if (all_sent && all_acked && now - quiet_since > idle_ns)
				break;
		} else if (all_sent && all_acked) {
			complete = true;
			break;
		}
		if (now > deadline) {
			timed_out = true;
			break;
		}
		if (stop_signal || L.error)
			break;
		/* Unless a publisher can go on at once (wait 0), each one has
		 * filled its socket or its window: epoll says when to go on. */
		if (poll_once(&L, wait)) {
			if (!L.error)
				L.error = "epoll failed";
			break;
		}
	}

	L.sent = count_sent(&L);
	if (o->subscribe)
		t_end = L.t_last_recv ? L.t_last_recv : mono_ns();
	else if (o->qos)
		t_end = L.t_last_ack ? L.t_last_ack : mono_ns();
	else
		t_end = t_pub_done ? t_pub_done : mono_ns();
	if (t_end < L.t0)
		t_end = L.t0;
	double secs = (double)(t_end - L.t0) / 1e9;
	double pub_secs = (double)((t_pub_done ? t_pub_done : mono_ns()) - L.t0) / 1e9;
	uint64_t done = o->subscribe ? L.received : o->qos ? L.acked : L.sent;
	printf("sent=%" PRIu64 " acked=%" PRIu64 " received=%" PRIu64 " lost=%" PRIu64
	       " seconds=%.6f msgs_per_s=%.0f publish_seconds=%.6f publishers=%u qos=%d"
	       " payload=%zu complete=%d cpu_ms=%.0f\n",
	       L.sent, L.acked, L.received,
	       o->subscribe && L.sent > L.received ? L.sent - L.received : 0,
	       secs, secs > 0 ? (double)done / secs : 0.0, pub_secs, o->publishers, o->qos,
	       o->payload_size, complete ? 1 : 0, cpu_ms());
	fflush(stdout);
	if (timed_out)
		fprintf(stderr, "nh-load: timeout after %.0f s\n", o->timeout_s);
	rc = complete ? 0 : 1;
out:
	if (L.error)
		fprintf(stderr, "nh-load: %s\n", L.error);
	load_close(&L);
	return rc;
}

/* ---- endpoint mode ----------------------------------------------------------- */

/* Everything the server thread updates; the main thread reads the
 * atomics while it runs and the rest after MHD_stop_daemon. */
struct endpoint {
	struct MHD_Response *ok;
	_Atomic uint64_t bodies;
	_Atomic int64_t last_body_ns;	/* monotonic */
	int64_t first_body_ns;
	uint64_t requests, publish_bodies;
	int64_t *lat_ns;		/* one per stamped body */
	size_t nlat, lat_cap;
	bool oom;
};

struct request {
	char *buf;
	size_t len, cap;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool parse_hex16(const char *p, size_t avail, uint64_t *out)
{
	uint64_t v = 0;

	if (avail < 16)
		return false;
	for (int i = 0; i < 16; i++) {
		int d = hexval((unsigned char)p[i]);
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

/* The stamp at the start of a payload string, plain or base64. */
static bool payload_stamp(const char *p, size_t avail, uint64_t *out)
{
	uint8_t dec[18];

	if (parse_hex16(p, avail, out))
		return true;
	/* 24 base64 characters (a prefix of the payload's) are 18 bytes */
	if (avail < 24 || nh_base64_decode(p, 24, dec, sizeof(dec)) != 18)
		return false;
	return parse_hex16((const char *)dec, sizeof(dec), out);
}

static void add_latency(struct endpoint *e, int64_t ns)
{
	if (e->nlat == e->lat_cap) {
		size_t cap = e->lat_cap ? e->lat_cap * 2 : 65536;
		int64_t *p = realloc(e->lat_ns, cap * sizeof(*p));
		if (!p) {
			e->oom = true;
			return;
		}
		e->lat_ns = p;
		e->lat_cap = cap;
	}
	e->lat_ns[e->nlat++] = ns;
}

/* Counts the bodies in one request (one object, or an array of them). */
static void count_bodies(struct endpoint *e, const char *buf, size_t len)
{
	static const char action[] = "\"action\":\"", publish[] = "message_publish\"",
			  payload[] = "\"payload\":\"";
	int64_t now_real = clock_ns(CLOCK_REALTIME), now = mono_ns();
	const char *end = buf + len, *p;
	uint64_t n = 0;

	for (p = buf; (p = memmem(p, (size_t)(end - p), action, sizeof(action) - 1));) {
		p += sizeof(action) - 1;
		n++;
		if ((size_t)(end - p) >= sizeof(publish) - 1 &&
		    !memcmp(p, publish, sizeof(publish) - 1))
			e->publish_bodies++;
	}
	for (p = buf; (p = memmem(p, (size_t)(end - p), payload, sizeof(payload) - 1));) {
		uint64_t stamp;
		p += sizeof(payload) - 1;
		if (payload_stamp(p, (size_t)(end - p), &stamp))
			add_latency(e, now_real - (int64_t)stamp);
	}
	e->requests++;
	if (n) {
		if (!atomic_load(&e->bodies))
			e->first_body_ns = now;
		atomic_store(&e->last_body_ns, now);
		atomic_fetch_add(&e->bodies, n);
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **req_cls)
{
	struct endpoint *e = cls;
	struct request *r = *req_cls;

	(void)url;
	(void)method;
	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*req_cls = r;
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->cap - r->len < *upload_size) {
			size_t cap = r->cap ? r->cap : 1024;
			while (cap - r->len < *upload_size)
				cap *= 2;
			char *p = realloc(r->buf, cap);
			if (!p)
				return MHD_NO;
			r->buf = p;
			r->cap = cap;
		}
		memcpy(r->buf + r->len, upload, *upload_size);
		r->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	count_bodies(e, r->buf ? r->buf : "", r->len);
	return MHD_queue_response(conn, MHD_HTTP_OK, e->ok);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *req_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r) {
		free(r->buf);
		free(r);
		*req_cls = NULL;
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least pct % at or below it. */
static double pct_ms(const int64_t *sorted, size_t n, unsigned pct)
{
	size_t rank;

	if (!n)
		return 0;
	rank = (n * pct + 99) / 100;
	if (rank < 1)
		rank = 1;
	return (double)sorted[rank - 1] / 1e6;
}

static int run_endpoint(const struct options *o)
{
	struct endpoint e = { 0 };
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_port = htons((uint16_t)o->endpoint_port),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	int64_t start = mono_ns(), idle_ns = (int64_t)(o->idle_s * 1e9);
	int rc = 0;

	e.ok = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!e.ok)
		return 1;
	/* One server thread: the handler's counters need no lock, and on a
	 * 2-core machine more threads would only take CPU from the broker. */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
			     0, NULL, NULL, on_request, &e,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, &e,
			     MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			     MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "nh-load: cannot listen on 127.0.0.1:%d\n", o->endpoint_port);
		MHD_destroy_response(e.ok);
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("listening on 127.0.0.1:%u\n", info ? info->port : 0);
	fflush(stdout);

	for (;;) {
		int64_t now = mono_ns();
		uint64_t n = atomic_load(&e.bodies);

		if (stop_signal || (o->expect && n >= o->expect))
			break;
		if (n && idle_ns && now - atomic_load(&e.last_body_ns) > idle_ns)
			break;
		if (now - start > (int64_t)(o->timeout_s * 1e9)) {
			rc = 1;
			break;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(d);
	MHD_destroy_response(e.ok);

	uint64_t bodies = atomic_load(&e.bodies);
	double secs = bodies ? (double)(atomic_load(&e.last_body_ns) - e.first_body_ns) / 1e9 : 0;
	qsort(e.lat_ns, e.nlat, sizeof(*e.lat_ns), cmp_i64);
	printf("requests=%" PRIu64 " bodies=%" PRIu64 " publish_bodies=%" PRIu64
	       " seconds=%.6f bodies_per_s=%.0f stamped=%zu lat_p50_ms=%.3f lat_p99_ms=%.3f"
	       " lat_max_ms=%.3f cpu_ms=%.0f\n",
	       e.requests, bodies, e.publish_bodies, secs, secs > 0 ? (double)bodies / secs : 0.0,
	       e.nlat, pct_ms(e.lat_ns, e.nlat, 50), pct_ms(e.lat_ns, e.nlat, 99),
	       e.nlat ? (double)e.lat_ns[e.nlat - 1] / 1e6 : 0.0, cpu_ms());
	fflush(stdout);
	if (e.oom)
		fprintf(stderr, "nh-load: out of memory: some latencies were not kept\n");
	if (o->expect && bodies < o->expect) {
		fprintf(stderr, "nh-load: endpoint got %" PRIu64 " of %" PRIu64 " bodies\n",
			bodies, o->expect);
		rc = 1;
	}
	free(e.lat_ns);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o = {
		.host = "127.0.0.1", .port = 1883, .publishers = 4, .messages = 50000,
		.qos = 0, .payload_size = 64, .topic = "nhbench", .inflight = 16,
		.idle_s = -1 /* mode default */, .timeout_s = 60, .endpoint_port = -1,
	};

	if (parse_args(argc, argv, &o))
		return 2;
	install_signals();
	if (o.endpoint_port >= 0) {
		if (o.idle_s < 0)
			o.idle_s = 0;	/* by default it waits for --expect or a signal */
		return run_endpoint(&o);
	}
	if (o.idle_s < 0)
		o.idle_s = 2;
	return run_load(&o);
}
