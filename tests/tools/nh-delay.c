/* SPDX-License-Identifier: MIT */
/*
 * nh-delay: a TCP delay line for the delivery benchmark, where the kernel
 * has no tc netem (CONFIG_NET_SCH_NETEM unset, as on some cloud kernels).
 *
 * Listens on --listen, connects each accepted connection to --to, and
 * forwards the bytes both ways, each chunk held --rtt-ms / 2 after it was
 * read: a request and its answer take one round trip more, as netem on
 * the path would make them. Bytes are never reordered or changed, so any
 * protocol (HTTP/1.1, h2c) passes through.
 *
 * One thread, epoll; each direction a FIFO of chunks with their due time.
 * It prints "listening on ADDR:PORT" when ready and runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536
#define MAX_PAIRS 4096

static const char usage[] =
	"usage: nh-delay --listen ADDR:PORT --to ADDR:PORT --rtt-ms MS\n"
	"\n"
	"A TCP forwarder that holds every chunk MS/2 ms in each direction: a\n"
	"userspace stand-in for tc netem on the path to a receiver. IPv4 only.\n";

struct chunk {
	struct chunk *next;
	int64_t due_us;
	size_t len, off; /* len 0: the end of the stream */
	char data[];
};

/* One direction: read from `from`, write to `to`. */
struct dir {
	int from, to;
	struct chunk *head, *tail;
	bool eof_read, done;
};

struct pair {
	struct dir d[2]; /* [0]: client to upstream, [1]: back */
	bool used;
};

static struct pair pairs[MAX_PAIRS];
static int64_t half_us;

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int parse_addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static void set_nonblock(int fd)
{
	int one = 1;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void pair_close(int ep, struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		struct chunk *c = p->d[i].head;

		while (c) {
			struct chunk *n = c->next;

			free(c);
			c = n;
		}
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, p->d[0].from, NULL);
	epoll_ctl(ep, EPOLL_CTL_DEL, p->d[1].from, NULL);
	close(p->d[0].from);
	close(p->d[1].from);
	memset(p, 0, sizeof(*p));
}

/* Reads what `from` has into timed chunks; false when the pair is broken. */
static bool pull(struct dir *d, int64_t t)
{
	for (;;) {
		struct chunk *c = malloc(sizeof(*c) + CHUNK);
		ssize_t n;

		if (!c)
			return false;
		n = read(d->from, c->data, CHUNK);
		if (n < 0) {
			free(c);
			return errno == EAGAIN || errno == EINTR;
		}
		c->next = NULL;
		c->due_us = t + half_us;
		c->len = (size_t)n;
		c->off = 0;
		if (d->tail)
			d->tail->next = c;
		else
			d->head = c;
		d->tail = c;
		if (n == 0) {
			d->eof_read = true;
			return true;
		}
	}
}

/* Writes the chunks that are due; false when the pair is broken. */
static bool push(struct dir *d, int64_t t)
{
	while (d->head && d->head->due_us <= t) {
		struct chunk *c = d->head;

		if (c->len == 0) {
			shutdown(d->to, SHUT_WR);
			d->done = true;
		} else {
			while (c->off < c->len) {
				ssize_t n = write(d->to, c->data + c->off, c->len - c->off);

				if (n < 0 && errno == EAGAIN)
					return true; /* the rest when the next chunk is due */
				if (n <= 0)
					return false;
				c->off += (size_t)n;
			}
		}
		d->head = c->next;
		if (!d->head)
			d->tail = NULL;
		free(c);
	}
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "to", required_argument, NULL, 't' },
		{ "rtt-ms", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct sockaddr_in la, ta;
	socklen_t alen = sizeof(la);
	const char *listen_s = NULL, *to_s = NULL;
	int c, lfd, ep, one = 1;
	double rtt = -1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen_s = optarg; break;
		case 't': to_s = optarg; break;
		case 'r': rtt = atof(optarg); break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!listen_s || !to_s || rtt < 0 || parse_addr(listen_s, &la) || parse_addr(to_s, &ta)) {
		fputs(usage, stderr);
		return 2;
	}
	half_us = (int64_t)(rtt * 1000.0 / 2.0);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(lfd, 1024) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&la, &alen) < 0) {
		perror("nh-delay: listen");
		return 1;
	}
	set_nonblock(lfd);
	ep = epoll_create1(0);
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &(struct epoll_event){ .events = EPOLLIN, .data.u64 = UINT64_MAX });
	printf("listening on 127.0.0.1:%u\n", ntohs(la.sin_port));
	fflush(stdout);

	for (;;) {
		struct epoll_event evs[256];
		int64_t t = now_us(), next = INT64_MAX;
		struct timespec timeout;
		int n;

		for (int i = 0; i < MAX_PAIRS; i++)
			for (int k = 0; pairs[i].used && k < 2; k++)
				if (pairs[i].d[k].head && pairs[i].d[k].head->due_us < next)
					next = pairs[i].d[k].head->due_us;
		/* To the microsecond (epoll_wait's milliseconds would turn a
		 * 0.5 ms hold into 1 ms). */
		if (next == INT64_MAX)
			timeout = (struct timespec){ .tv_sec = 1 };
		else if (next <= t)
			timeout = (struct timespec){ 0 };
		else
			timeout = (struct timespec){ .tv_sec = (next - t) / 1000000,
						     .tv_nsec = (long)((next - t) % 1000000) * 1000 };
		n = epoll_pwait2(ep, evs, 256, &timeout, NULL);
		t = now_us();
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == UINT64_MAX) {
				int cfd, ufd, slot;

				while ((cfd = accept(lfd, NULL, NULL)) >= 0) {
					for (slot = 0; slot < MAX_PAIRS && pairs[slot].used; slot++)
						;
					ufd = socket(AF_INET, SOCK_STREAM, 0);
					if (slot == MAX_PAIRS || ufd < 0 ||
					    connect(ufd, (struct sockaddr *)&ta, sizeof(ta)) < 0) {
						close(cfd);
						if (ufd >= 0)
							close(ufd);
						continue;
					}
					set_nonblock(cfd);
					set_nonblock(ufd);
					pairs[slot] = (struct pair){
						.d = { { .from = cfd, .to = ufd }, { .from = ufd, .to = cfd } },
						.used = true,
					};
					epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &(struct epoll_event){
						.events = EPOLLIN, .data.u64 = (uint64_t)slot * 2 });
					epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &(struct epoll_event){
						.events = EPOLLIN, .data.u64 = (uint64_t)slot * 2 + 1 });
				}
				continue;
			}
			{
				struct pair *p = &pairs[evs[i].data.u64 / 2];
				struct dir *d = &p->d[evs[i].data.u64 % 2];

				if (!p->used || d->eof_read)
					continue;
				if (!pull(d, t))
					pair_close(ep, p);
				else if (d->eof_read)
					epoll_ctl(ep, EPOLL_CTL_DEL, d->from, NULL);
			}
		}
		for (int i = 0; i < MAX_PAIRS; i++) {
			struct pair *p = &pairs[i];

			if (!p->used)
				continue;
			if (!push(&p->d[0], t) || !push(&p->d[1], t) || (p->d[0].done && p->d[1].done))
				pair_close(ep, p);
		}
	}
}
