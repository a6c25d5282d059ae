// SPDX-License-Identifier: MIT
/*
 * nh-nats-tail: prints a JetStream stream's messages, one JSON line each:
 *   {"seq":N,"subject":"...","msg_id":"...","body":<the message, as it is>}
 * (body is the message's own bytes when they are JSON, else a string).
 *
 *   nh-nats-tail [--server URL] [--stream NAME] [--follow] [--from SEQ]
 *   nh-nats-tail --count [...]      one line: messages, first and last seq
 *   nh-nats-tail --add SUBJECTS [--replicas N] [...]   creates the stream
 *                                   (fails while a cluster is not ready)
 *
 * For the tests, `make demo-nats` and the benchmark; Debian has no NATS
 * command-line client.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void json_str(const char *s, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* Bodies are nanohook's JSON: printed as they are, else as a string. */
static void print_body(const char *d, size_t n)
{
	if (n && (d[0] == '{' || d[0] == '[') && (d[n - 1] == '}' || d[n - 1] == ']'))
		fwrite(d, 1, n, stdout);
	else
		json_str(d, n);
}

static int stream_state(jsCtx *js, const char *stream, uint64_t *msgs, uint64_t *first,
			uint64_t *last)
{
	jsStreamInfo *si = NULL;
	jsErrCode code = 0;
	natsStatus st = js_GetStreamInfo(&si, js, stream, NULL, &code);

	if (st != NATS_OK) {
		fprintf(stderr, "nh-nats-tail: stream %s: %s\n", stream, natsStatus_GetText(st));
		return -1;
	}
	*msgs = si->State.Msgs;
	*first = si->State.FirstSeq;
	*last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "stream", required_argument, NULL, 'n' },
		{ "from", required_argument, NULL, 'f' },
		{ "follow", no_argument, NULL, 'F' },
		{ "count", no_argument, NULL, 'c' },
		{ "add", required_argument, NULL, 'a' },
		{ "replicas", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *server = "nats://127.0.0.1:4222", *stream = "NANOHOOK";
	bool follow = false, count = false;
	const char *add = NULL;
	int replicas = 1;
	uint64_t next = 1, msgs, first, last;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	natsStatus st;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': server = optarg; break;
		case 'n': stream = optarg; break;
		case 'f': next = strtoull(optarg, NULL, 10); break;
		case 'F': follow = true; break;
		case 'c': count = true; break;
		case 'a': add = optarg; break;
		case 'r': replicas = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: nh-nats-tail [--server URL] [--stream NAME] "
				"[--from SEQ] [--follow | --count | --add SUBJECTS [--replicas N]]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if ((st = natsConnection_ConnectTo(&nc, server)) != NATS_OK ||
	    (st = natsConnection_JetStream(&js, nc, NULL)) != NATS_OK) {
		fprintf(stderr, "nh-nats-tail: %s: %s\n", server, natsStatus_GetText(st));
		goto out;
	}
	if (add) {
		jsStreamConfig sc;
		jsStreamInfo *si = NULL;
		jsErrCode code = 0;
		const char *subjects[1] = { add };

		jsStreamConfig_Init(&sc);
		sc.Name = stream;
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Replicas = replicas;
		st = js_AddStream(&si, js, &sc, NULL, &code);
		if (st != NATS_OK) {
			fprintf(stderr, "nh-nats-tail: add %s: %s (%d)\n", stream,
				natsStatus_GetText(st), (int)code);
			goto out;
		}
		jsStreamInfo_Destroy(si);
		rc = 0;
		goto out;
	}
	if (stream_state(js, stream, &msgs, &first, &last) < 0)
		goto out;
	if (count) {
		printf("%" PRIu64 " messages, seq %" PRIu64 "..%" PRIu64 "\n", msgs, first, last);
		rc = 0;
		goto out;
	}
	if (next < first)
		next = first;
	while (!stop) {
		for (; next <= last && !stop; next++) {
			natsMsg *m = NULL;
			jsErrCode code = 0;
			const char *id = "";

			st = js_GetMsg(&m, js, stream, next, NULL, &code);
			if (st == NATS_NOT_FOUND)
				continue; /* deleted */
			if (st != NATS_OK) {
				fprintf(stderr, "nh-nats-tail: seq %" PRIu64 ": %s\n", next,
					natsStatus_GetText(st));
				goto out;
			}
			natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
			printf("{\"seq\":%" PRIu64 ",\"subject\":", next);
			json_str(natsMsg_GetSubject(m), strlen(natsMsg_GetSubject(m)));
			printf(",\"msg_id\":");
			json_str(id ? id : "", id ? strlen(id) : 0);
			printf(",\"body\":");
			print_body(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
			printf("}\n");
			natsMsg_Destroy(m);
		}
		fflush(stdout);
		if (!follow)
			break;
		usleep(200 * 1000);
		if (stream_state(js, stream, &msgs, &first, &last) < 0)
			goto out;
	}
	rc = 0;
out:
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_Close();
	return rc;
}
