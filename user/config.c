/* SPDX-License-Identifier: MIT */
/*
 * nanohook's configuration: NanoMQ's `webhook {}` block (read the way a
 * user of NanoMQ's docs writes it) plus nanohook's own `nanohook {}` block,
 * validated up front so that a running nanohook never meets a bad value.
 *
 * Choices worth knowing:
 *  - Event names and body.encoding match case-insensitively, as NanoMQ
 *    compares them.
 *  - A webhook without events is an error: nothing would ever be sent.
 *  - A url without a path is sent to "/". NanoMQ puts an empty request
 *    target on the request line there ("POST  HTTP/1.1"), which servers
 *    reject; `check` says so.
 *  - Unknown keys and a `topic` on an event that has none are warnings;
 *    wrong types and out-of-range values are errors.
 *  - `tls` (or NanoMQ's other spelling, `ssl`) is read as the block NanoMQ
 *    announced; a tls block on an http:// url is an error, since the user
 *    meant to encrypt. Relative paths are relative to the config file.
 *  - Secrets are never taken from the file for signing (sign.secret is an
 *    error); tls.key_password is, as NanoMQ's other ssl blocks do.
 *  - The brace-less `events = [ event = "x" topic = "y" ]` of NanoMQ's doc
 *    is refused by the HOCON reader (see hocon.h): NanoMQ would keep only
 *    its first event, silently.
 */
#include "config.h"

#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hocon.h"
#include "url.h"
#include "subject.h"
#include "topic.h"

#define POOL_SIZE_MAX 1024
#define CANCEL_TIMEOUT_MAX_MS 3600000ull
#define QUEUE_MAX_MAX 10000000ull
#define RINGBUF_MIN (64ull << 10)
#define RINGBUF_MAX (1ull << 30)
#define RETRY_ATTEMPTS_MAX 1000000ull
#define DURATION_MAX_MS (24ull * 3600 * 1000)
#define AGE_MAX_MS (365ull * 24 * 3600 * 1000)
#define SPOOL_MIN (64ull << 10)
#define SPOOL_MAX (1ull << 40)
#define BATCH_MAX 10000ull
#define BATCH_WAIT_MAX_MS 60000ull
#define LANE_INFLIGHT_MAX 64ull

struct event_info {
	const char *name;
	bool has_topic; /* a rule's topic filters this event */
};

static const struct event_info event_info[NH_EV_MAX] = {
	[NH_EV_CONNECT] = { "on_client_connect", false },
	[NH_EV_CONNACK] = { "on_client_connack", false },
	[NH_EV_CONNECTED] = { "on_client_connected", false },
	[NH_EV_DISCONNECTED] = { "on_client_disconnected", false },
	[NH_EV_SUBSCRIBE] = { "on_client_subscribe", true },
	[NH_EV_UNSUBSCRIBE] = { "on_client_unsubscribe", true },
	[NH_EV_SESSION_SUBSCRIBED] = { "on_session_subscribed", true },
	[NH_EV_SESSION_UNSUBSCRIBED] = { "on_session_unsubscribed", true },
	[NH_EV_SESSION_TERMINATED] = { "on_session_terminated", false },
	[NH_EV_PUBLISH] = { "on_message_publish", true },
	[NH_EV_DELIVERED] = { "on_message_delivered", true },
	[NH_EV_ACKED] = { "on_message_acked", true },
};

/* The order NanoMQ's docs list them in, for messages. */
static const enum nh_event_type event_order[] = {
	NH_EV_CONNECT, NH_EV_CONNACK, NH_EV_CONNECTED, NH_EV_DISCONNECTED,
	NH_EV_SUBSCRIBE, NH_EV_UNSUBSCRIBE, NH_EV_SESSION_SUBSCRIBED,
	NH_EV_SESSION_UNSUBSCRIBED, NH_EV_SESSION_TERMINATED, NH_EV_PUBLISH,
	NH_EV_DELIVERED, NH_EV_ACKED,
};

const char *nh_event_name(enum nh_event_type ev)
{
	if ((int)ev <= NH_EV_NONE || ev >= NH_EV_MAX || !event_info[ev].name)
		return "unknown";
	return event_info[ev].name;
}

enum nh_event_type nh_event_from_name(const char *name)
{
	if (!name)
		return NH_EV_NONE;
	for (int ev = NH_EV_NONE + 1; ev < NH_EV_MAX; ev++)
		if (event_info[ev].name &&
		    strcasecmp(event_info[ev].name, name) == 0)
			return (enum nh_event_type)ev;
	return NH_EV_NONE;
}

static bool event_has_topic(enum nh_event_type ev)
{
	return (int)ev > NH_EV_NONE && ev < NH_EV_MAX && event_info[ev].has_topic;
}

/* ---- messages ------------------------------------------------------------ */

/* A url or a list of them, as written for webhook.url or a rule's url. */
struct url_list {
	char **urls;
	size_t n;
	int line, col;
};

struct loader {
	const char *name;
	const char *dir;  /* the config file's directory: relative paths start there; NULL: cwd */
	FILE *err;
	struct nh_config *cfg;
	struct url_list main_urls;  /* webhook.url */
	struct url_list *rule_urls; /* per rule (n = 0: none); destinations once all is read */
	size_t n_rule_urls;
	int http2_line, http2_col;  /* nanohook.http2, for the note on http:// urls */
	int nats_sink_line;         /* the first rule with sink = nats or both; 0: none */
};

static void vreport(struct loader *ld, int line, int col, const char *fmt,
		    va_list ap)
{
	if (!ld->err)
		return;
	fprintf(ld->err, "%s:%d:%d: ", ld->name, line, col);
	vfprintf(ld->err, fmt, ap);
	fputc('\n', ld->err);
}

static int error_at(struct loader *ld, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int error_at(struct loader *ld, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, line, col, fmt, ap);
	va_end(ap);
	return -1;
}

static void warn_at(struct loader *ld, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void warn_at(struct loader *ld, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, line, col, fmt, ap);
	va_end(ap);
}

#define AT_VALUE(n) (n)->line, (n)->col
#define AT_KEY(n) (n)->key_line, (n)->key_col

/* "'text'" for a scalar, "an object" etc. otherwise, for messages. */
static const char *describe(const struct nh_hocon_node *n, char *buf, size_t len)
{
	switch (n->type) {
	case NH_HOCON_OBJECT: return "an object";
	case NH_HOCON_ARRAY: return "an array";
	case NH_HOCON_NULL: return "null";
	default:
		snprintf(buf, len, "'%.60s%s'", n->str, n->len > 60 ? "..." : "");
		return buf;
	}
}

static void warn_unknown(struct loader *ld, const struct nh_hocon_node *k,
			 const char *where)
{
	warn_at(ld, AT_KEY(k), "unknown key '%s' in %s (ignored)", k->key, where);
}

/* ---- values ---------------------------------------------------------------- */

static int get_uint(struct loader *ld, const struct nh_hocon_node *n,
		    const char *what, unsigned long long min,
		    unsigned long long max, unsigned long long *out)
{
	char buf[80];
	long long v;

	if (nh_hocon_as_int(n, &v) < 0)
		return error_at(ld, AT_VALUE(n), "%s: expected an integer, got %s",
				what, describe(n, buf, sizeof(buf)));
	if (v < 0 || (unsigned long long)v < min || (unsigned long long)v > max)
		return error_at(ld, AT_VALUE(n), "%s: %lld is out of range %llu..%llu",
				what, v, min, max);
	*out = (unsigned long long)v;
	return 0;
}

static int get_string(struct loader *ld, const struct nh_hocon_node *n,
		      const char *what, const char **out)
{
	char buf[80];

	if (n->type != NH_HOCON_STRING && n->type != NH_HOCON_NUMBER &&
	    n->type != NH_HOCON_BOOL)
		return error_at(ld, AT_VALUE(n), "%s: expected a string, got %s",
				what, describe(n, buf, sizeof(buf)));
	*out = n->str;
	return 0;
}

static int get_bool(struct loader *ld, const struct nh_hocon_node *k, const char *what,
		    bool *out)
{
	char buf[80];

	if (nh_hocon_as_bool(k, out) < 0)
		return error_at(ld, AT_VALUE(k), "%s: expected true or false, got %s", what,
				describe(k, buf, sizeof(buf)));
	return 0;
}

/* A setting with two words: *out is true for `yes`, false for `no`. */
static int get_either(struct loader *ld, const struct nh_hocon_node *k, const char *what,
		      const char *yes, const char *no, bool *out)
{
	const char *s = NULL;
	char buf[80];

	if (get_string(ld, k, what, &s) < 0)
		return -1;
	if (strcasecmp(s, yes) && strcasecmp(s, no))
		return error_at(ld, AT_VALUE(k), "%s: expected %s or %s, got %s", what, yes, no,
				describe(k, buf, sizeof(buf)));
	*out = !strcasecmp(s, yes);
	return 0;
}

static void url_list_free(struct url_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->urls[i]);
	free(l->urls);
	memset(l, 0, sizeof(*l));
}

/* One url, normalized, appended to l; duplicates are refused (a pool of
 * one endpoint twice would send it twice the load, not two copies). */
static int url_list_add(struct loader *ld, const struct nh_hocon_node *n, const char *what,
			struct url_list *l)
{
	const char *s = NULL, *why = NULL;
	char **urls, *url;

	if (get_string(ld, n, what, &s) < 0)
		return -1;
	url = nh_url_normalize(s, &ld->cfg->url_path_added, &why);
	if (!url)
		return error_at(ld, AT_VALUE(n), "%s: '%.200s' %s", what, s, why);
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(l->urls[i], url)) {
			free(url);
			return error_at(ld, AT_VALUE(n), "%s: '%.200s' is in the list twice", what, s);
		}
	}
	if (l->n == NH_DEST_URLS_MAX) {
		free(url);
		return error_at(ld, AT_VALUE(n), "%s: more than %d urls in one list", what,
				NH_DEST_URLS_MAX);
	}
	urls = realloc(l->urls, (l->n + 1) * sizeof(*urls));
	if (!urls) {
		free(url);
		return error_at(ld, AT_VALUE(n), "out of memory");
	}
	l->urls = urls;
	l->urls[l->n++] = url;
	return 0;
}

/* url = "..." or url = ["...", "..."]: replaces *l. */
static int load_url_list(struct loader *ld, const struct nh_hocon_node *n, const char *what,
			 struct url_list *l)
{
	char item[80];

	url_list_free(l);
	l->line = n->line;
	l->col = n->col;
	if (n->type != NH_HOCON_ARRAY)
		return url_list_add(ld, n, what, l);
	if (n->n_kids == 0)
		return error_at(ld, AT_VALUE(n), "%s: an empty list, nowhere to send", what);
	for (size_t i = 0; i < n->n_kids; i++) {
		snprintf(item, sizeof(item), "%s[%zu]", what, i);
		if (url_list_add(ld, n->kids[i], item, l) < 0)
			return -1;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The spool's name for a list: the urls sorted, so that reordering a
 * failover list keeps its spool; one url is itself (as spools before
 * pools were named). */
static char *dest_key(const struct url_list *l)
{
	char **sorted = malloc(l->n * sizeof(*sorted));
	size_t len = 0, at = 0;
	char *key;

	if (!sorted)
		return NULL;
	memcpy(sorted, l->urls, l->n * sizeof(*sorted));
	qsort(sorted, l->n, sizeof(*sorted), cmp_str);
	for (size_t i = 0; i < l->n; i++)
		len += strlen(sorted[i]) + 1;
	key = malloc(len);
	for (size_t i = 0; key && i < l->n; i++) {
		size_t k = strlen(sorted[i]);

		memcpy(key + at, sorted[i], k);
		at += k;
		key[at++] = i + 1 < l->n ? ' ' : '\0';
	}
	free(sorted);
	return key;
}

/* The destination of list l: an existing one with the same urls (in any
 * order; the first written sets the order), or a new one that takes l's
 * strings. Returns its index, or -1. */
static int dest_of(struct loader *ld, struct url_list *l)
{
	struct nh_config *cfg = ld->cfg;
	struct nh_dest *dests;
	char *key = dest_key(l);

	if (!key)
		return error_at(ld, l->line, l->col, "out of memory");
	for (size_t i = 0; i < cfg->n_dests; i++) {
		if (!strcmp(cfg->dests[i].key, key)) {
			free(key);
			return (int)i;
		}
	}
	if (cfg->n_dests == NH_DESTS_MAX) {
		free(key);
		return error_at(ld, l->line, l->col,
				"more than %d different url lists (webhook.url and the rules' urls)",
				NH_DESTS_MAX);
	}
	dests = realloc(cfg->dests, (cfg->n_dests + 1) * sizeof(*dests));
	if (!dests) {
		free(key);
		return error_at(ld, l->line, l->col, "out of memory");
	}
	cfg->dests = dests;
	cfg->dests[cfg->n_dests] = (struct nh_dest){ .urls = l->urls, .n_urls = l->n, .key = key };
	memset(l, 0, sizeof(*l));
	return (int)cfg->n_dests++;
}

/* Once the webhook block is read: webhook.url is destination 0, and each
 * rule with a url of its own gets the destination of that list. */
static int resolve_dests(struct loader *ld)
{
	struct nh_config *cfg = ld->cfg;
	int d = dest_of(ld, &ld->main_urls);

	if (d != 0)
		return -1;
	if (!(cfg->url = strdup(cfg->dests[0].urls[0])))
		return error_at(ld, 1, 1, "out of memory");
	for (size_t i = 0; i < ld->n_rule_urls && i < cfg->n_rules; i++) {
		if (!ld->rule_urls[i].n)
			continue;
		if ((d = dest_of(ld, &ld->rule_urls[i])) < 0)
			return -1;
		cfg->rules[i].dest = (unsigned)d;
	}
	return 0;
}

/* ---- headers ---------------------------------------------------------------- */

static bool header_name_ok(const char *s)
{
	/* RFC 9110 token */
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || strchr(extra, c)))
			return false;
	}
	return true;
}

static bool header_value_ok(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static int load_headers(struct loader *ld, const struct nh_hocon_node *n)
{
	struct nh_config *cfg = ld->cfg;
	char buf[80];

	if (n->type != NH_HOCON_OBJECT)
		return error_at(ld, AT_VALUE(n),
				"webhook.headers: expected headers.<name> = \"value\" entries, got %s",
				describe(n, buf, sizeof(buf)));
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct nh_hocon_node *h = n->kids[i];
		struct nh_header *nh;

		if (h->type == NH_HOCON_OBJECT)
			return error_at(ld, AT_VALUE(h),
					"webhook.headers.%s: expected a string, got an object (quote a header name holding '.': headers.\"a.b\" = ...)",
					h->key);
		if (h->type != NH_HOCON_STRING && h->type != NH_HOCON_NUMBER &&
		    h->type != NH_HOCON_BOOL)
			return error_at(ld, AT_VALUE(h),
					"webhook.headers.%s: expected a string, got %s",
					h->key, describe(h, buf, sizeof(buf)));
		if (!header_name_ok(h->key))
			return error_at(ld, AT_KEY(h),
					"webhook.headers: '%s' is not a valid HTTP header name",
					h->key);
		if (!header_value_ok(h->str))
			return error_at(ld, AT_VALUE(h),
					"webhook.headers.%s: the value holds a line break or control character",
					h->key);

		nh = realloc(cfg->headers, (cfg->n_headers + 1) * sizeof(*nh));
		if (!nh)
			return error_at(ld, AT_VALUE(h), "out of memory");
		cfg->headers = nh;
		nh = &cfg->headers[cfg->n_headers];
		nh->name = strdup(h->key);
		nh->value = strdup(h->str);
		if (!nh->name || !nh->value) {
			free(nh->name);
			free(nh->value);
			return error_at(ld, AT_VALUE(h), "out of memory");
		}
		cfg->n_headers++;
	}
	return 0;
}

/* ---- body, events ------------------------------------------------------------ */

static int get_duration(struct loader *ld, const struct nh_hocon_node *k, const char *what,
			uint64_t min_ms, uint64_t max_ms, uint64_t *out);

static int load_body(struct loader *ld, const struct nh_hocon_node *n)
{
	static const struct {
		const char *name;
		enum nh_encoding enc;
	} encodings[] = {
		{ "plain", NH_ENC_PLAIN },
		{ "base64", NH_ENC_BASE64 },
		{ "base62", NH_ENC_BASE62 },
	};
	char buf[80];

	if (n->type != NH_HOCON_OBJECT)
		return error_at(ld, AT_VALUE(n),
				"webhook.body: expected body.encoding = ..., got %s",
				describe(n, buf, sizeof(buf)));
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct nh_hocon_node *k = n->kids[i];
		const char *s = NULL;
		size_t e;

		if (strcmp(k->key, "extended") == 0) {
			if (get_bool(ld, k, "webhook.body.extended", &ld->cfg->extended) < 0)
				return -1;
			continue;
		}
		if (strcmp(k->key, "batch") == 0) {
			unsigned long long v;

			if (get_uint(ld, k, "webhook.body.batch", 1, BATCH_MAX, &v) < 0)
				return -1;
			ld->cfg->batch = (unsigned)v;
			continue;
		}
		if (strcmp(k->key, "batch_wait") == 0) {
			if (get_duration(ld, k, "webhook.body.batch_wait", 1, BATCH_WAIT_MAX_MS,
					 &ld->cfg->batch_wait_ms) < 0)
				return -1;
			continue;
		}
		if (strcmp(k->key, "encoding") != 0) {
			warn_unknown(ld, k, "webhook.body");
			continue;
		}
		if (get_string(ld, k, "webhook.body.encoding", &s) < 0)
			return -1;
		for (e = 0; e < 3; e++)
			if (strcasecmp(s, encodings[e].name) == 0)
				break;
		if (e == 3)
			return error_at(ld, AT_VALUE(k),
					"webhook.body.encoding: expected plain, base64 or base62, got %s",
					describe(k, buf, sizeof(buf)));
		ld->cfg->encoding = encodings[e].enc;
	}
	return 0;
}

static int fail_unknown_event(struct loader *ld, const struct nh_hocon_node *n,
			      const char *what)
{
	char known[512] = "", buf[80];
	size_t len = 0;

	for (size_t i = 0; i < sizeof(event_order) / sizeof(event_order[0]) &&
			   len < sizeof(known); i++)
		len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s",
					i ? ", " : "", event_info[event_order[i]].name);
	return error_at(ld, AT_VALUE(n), "%s: unknown event %s (known: %s)", what,
			describe(n, buf, sizeof(buf)), known);
}

static int load_rule(struct loader *ld, const struct nh_hocon_node *r, size_t idx)
{
	struct nh_config *cfg = ld->cfg;
	const struct nh_hocon_node *ev_node = NULL, *topic_node = NULL, *url_node = NULL;
	const struct nh_hocon_node *sink_node = NULL;
	enum nh_rule_sink sink = NH_RULE_SINK_HTTP;
	struct url_list urls = { 0 }, *rule_urls;
	char what[64], where[48], buf[80];
	enum nh_event_type ev;
	struct nh_rule *rules;
	const char *s = NULL;
	char *topic = NULL;

	snprintf(where, sizeof(where), "webhook.events[%zu]", idx);
	if (r->type != NH_HOCON_OBJECT)
		return error_at(ld, AT_VALUE(r),
				"%s: expected { event = \"...\", topic = \"...\" }, got %s",
				where, describe(r, buf, sizeof(buf)));
	for (size_t i = 0; i < r->n_kids; i++) {
		const struct nh_hocon_node *k = r->kids[i];

		if (strcmp(k->key, "event") == 0)
			ev_node = k;
		else if (strcmp(k->key, "topic") == 0)
			topic_node = k;
		else if (strcmp(k->key, "url") == 0)
			url_node = k;
		else if (strcmp(k->key, "sink") == 0)
			sink_node = k;
		else
			warn_unknown(ld, k, where);
	}
	if (!ev_node)
		return error_at(ld, AT_VALUE(r), "%s: missing 'event'", where);

	snprintf(what, sizeof(what), "%s.event", where);
	if (get_string(ld, ev_node, what, &s) < 0)
		return -1;
	ev = nh_event_from_name(s);
	if (ev == NH_EV_NONE)
		return fail_unknown_event(ld, ev_node, what);

	if (topic_node) {
		snprintf(what, sizeof(what), "%s.topic", where);
		if (get_string(ld, topic_node, what, &s) < 0)
			return -1;
		if (!nh_topic_valid_filter(s, topic_node->len))
			return error_at(ld, AT_VALUE(topic_node),
					"%s: '%.200s' is not a valid MQTT topic filter (non-empty; '+' and '#' fill a whole level; '#' only last)",
					what, s);
		if (!event_has_topic(ev)) {
			warn_at(ld, AT_KEY(topic_node),
				"%s: ignored, %s has no topic", what,
				event_info[ev].name);
		} else if (!(topic = strdup(s))) {
			return error_at(ld, AT_VALUE(topic_node), "out of memory");
		}
	}

	if (sink_node) {
		snprintf(what, sizeof(what), "%s.sink", where);
		if (get_string(ld, sink_node, what, &s) < 0) {
			free(topic);
			return -1;
		}
		if (!strcasecmp(s, "nats"))
			sink = NH_RULE_SINK_NATS;
		else if (!strcasecmp(s, "both"))
			sink = NH_RULE_SINK_BOTH;
		else if (strcasecmp(s, "http")) {
			free(topic);
			return error_at(ld, AT_VALUE(sink_node), "%s: expected http, nats or both, got %s",
					what, describe(sink_node, buf, sizeof(buf)));
		}
		if (sink == NH_RULE_SINK_NATS && url_node) {
			free(topic);
			return error_at(ld, AT_KEY(url_node), "%s.url: a rule with sink = nats posts "
					"nowhere; url is for sink = http or both", where);
		}
		if (sink != NH_RULE_SINK_HTTP && !ld->nats_sink_line)
			ld->nats_sink_line = sink_node->line;
	}
	if (url_node) {
		snprintf(what, sizeof(what), "%s.url", where);
		if (load_url_list(ld, url_node, what, &urls) < 0) {
			url_list_free(&urls);
			free(topic);
			return -1;
		}
	}
	rules = realloc(cfg->rules, (cfg->n_rules + 1) * sizeof(*rules));
	rule_urls = rules ? realloc(ld->rule_urls, (cfg->n_rules + 1) * sizeof(*rule_urls)) : NULL;
	if (rules)
		cfg->rules = rules;
	if (!rule_urls) {
		url_list_free(&urls);
		free(topic);
		return error_at(ld, AT_VALUE(r), "out of memory");
	}
	ld->rule_urls = rule_urls;
	ld->rule_urls[cfg->n_rules] = urls;
	ld->n_rule_urls = cfg->n_rules + 1;
	cfg->rules[cfg->n_rules++] = (struct nh_rule){
		.event = ev,
		.topic = topic,
		.line = r->line,
		.sink = sink,
	};
	return 0;
}

static int load_events(struct loader *ld, const struct nh_hocon_node *n)
{
	char buf[80];

	if (n->type != NH_HOCON_ARRAY)
		return error_at(ld, AT_VALUE(n),
				"webhook.events: expected [ { event = \"...\" } ... ], got %s",
				describe(n, buf, sizeof(buf)));
	if (n->n_kids == 0)
		return error_at(ld, AT_VALUE(n),
				"webhook.events: empty, nothing would ever be sent");
	for (size_t i = 0; i < n->n_kids; i++)
		if (load_rule(ld, n->kids[i], i) < 0)
			return -1;
	return 0;
}

/* ---- tls and signing ---------------------------------------------------------- */

/* A path as written, or joined to the config file's directory when it is
 * relative: a systemd unit runs in /, not where the file is. */
static int get_file(struct loader *ld, const struct nh_hocon_node *k, const char *what,
		    char **out)
{
	const char *s = NULL;
	char *p;

	if (get_string(ld, k, what, &s) < 0)
		return -1;
	if (!s[0])
		return error_at(ld, AT_VALUE(k), "%s: empty", what);
	if (s[0] == '/' || !ld->dir)
		p = strdup(s);
	else if (asprintf(&p, "%s/%s", ld->dir, s) < 0)
		p = NULL;
	if (!p)
		return error_at(ld, AT_VALUE(k), "out of memory");
	free(*out);
	*out = p;
	return 0;
}

/* A DNS name: what SNI may carry (RFC 6066: no IP literals, no port). */
static bool dns_name_ok(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			   (*p >= '0' && *p <= '9') || *p == '-') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0 || n > 1;
}

static int load_tls(struct loader *ld, const struct nh_hocon_node *n)
{
	struct nh_tls_config *t = &ld->cfg->tls;
	char buf[80];

	if (n->type != NH_HOCON_OBJECT)
		return error_at(ld, AT_VALUE(n), "webhook.%s: expected a block %s { ... }, got %s",
				n->key, n->key, describe(n, buf, sizeof(buf)));
	t->present = true;
	t->line = n->key_line;
	t->col = n->key_col;
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct nh_hocon_node *k = n->kids[i];
		int rc = 0;

		if (strcmp(k->key, "enable") == 0) {
			rc = get_bool(ld, k, "webhook.tls.enable", &t->enable);
		} else if (strcmp(k->key, "verify") == 0 || strcmp(k->key, "verify_peer") == 0) {
			rc = get_bool(ld, k, "webhook.tls.verify", &t->verify);
		} else if (strcmp(k->key, "cacertfile") == 0) {
			rc = get_file(ld, k, "webhook.tls.cacertfile", &t->cacertfile);
		} else if (strcmp(k->key, "certfile") == 0) {
			rc = get_file(ld, k, "webhook.tls.certfile", &t->certfile);
		} else if (strcmp(k->key, "keyfile") == 0) {
			rc = get_file(ld, k, "webhook.tls.keyfile", &t->keyfile);
		} else if (strcmp(k->key, "key_password") == 0 || strcmp(k->key, "password") == 0) {
			const char *s = NULL;

			rc = get_string(ld, k, "webhook.tls.key_password", &s);
			if (rc == 0) {
				free(t->key_password);
				if (!(t->key_password = strdup(s)))
					rc = error_at(ld, AT_VALUE(k), "out of memory");
			}
		} else if (strcmp(k->key, "server_name") == 0) {
			const char *s = NULL;

			rc = get_string(ld, k, "webhook.tls.server_name", &s);
			if (rc == 0 && !dns_name_ok(s))
				rc = error_at(ld, AT_VALUE(k),
					      "webhook.tls.server_name: %s is not a DNS name (letters, digits, '-' and '.'; no port)",
					      describe(k, buf, sizeof(buf)));
			if (rc == 0) {
				free(t->server_name);
				if (!(t->server_name = strdup(s)))
					rc = error_at(ld, AT_VALUE(k), "out of memory");
			}
		} else {
			warn_unknown(ld, k, "webhook.tls");
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* What only makes sense once the whole webhook block is read. */
static int check_tls(struct loader *ld)
{
	struct nh_tls_config *t = &ld->cfg->tls;
	const char *plain = NULL;

	if (!t->present || !t->enable)
		return 0;
	for (size_t d = 0; d < ld->cfg->n_dests && !plain; d++)
		for (size_t i = 0; i < ld->cfg->dests[d].n_urls && !plain; i++)
			if (strncasecmp(ld->cfg->dests[d].urls[i], "https://", 8))
				plain = ld->cfg->dests[d].urls[i];
	if (plain)
		return error_at(ld, t->line, t->col,
				"webhook.tls: the url %.200s is not https://, so nothing would be encrypted (use https://, or tls.enable = false)",
				plain);
	if (t->keyfile && !t->certfile)
		return error_at(ld, t->line, t->col,
				"webhook.tls: keyfile without certfile (a client certificate needs both)");
	if (t->key_password && !t->certfile)
		warn_at(ld, t->line, t->col, "webhook.tls.key_password: no certfile/keyfile, so it is not used");
	if (!t->verify) {
		warn_at(ld, t->line, t->col,
			"webhook.tls.verify = false: the endpoint's certificate is not checked; anyone on the path can read and change the requests");
		if (t->cacertfile)
			warn_at(ld, t->line, t->col,
				"webhook.tls.cacertfile: not used while verify = false");
	}
	return 0;
}

static int check_block(struct loader *ld, const struct nh_hocon_node *n, const char *what);

static bool env_name_ok(const char *s)
{
	if (!s[0] || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

static int load_sign(struct loader *ld, const struct nh_hocon_node *n)
{
	struct nh_sign_config *sc = &ld->cfg->sign;
	char buf[80];

	if (check_block(ld, n, "nanohook.sign") < 0)
		return -1;
	sc->line = n->key_line;
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct nh_hocon_node *k = n->kids[i];
		const char *s = NULL;
		int rc = 0;

		if (strcmp(k->key, "secret_file") == 0) {
			rc = get_file(ld, k, "nanohook.sign.secret_file", &sc->secret_file);
		} else if (strcmp(k->key, "secret_env") == 0) {
			rc = get_string(ld, k, "nanohook.sign.secret_env", &s);
			if (rc == 0 && !env_name_ok(s))
				rc = error_at(ld, AT_VALUE(k),
					      "nanohook.sign.secret_env: %s is not an environment variable name",
					      describe(k, buf, sizeof(buf)));
			if (rc == 0) {
				free(sc->secret_env);
				if (!(sc->secret_env = strdup(s)))
					rc = error_at(ld, AT_VALUE(k), "out of memory");
			}
		} else if (strcmp(k->key, "secret") == 0) {
			/* A secret in the file ends up in backups, diffs and
			 * `ps`-visible tooling; refuse it rather than warn. */
			rc = error_at(ld, AT_KEY(k),
				      "nanohook.sign.secret: the secret is not written in the config; put it in a file (secret_file) or the environment (secret_env)");
		} else {
			warn_unknown(ld, k, "nanohook.sign");
		}
		if (rc < 0)
			return -1;
	}
	if (!sc->secret_file && !sc->secret_env)
		return error_at(ld, AT_KEY(n),
				"nanohook.sign: name the secret with secret_file = \"...\" or secret_env = \"...\"");
	if (sc->secret_file && sc->secret_env)
		return error_at(ld, AT_KEY(n),
				"nanohook.sign: secret_file and secret_env both set; keep one");
	return 0;
}

/* ---- blocks -------------------------------------------------------------------- */

static int load_balance(struct loader *ld, const struct nh_hocon_node *k)
{
	const char *s = NULL;
	char buf[80];

	if (get_string(ld, k, "webhook.balance", &s) < 0)
		return -1;
	for (int b = NH_BALANCE_HASH; b <= NH_BALANCE_FAILOVER; b++) {
		if (!strcasecmp(s, nh_balance_name((enum nh_balance)b))) {
			ld->cfg->balance = (enum nh_balance)b;
			return 0;
		}
	}
	return error_at(ld, AT_VALUE(k),
			"webhook.balance: expected hash, round_robin or failover, got %s",
			describe(k, buf, sizeof(buf)));
}

static int load_webhook(struct loader *ld, const struct nh_hocon_node *wh)
{
	struct nh_config *cfg = ld->cfg;
	bool have_events = false;
	char buf[80];

	if (wh->type != NH_HOCON_OBJECT)
		return error_at(ld, AT_VALUE(wh),
				"webhook: expected a block webhook { ... }, got %s",
				describe(wh, buf, sizeof(buf)));

	for (size_t i = 0; i < wh->n_kids; i++) {
		const struct nh_hocon_node *k = wh->kids[i];
		unsigned long long v;
		uint64_t ms;
		bool b;
		int rc = 0;

		if (strcmp(k->key, "url") == 0) {
			rc = load_url_list(ld, k, "webhook.url", &ld->main_urls);
		} else if (strcmp(k->key, "balance") == 0) {
			rc = load_balance(ld, k);
		} else if (strcmp(k->key, "headers") == 0) {
			rc = load_headers(ld, k);
		} else if (strcmp(k->key, "body") == 0) {
			rc = load_body(ld, k);
		} else if (strcmp(k->key, "pool_size") == 0) {
			rc = get_uint(ld, k, "webhook.pool_size", 1, POOL_SIZE_MAX, &v);
			if (rc == 0)
				cfg->pool_size = (unsigned)v;
		} else if (strcmp(k->key, "cancel_timeout") == 0) {
			if (nh_hocon_as_duration_ms(k, &ms) < 0)
				rc = error_at(ld, AT_VALUE(k),
					      "webhook.cancel_timeout: expected milliseconds or a duration like 5s, got %s",
					      describe(k, buf, sizeof(buf)));
			else if (ms < 1 || ms > CANCEL_TIMEOUT_MAX_MS)
				rc = error_at(ld, AT_VALUE(k),
					      "webhook.cancel_timeout: %llums is out of range 1ms..%llums",
					      (unsigned long long)ms, CANCEL_TIMEOUT_MAX_MS);
			else
				cfg->cancel_timeout_ms = (unsigned)ms;
		} else if (strcmp(k->key, "events") == 0) {
			rc = load_events(ld, k);
			have_events = true;
		} else if (strcmp(k->key, "enable") == 0) {
			rc = get_bool(ld, k, "webhook.enable", &b);
			if (rc == 0)
				cfg->nanomq_enable = b;
		} else if (strcmp(k->key, "tls") == 0 || strcmp(k->key, "ssl") == 0) {
			rc = load_tls(ld, k);
		} else {
			warn_unknown(ld, k, "webhook");
		}
		if (rc < 0)
			return -1;
	}
	if (!ld->main_urls.n)
		return error_at(ld, AT_KEY(wh), "webhook: missing required key 'url'");
	if (!have_events)
		return error_at(ld, AT_KEY(wh),
				"webhook: no events, nothing would ever be sent (add events = [ { event = \"on_message_publish\" } ])");
	if (resolve_dests(ld) < 0)
		return -1;
	return check_tls(ld);
}

static int load_capture(struct loader *ld, const struct nh_hocon_node *n)
{
	char buf[80];

	if (n->type != NH_HOCON_OBJECT)
		return error_at(ld, AT_VALUE(n),
				"nanohook.capture: expected capture.payload_max = ..., got %s",
				describe(n, buf, sizeof(buf)));
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct nh_hocon_node *k = n->kids[i];
		uint64_t v;

		if (strcmp(k->key, "payload_max") != 0) {
			warn_unknown(ld, k, "nanohook.capture");
			continue;
		}
		if (nh_hocon_as_size(k, &v) < 0)
			return error_at(ld, AT_VALUE(k),
					"nanohook.capture.payload_max: expected bytes or a size like 4KB, got %s",
					describe(k, buf, sizeof(buf)));
		if (v < 1 || v > NH_PAYLOAD_LARGE)
			return error_at(ld, AT_VALUE(k),
					"nanohook.capture.payload_max: %llu is out of range 1..%u",
					(unsigned long long)v, NH_PAYLOAD_LARGE);
		ld->cfg->payload_max = (unsigned)v;
	}
	return 0;
}

static int get_duration(struct loader *ld, const struct nh_hocon_node *k, const char *what,
			uint64_t min_ms, uint64_t max_ms, uint64_t *out)
{
	char buf[80];
	uint64_t ms;

	if (nh_hocon_as_duration_ms(k, &ms) < 0)
		return error_at(ld, AT_VALUE(k),
				"%s: expected milliseconds or a duration like 5s, got %s", what,
				describe(k, buf, sizeof(buf)));
	if (ms < min_ms || ms > max_ms)
		return error_at(ld, AT_VALUE(k), "%s: %llums is out of range %llums..%llums", what,
				(unsigned long long)ms, (unsigned long long)min_ms,
				(unsigned long long)max_ms);
	*out = ms;
	return 0;
}

static int get_path(struct loader *ld, const struct nh_hocon_node *k, const char *what,
		    bool empty_ok, char **out)
{
	const char *s = NULL;
	char *copy;

	if (get_string(ld, k, what, &s) < 0)
		return -1;
	if (!empty_ok && !s[0])
		return error_at(ld, AT_VALUE(k), "%s: empty", what);
	copy = strdup(s);
	if (!copy)
		return error_at(ld, AT_VALUE(k), "out of memory");
	free(*out);
	*out = copy;
	return 0;
}

static int check_block(struct loader *ld, const struct nh_hocon_node *n, const char *what)
{
	char buf[80];

	if (n->type != NH_HOCON_OBJECT)
		return error_at(ld, AT_VALUE(n), "%s: expected a block %s { ... }, got %s", what,
				what, describe(n, buf, sizeof(buf)));
	return 0;
}

static int load_retry(struct loader *ld, const struct nh_hocon_node *n)
{
	struct nh_config *cfg = ld->cfg;

	if (check_block(ld, n, "nanohook.retry") < 0)
		return -1;
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct nh_hocon_node *k = n->kids[i];
		unsigned long long v;
		int rc = 0;

		if (strcmp(k->key, "max_attempts") == 0) {
			rc = get_uint(ld, k, "nanohook.retry.max_attempts", 1, RETRY_ATTEMPTS_MAX, &v);
			if (rc == 0)
				cfg->retry_max_attempts = (unsigned)v;
		} else if (strcmp(k->key, "initial") == 0) {
			rc = get_duration(ld, k, "nanohook.retry.initial", 1, DURATION_MAX_MS,
					  &cfg->retry_initial_ms);
		} else if (strcmp(k->key, "max_delay") == 0) {
			rc = get_duration(ld, k, "nanohook.retry.max_delay", 1, DURATION_MAX_MS,
					  &cfg->retry_max_delay_ms);
		} else if (strcmp(k->key, "max_age") == 0) {
			rc = get_duration(ld, k, "nanohook.retry.max_age", 0, AGE_MAX_MS,
					  &cfg->retry_max_age_ms);
		} else {
			warn_unknown(ld, k, "nanohook.retry");
		}
		if (rc < 0)
			return -1;
	}
	if (cfg->retry_max_delay_ms < cfg->retry_initial_ms)
		return error_at(ld, AT_VALUE(n),
				"nanohook.retry: max_delay (%llums) is below initial (%llums)",
				(unsigned long long)cfg->retry_max_delay_ms,
				(unsigned long long)cfg->retry_initial_ms);
	return 0;
}

static int load_spool(struct loader *ld, const struct nh_hocon_node *n)
{
	struct nh_config *cfg = ld->cfg;
	char buf[80];

	if (check_block(ld, n, "nanohook.spool") < 0)
		return -1;
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct nh_hocon_node *k = n->kids[i];
		const char *s = NULL;
		uint64_t sz;
		int rc = 0;

		if (strcmp(k->key, "dir") == 0) {
			rc = get_path(ld, k, "nanohook.spool.dir", true, &cfg->spool_dir);
		} else if (strcmp(k->key, "max_size") == 0) {
			if (nh_hocon_as_size(k, &sz) < 0)
				return error_at(ld, AT_VALUE(k),
						"nanohook.spool.max_size: expected bytes or a size like 1GB, got %s",
						describe(k, buf, sizeof(buf)));
			if (sz < SPOOL_MIN || sz > SPOOL_MAX)
				return error_at(ld, AT_VALUE(k),
						"nanohook.spool.max_size: %llu is out of range 64KB..1TB",
						(unsigned long long)sz);
			cfg->spool_max_bytes = sz;
		} else if (strcmp(k->key, "max_age") == 0) {
			rc = get_duration(ld, k, "nanohook.spool.max_age", 0, AGE_MAX_MS,
					  &cfg->spool_max_age_ms);
		} else if (strcmp(k->key, "failing_after") == 0) {
			rc = get_duration(ld, k, "nanohook.spool.failing_after", 0, DURATION_MAX_MS,
					  &cfg->spool_failing_ms);
		} else if (strcmp(k->key, "fsync") == 0) {
			if (get_string(ld, k, "nanohook.spool.fsync", &s) < 0)
				return -1;
			if (strcasecmp(s, "batch") == 0)
				cfg->spool_fsync = NH_FSYNC_BATCH;
			else if (strcasecmp(s, "always") == 0)
				cfg->spool_fsync = NH_FSYNC_ALWAYS;
			else if (strcasecmp(s, "never") == 0)
				cfg->spool_fsync = NH_FSYNC_NEVER;
			else
				return error_at(ld, AT_VALUE(k),
						"nanohook.spool.fsync: expected batch, always or never, got %s",
						describe(k, buf, sizeof(buf)));
		} else {
			warn_unknown(ld, k, "nanohook.spool");
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int load_lane(struct loader *ld, const struct nh_hocon_node *n)
{
	char buf[80];

	if (n->type != NH_HOCON_OBJECT)
		return error_at(ld, AT_VALUE(n), "nanohook.lane: expected lane.inflight = N, got %s",
				describe(n, buf, sizeof(buf)));
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct nh_hocon_node *k = n->kids[i];
		unsigned long long v;

		if (strcmp(k->key, "inflight") != 0) {
			warn_unknown(ld, k, "nanohook.lane");
			continue;
		}
		if (get_uint(ld, k, "nanohook.lane.inflight", 1, LANE_INFLIGHT_MAX, &v) < 0)
			return -1;
		ld->cfg->lane_inflight = (unsigned)v;
	}
	return 0;
}

static int load_circuit(struct loader *ld, const struct nh_hocon_node *n)
{
	char buf[80];

	if (n->type != NH_HOCON_OBJECT)
		return error_at(ld, AT_VALUE(n),
				"nanohook.circuit: expected circuit { failures = 5, open_for = 5s }, got %s",
				describe(n, buf, sizeof(buf)));
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct nh_hocon_node *k = n->kids[i];
		unsigned long long v;

		if (strcmp(k->key, "failures") == 0) {
			if (get_uint(ld, k, "nanohook.circuit.failures", 1, 1000000, &v) < 0)
				return -1;
			ld->cfg->circuit_failures = (unsigned)v;
		} else if (strcmp(k->key, "open_for") == 0) {
			if (get_duration(ld, k, "nanohook.circuit.open_for", 10, DURATION_MAX_MS,
					 &ld->cfg->circuit_open_ms) < 0)
				return -1;
		} else {
			warn_unknown(ld, k, "nanohook.circuit");
		}
	}
	return 0;
}

/* nanohook.nats.url: nats://, tls:// (or the nats.c spelling of a
 * cluster: several, as a list). Kept as written: nats.c reads them. */
static int load_nats_urls(struct loader *ld, const struct nh_hocon_node *n,
			  struct nh_nats_config *nc)
{
	size_t count = n->type == NH_HOCON_ARRAY ? n->n_kids : 1;

	if (count == 0)
		return error_at(ld, AT_VALUE(n), "nanohook.nats.url: an empty list, nowhere to publish");
	if (count > NH_DEST_URLS_MAX)
		return error_at(ld, AT_VALUE(n), "nanohook.nats.url: more than %d servers",
				NH_DEST_URLS_MAX);
	for (size_t i = 0; i < nc->n_urls; i++)
		free(nc->urls[i]);
	free(nc->urls);
	nc->n_urls = 0;
	if (!(nc->urls = calloc(count, sizeof(*nc->urls))))
		return error_at(ld, AT_VALUE(n), "out of memory");
	for (size_t i = 0; i < count; i++) {
		const struct nh_hocon_node *u = n->type == NH_HOCON_ARRAY ? n->kids[i] : n;
		const char *s = NULL;

		if (get_string(ld, u, "nanohook.nats.url", &s) < 0)
			return -1;
		if (strncasecmp(s, "nats://", 7) && strncasecmp(s, "tls://", 6))
			return error_at(ld, AT_VALUE(u),
					"nanohook.nats.url: '%.200s' is not a nats:// or tls:// url", s);
		if (!(nc->urls[nc->n_urls++] = strdup(s)))
			return error_at(ld, AT_VALUE(u), "out of memory");
	}
	return 0;
}

/* A stream name: no blanks, '.', '*', '>', path separators (JetStream's rule). */
static bool stream_name_ok(const char *s)
{
	if (!*s || strlen(s) > 255)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || strchr(".*>/\\", *s))
			return false;
	return true;
}

static int load_nats(struct loader *ld, const struct nh_hocon_node *n)
{
	struct nh_nats_config *nc = &ld->cfg->nats;
	char err[256];

	if (check_block(ld, n, "nanohook.nats") < 0)
		return -1;
	nc->present = true;
	nc->line = n->key_line;
	nc->col = n->key_col;
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct nh_hocon_node *k = n->kids[i];
		unsigned long long v;
		int rc = 0;

		if (strcmp(k->key, "url") == 0) {
			rc = load_nats_urls(ld, k, nc);
		} else if (strcmp(k->key, "stream") == 0) {
			rc = get_path(ld, k, "nanohook.nats.stream", false, &nc->stream);
			if (rc == 0 && !stream_name_ok(nc->stream))
				rc = error_at(ld, AT_VALUE(k), "nanohook.nats.stream: '%.200s' is not a "
					      "stream name (no blanks, '.', '*', '>', '/' or '\\')",
					      nc->stream);
		} else if (strcmp(k->key, "subject") == 0) {
			rc = get_path(ld, k, "nanohook.nats.subject", false, &nc->subject);
			if (rc == 0 && nh_subject_check(nc->subject, err, sizeof(err)) < 0)
				rc = error_at(ld, AT_VALUE(k), "nanohook.nats.subject: %s", err);
		} else if (strcmp(k->key, "create") == 0) {
			rc = get_bool(ld, k, "nanohook.nats.create", &nc->create);
		} else if (strcmp(k->key, "replicas") == 0) {
			rc = get_uint(ld, k, "nanohook.nats.replicas", 1, 5, &v);
			if (rc == 0)
				nc->replicas = (unsigned)v;
		} else if (strcmp(k->key, "duplicate_window") == 0) {
			rc = get_duration(ld, k, "nanohook.nats.duplicate_window", 1000,
					  DURATION_MAX_MS, &nc->duplicate_window_ms);
		} else if (strcmp(k->key, "creds") == 0) {
			rc = get_file(ld, k, "nanohook.nats.creds", &nc->creds);
		} else if (strcmp(k->key, "cacertfile") == 0) {
			rc = get_file(ld, k, "nanohook.nats.cacertfile", &nc->cacertfile);
		} else if (strcmp(k->key, "certfile") == 0) {
			rc = get_file(ld, k, "nanohook.nats.certfile", &nc->certfile);
		} else if (strcmp(k->key, "keyfile") == 0) {
			rc = get_file(ld, k, "nanohook.nats.keyfile", &nc->keyfile);
		} else {
			warn_unknown(ld, k, "nanohook.nats");
		}
		if (rc < 0)
			return -1;
	}
	if (!nc->n_urls)
		return error_at(ld, AT_KEY(n), "nanohook.nats: missing required key 'url' "
				"(url = \"nats://127.0.0.1:4222\")");
	if (!!nc->certfile != !!nc->keyfile)
		return error_at(ld, AT_KEY(n), "nanohook.nats: certfile and keyfile go together");
	if ((!nc->stream && !(nc->stream = strdup("NANOHOOK"))) ||
	    (!nc->subject && !(nc->subject = strdup("nanohook.{action}.{clientid}"))))
		return error_at(ld, AT_KEY(n), "out of memory");
	return 0;
}

/* Once both blocks are read: rules with sink = nats go to the NATS
 * destination, and a rule with sink = both becomes two rules, one per
 * destination (the matching stays per rule). */
static int resolve_nats(struct loader *ld)
{
	struct nh_config *cfg = ld->cfg;
	struct nh_nats_config *nc = &cfg->nats;
	size_t n_rules = cfg->n_rules, n_both = 0;
	struct nh_dest *dests;
	struct nh_rule *rules;
	unsigned nd;

	if (!ld->nats_sink_line) {
		if (nc->present)
			warn_at(ld, nc->line, nc->col, "nanohook.nats: no rule has sink = nats or both, so "
				"nothing is published to NATS");
		return 0;
	}
	if (!nc->present)
		return error_at(ld, ld->nats_sink_line, 1, "a rule has sink = nats, but there is no "
				"nanohook.nats { url = \"nats://...\", stream = \"...\" } block");
	if (cfg->n_dests == NH_DESTS_MAX)
		return error_at(ld, nc->line, 1, "more than %d destinations", NH_DESTS_MAX);
	for (size_t i = 0; i < n_rules; i++)
		n_both += cfg->rules[i].sink == NH_RULE_SINK_BOTH;
	dests = realloc(cfg->dests, (cfg->n_dests + 1) * sizeof(*dests));
	if (dests)
		cfg->dests = dests;
	rules = dests ? realloc(cfg->rules, (n_rules + n_both) * sizeof(*rules)) : NULL;
	if (!rules)
		return error_at(ld, nc->line, 1, "out of memory");
	cfg->rules = rules;
	nd = (unsigned)cfg->n_dests;
	cfg->dests[nd] = (struct nh_dest){ .kind = NH_SINK_NATS };
	if (asprintf(&cfg->dests[nd].key, "nats:%s", nc->stream) < 0)
		return error_at(ld, nc->line, 1, "out of memory");
	cfg->n_dests++;
	/* The servers, for the destination's messages and engine. */
	if (!(cfg->dests[nd].urls = calloc(nc->n_urls, sizeof(char *))))
		return error_at(ld, nc->line, 1, "out of memory");
	for (size_t i = 0; i < nc->n_urls; i++)
		if (!(cfg->dests[nd].urls[cfg->dests[nd].n_urls++] = strdup(nc->urls[i])))
			return error_at(ld, nc->line, 1, "out of memory");
	for (size_t i = 0; i < n_rules; i++) {
		struct nh_rule *r = &cfg->rules[i];

		if (r->sink == NH_RULE_SINK_NATS) {
			r->dest = nd;
		} else if (r->sink == NH_RULE_SINK_BOTH) {
			struct nh_rule twin = *r;

			twin.dest = nd;
			if (r->topic && !(twin.topic = strdup(r->topic)))
				return error_at(ld, r->line, 1, "out of memory");
			cfg->rules[cfg->n_rules++] = twin;
		}
	}
	return 0;
}

static int load_nanohook(struct loader *ld, const struct nh_hocon_node *n)
{
	struct nh_config *cfg = ld->cfg;
	char buf[80];

	if (n->type != NH_HOCON_OBJECT)
		return error_at(ld, AT_VALUE(n),
				"nanohook: expected a block nanohook { ... }, got %s",
				describe(n, buf, sizeof(buf)));
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct nh_hocon_node *k = n->kids[i];
		unsigned long long v;
		uint64_t sz;

		if (strcmp(k->key, "capture") == 0) {
			if (load_capture(ld, k) < 0)
				return -1;
		} else if (strcmp(k->key, "ringbuf_size") == 0) {
			if (nh_hocon_as_size(k, &sz) < 0)
				return error_at(ld, AT_VALUE(k),
						"nanohook.ringbuf_size: expected bytes or a size like 8MB, got %s",
						describe(k, buf, sizeof(buf)));
			if (sz < RINGBUF_MIN || sz > RINGBUF_MAX || (sz & (sz - 1)))
				return error_at(ld, AT_VALUE(k),
						"nanohook.ringbuf_size: %llu bytes is not a power of two between 64KB and 1GB",
						(unsigned long long)sz);
			cfg->ringbuf_bytes = (size_t)sz;
		} else if (strcmp(k->key, "queue_max") == 0) {
			if (get_uint(ld, k, "nanohook.queue_max", 1, QUEUE_MAX_MAX, &v) < 0)
				return -1;
			cfg->queue_max = (size_t)v;
		} else if (strcmp(k->key, "retry") == 0) {
			if (load_retry(ld, k) < 0)
				return -1;
		} else if (strcmp(k->key, "sign") == 0) {
			if (load_sign(ld, k) < 0)
				return -1;
		} else if (strcmp(k->key, "spool") == 0) {
			if (load_spool(ld, k) < 0)
				return -1;
		} else if (strcmp(k->key, "dead_letter") == 0) {
			if (get_path(ld, k, "nanohook.dead_letter", false, &cfg->dead_letter) < 0)
				return -1;
		} else if (strcmp(k->key, "node") == 0) {
			if (get_path(ld, k, "nanohook.node", false, &cfg->node) < 0)
				return -1;
		} else if (strcmp(k->key, "metrics") == 0) {
			if (get_path(ld, k, "nanohook.metrics", false, &cfg->metrics_listen) < 0)
				return -1;
		} else if (strcmp(k->key, "drain_timeout") == 0) {
			if (get_duration(ld, k, "nanohook.drain_timeout", 0, DURATION_MAX_MS,
					 &cfg->drain_timeout_ms) < 0)
				return -1;
		} else if (strcmp(k->key, "topic_match") == 0) {
			if (get_either(ld, k, "nanohook.topic_match", "nanomq", "mqtt",
				       &cfg->wild_dollar) < 0)
				return -1;
		} else if (strcmp(k->key, "order") == 0) {
			if (get_either(ld, k, "nanohook.order", "per_client", "none",
				       &cfg->order_per_client) < 0)
				return -1;
		} else if (strcmp(k->key, "lane") == 0) {
			if (load_lane(ld, k) < 0)
				return -1;
		} else if (strcmp(k->key, "circuit") == 0) {
			if (load_circuit(ld, k) < 0)
				return -1;
		} else if (strcmp(k->key, "nats") == 0) {
			if (load_nats(ld, k) < 0)
				return -1;
		} else if (strcmp(k->key, "http2") == 0) {
			if (get_bool(ld, k, "nanohook.http2", &cfg->http2) < 0)
				return -1;
			ld->http2_line = k->line;
			ld->http2_col = k->col;
		} else {
			warn_unknown(ld, k, "nanohook");
		}
	}
	return 0;
}

/* HTTP/2 goes over TLS only (deliver.c says why): say so for http:// urls. */
static void note_http2(struct loader *ld)
{
	const struct nh_config *cfg = ld->cfg;

	if (!cfg->http2)
		return;
	for (size_t d = 0; d < cfg->n_dests; d++) {
		for (size_t i = 0; cfg->dests[d].kind == NH_SINK_HTTP && i < cfg->dests[d].n_urls; i++) {
			if (strncasecmp(cfg->dests[d].urls[i], "https://", 8)) {
				warn_at(ld, ld->http2_line, ld->http2_col,
					"nanohook.http2: http:// urls stay HTTP/1.1 (HTTP/2 is used over TLS, where the server offers it)");
				return;
			}
		}
	}
}

static int load_doc(struct loader *ld, const struct nh_hocon_doc *doc)
{
	const struct nh_hocon_node *wh = nh_hocon_get(doc->root, "webhook");
	const struct nh_hocon_node *nh = nh_hocon_get(doc->root, "nanohook");

	if (!wh) {
		const struct nh_hocon_node *old = nh_hocon_get(doc->root, "web");

		if (nh_hocon_get(old, "hook"))
			return error_at(ld, AT_KEY(old),
					"this is NanoMQ's old web.hook.* format; nanohook reads the webhook { } block of the HOCON nanomq.conf");
		return error_at(ld, 1, 1,
				"no webhook block (nanohook needs webhook { url = ..., events = [ ... ] })");
	}
	if (load_webhook(ld, wh) < 0)
		return -1;
	if (nh && load_nanohook(ld, nh) < 0)
		return -1;
	if (resolve_nats(ld) < 0)
		return -1;
	note_http2(ld);
	return 0;
}

/* ---- public ------------------------------------------------------------------- */

static void set_defaults(struct nh_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->encoding = NH_ENC_PLAIN;
	cfg->pool_size = 32;
	cfg->cancel_timeout_ms = 5000;
	cfg->payload_max = 4096;
	cfg->ringbuf_bytes = 8u << 20;
	cfg->queue_max = 100000;
	cfg->nanomq_enable = -1;
	cfg->retry_max_attempts = 10;
	cfg->retry_initial_ms = 200;
	cfg->retry_max_delay_ms = 30000;
	cfg->retry_max_age_ms = 3600000;
	cfg->spool_max_bytes = 1ull << 30;
	cfg->spool_max_age_ms = 24ull * 3600 * 1000;
	cfg->spool_fsync = NH_FSYNC_BATCH;
	cfg->spool_failing_ms = 5000;
	cfg->order_per_client = true;
	cfg->wild_dollar = true;
	cfg->tls.enable = true;
	cfg->tls.verify = true;
	cfg->batch = 1;
	cfg->batch_wait_ms = 50;
	cfg->balance = NH_BALANCE_HASH;
	cfg->lane_inflight = 1;
	cfg->circuit_failures = 5;
	cfg->circuit_open_ms = 5000;
	cfg->nats.replicas = 1;
	cfg->nats.duplicate_window_ms = 120000;
}

static void loader_free(struct loader *ld)
{
	url_list_free(&ld->main_urls);
	for (size_t i = 0; i < ld->n_rule_urls; i++)
		url_list_free(&ld->rule_urls[i]);
	free(ld->rule_urls);
}

int nh_config_load_buf(const char *name, const char *buf, size_t len,
		       struct nh_config *cfg, FILE *err)
{
	struct loader ld = { .name = name ? name : "<config>", .err = err, .cfg = cfg };
	struct nh_hocon_doc *doc;
	char msg[1024];
	int rc;

	set_defaults(cfg);
	if (nh_hocon_parse_buf(ld.name, buf, len, err, &doc, msg, sizeof(msg)) < 0) {
		if (err)
			fprintf(err, "%s\n", msg);
		return -1;
	}
	rc = load_doc(&ld, doc);
	nh_hocon_free(doc);
	loader_free(&ld);
	if (rc < 0)
		nh_config_free(cfg);
	return rc;
}

int nh_config_load(const char *path, struct nh_config *cfg, FILE *err)
{
	struct loader ld = { .name = path, .err = err, .cfg = cfg };
	struct nh_hocon_doc *doc;
	char msg[1024], *dir_buf = NULL, *abs_dir = NULL;
	int rc;

	set_defaults(cfg);
	/* The directory as an absolute path: the run may chdir later. */
	if (path && (dir_buf = strdup(path)) != NULL) {
		abs_dir = realpath(dirname(dir_buf), NULL);
		ld.dir = abs_dir;
	}
	free(dir_buf);
	if (nh_hocon_parse_file(path, err, &doc, msg, sizeof(msg)) < 0) {
		if (err)
			fprintf(err, "%s\n", msg);
		free(abs_dir);
		return -1;
	}
	rc = load_doc(&ld, doc);
	nh_hocon_free(doc);
	loader_free(&ld);
	free(abs_dir);
	if (rc < 0)
		nh_config_free(cfg);
	return rc;
}

void nh_config_free(struct nh_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->url);
	for (size_t d = 0; d < cfg->n_dests; d++) {
		for (size_t i = 0; i < cfg->dests[d].n_urls; i++)
			free(cfg->dests[d].urls[i]);
		free(cfg->dests[d].urls);
		free(cfg->dests[d].key);
	}
	free(cfg->dests);
	for (size_t i = 0; i < cfg->n_headers; i++) {
		free(cfg->headers[i].name);
		free(cfg->headers[i].value);
	}
	free(cfg->headers);
	for (size_t i = 0; i < cfg->n_rules; i++)
		free(cfg->rules[i].topic);
	free(cfg->rules);
	free(cfg->spool_dir);
	free(cfg->dead_letter);
	free(cfg->metrics_listen);
	free(cfg->node);
	free(cfg->tls.cacertfile);
	free(cfg->tls.certfile);
	free(cfg->tls.keyfile);
	if (cfg->tls.key_password) {
		explicit_bzero(cfg->tls.key_password, strlen(cfg->tls.key_password));
		free(cfg->tls.key_password);
	}
	free(cfg->tls.server_name);
	free(cfg->sign.secret_file);
	free(cfg->sign.secret_env);
	for (size_t i = 0; i < cfg->nats.n_urls; i++)
		free(cfg->nats.urls[i]);
	free(cfg->nats.urls);
	free(cfg->nats.stream);
	free(cfg->nats.subject);
	free(cfg->nats.creds);
	free(cfg->nats.cacertfile);
	free(cfg->nats.certfile);
	free(cfg->nats.keyfile);
	set_defaults(cfg);
}

uint32_t nh_config_event_mask(const struct nh_config *cfg)
{
	uint32_t mask = 0;

	for (size_t i = 0; i < cfg->n_rules; i++)
		mask |= 1u << cfg->rules[i].event;
	return mask;
}

const char *nh_config_spool_dir(const struct nh_config *cfg)
{
	if (!cfg->spool_dir)
		return NH_SPOOL_DIR_DEFAULT;
	return cfg->spool_dir[0] ? cfg->spool_dir : NULL;
}

char *nh_config_dead_letter_path(const struct nh_config *cfg)
{
	const char *dir = nh_config_spool_dir(cfg);
	char *p = NULL;

	if (cfg->dead_letter)
		return strdup(cfg->dead_letter);
	if (!dir || asprintf(&p, "%s/dead-letter.jsonl", dir) < 0)
		return NULL;
	return p;
}

uint32_t nh_config_dests(const struct nh_config *cfg, enum nh_event_type ev,
			 const char *topic, size_t topic_len)
{
	bool topical = event_has_topic(ev);
	uint32_t mask = 0;

	if (!cfg || (int)ev <= NH_EV_NONE || ev >= NH_EV_MAX)
		return 0;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct nh_rule *r = &cfg->rules[i];

		if (r->event != ev || (mask & (1u << r->dest)))
			continue;
		if (!topical || !r->topic ||
		    (topic && nh_topic_match_mode(r->topic, strlen(r->topic), topic, topic_len,
						  cfg->wild_dollar)))
			mask |= 1u << r->dest;
	}
	return mask;
}

bool nh_config_wants(const struct nh_config *cfg, enum nh_event_type ev,
		     const char *topic, size_t topic_len)
{
	return nh_config_dests(cfg, ev, topic, topic_len) != 0;
}

const char *nh_balance_name(enum nh_balance b)
{
	switch (b) {
	case NH_BALANCE_HASH: return "hash";
	case NH_BALANCE_ROUND_ROBIN: return "round_robin";
	case NH_BALANCE_FAILOVER: return "failover";
	}
	return "?";
}

const char *nh_sink_name(enum nh_sink_kind k)
{
	return k == NH_SINK_NATS ? "nats" : "http";
}

/* ---- check output -------------------------------------------------------------- */

static bool header_is_secret(const char *name)
{
	static const char *const words[] = { "auth", "token", "secret", "key",
					     "passw", "cookie" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasestr(name, words[i]))
			return true;
	return false;
}

static void print_url_masked(const char *url, FILE *out)
{
	char *shown = nh_url_redact(url);

	fputs(shown ? shown : "(out of memory)", out);
	free(shown);
}

/* url = ... as NanoMQ has it for one url; a pool, and the rules' own
 * destinations, one per line with their endpoints. */
static void print_dests(const struct nh_config *cfg, FILE *out)
{
	if (cfg->n_dests == 1 && cfg->dests[0].n_urls == 1) {
		fputs("url = ", out);
		print_url_masked(cfg->dests[0].urls[0], out);
		fputc('\n', out);
		return;
	}
	for (size_t d = 0; d < cfg->n_dests; d++) {
		const struct nh_dest *dest = &cfg->dests[d];

		if (dest->kind == NH_SINK_NATS) {
			const struct nh_nats_config *nc = &cfg->nats;
			char *filter = nh_subject_filter(nc->subject);

			fprintf(out, "destination %zu (nanohook.nats): JetStream stream %s, subject %s\n",
				d, nc->stream, nc->subject);
			for (size_t i = 0; i < dest->n_urls; i++) {
				fprintf(out, "  server %zu = ", i);
				print_url_masked(dest->urls[i], out);
				fputc('\n', out);
			}
			if (nc->create)
				fprintf(out, "  create = true (if missing: subjects %s, replicas %u, "
					"duplicate_window %llums)\n", filter ? filter : "?", nc->replicas,
					(unsigned long long)nc->duplicate_window_ms);
			if (nc->creds)
				fprintf(out, "  creds = %s\n", nc->creds);
			if (nc->cacertfile)
				fprintf(out, "  cacertfile = %s\n", nc->cacertfile);
			if (nc->certfile)
				fprintf(out, "  certfile = %s, keyfile = %s\n", nc->certfile, nc->keyfile);
			free(filter);
			continue;
		}
		fprintf(out, "destination %zu%s: %zu endpoint%s", d, d ? "" : " (webhook.url)",
			dest->n_urls, dest->n_urls == 1 ? "" : "s");
		if (dest->n_urls > 1)
			fprintf(out, ", balance = %s", nh_balance_name(cfg->balance));
		fputc('\n', out);
		for (size_t i = 0; i < dest->n_urls; i++) {
			fprintf(out, "  endpoint %zu = ", i);
			print_url_masked(dest->urls[i], out);
			fputc('\n', out);
		}
	}
}

/* The delivery settings, each only when it is not the default (the
 * defaults are in `nanohook --help`). */
static void print_delivery(const struct nh_config *cfg, FILE *out)
{
	static const char *const fsync_names[] = { "batch", "always", "never" };
	struct nh_config def;

	set_defaults(&def);
	if (cfg->retry_max_attempts != def.retry_max_attempts)
		fprintf(out, "nanohook.retry.max_attempts = %u\n", cfg->retry_max_attempts);
	if (cfg->retry_initial_ms != def.retry_initial_ms)
		fprintf(out, "nanohook.retry.initial = %llums\n",
			(unsigned long long)cfg->retry_initial_ms);
	if (cfg->retry_max_delay_ms != def.retry_max_delay_ms)
		fprintf(out, "nanohook.retry.max_delay = %llums\n",
			(unsigned long long)cfg->retry_max_delay_ms);
	if (cfg->retry_max_age_ms != def.retry_max_age_ms)
		fprintf(out, "nanohook.retry.max_age = %llums\n",
			(unsigned long long)cfg->retry_max_age_ms);
	if (cfg->spool_dir)
		fprintf(out, "nanohook.spool.dir = \"%s\"%s\n", cfg->spool_dir,
			cfg->spool_dir[0] ? "" : " (no spool)");
	if (cfg->spool_max_bytes != def.spool_max_bytes)
		fprintf(out, "nanohook.spool.max_size = %llu\n",
			(unsigned long long)cfg->spool_max_bytes);
	if (cfg->spool_max_age_ms != def.spool_max_age_ms)
		fprintf(out, "nanohook.spool.max_age = %llums\n",
			(unsigned long long)cfg->spool_max_age_ms);
	if (cfg->spool_fsync != def.spool_fsync)
		fprintf(out, "nanohook.spool.fsync = %s\n",
			(unsigned)cfg->spool_fsync < 3 ? fsync_names[cfg->spool_fsync] : "?");
	if (cfg->spool_failing_ms != def.spool_failing_ms)
		fprintf(out, "nanohook.spool.failing_after = %llums\n",
			(unsigned long long)cfg->spool_failing_ms);
	if (cfg->dead_letter)
		fprintf(out, "nanohook.dead_letter = \"%s\"\n", cfg->dead_letter);
	if (cfg->order_per_client != def.order_per_client)
		fputs("nanohook.order = none\n", out);
	if (cfg->wild_dollar != def.wild_dollar)
		fputs("nanohook.topic_match = mqtt\n", out);
	if (cfg->drain_timeout_ms != def.drain_timeout_ms)
		fprintf(out, "nanohook.drain_timeout = %llums\n",
			(unsigned long long)cfg->drain_timeout_ms);
	if (cfg->metrics_listen)
		fprintf(out, "nanohook.metrics = \"%s\"\n", cfg->metrics_listen);
	if (cfg->lane_inflight != def.lane_inflight)
		fprintf(out, "nanohook.lane.inflight = %u (order within a client rests on seq)\n",
			cfg->lane_inflight);
	if (cfg->circuit_failures != def.circuit_failures)
		fprintf(out, "nanohook.circuit.failures = %u\n", cfg->circuit_failures);
	if (cfg->circuit_open_ms != def.circuit_open_ms)
		fprintf(out, "nanohook.circuit.open_for = %llums\n",
			(unsigned long long)cfg->circuit_open_ms);
	if (cfg->http2)
		fputs("nanohook.http2 = true\n", out);
}

/* Paths and names, never the secrets themselves. */
static void print_security(const struct nh_config *cfg, FILE *out)
{
	const struct nh_tls_config *t = &cfg->tls;

	if (t->present && !t->enable)
		fputs("tls.enable = false (the tls block is ignored)\n", out);
	if (t->present && t->enable) {
		if (t->cacertfile)
			fprintf(out, "tls.cacertfile = %s\n", t->cacertfile);
		if (t->certfile)
			fprintf(out, "tls.certfile = %s\n", t->certfile);
		if (t->keyfile)
			fprintf(out, "tls.keyfile = %s\n", t->keyfile);
		if (t->key_password)
			fputs("tls.key_password = ****\n", out);
		if (!t->verify)
			fputs("tls.verify = false (the endpoint's certificate is not checked)\n", out);
		if (t->server_name)
			fprintf(out, "tls.server_name = %s\n", t->server_name);
	}
	if (cfg->sign.secret_file)
		fprintf(out, "nanohook.sign: Standard Webhooks signatures, secret in the file %s\n",
			cfg->sign.secret_file);
	else if (cfg->sign.secret_env)
		fprintf(out, "nanohook.sign: Standard Webhooks signatures, secret in $%s\n",
			cfg->sign.secret_env);
}

void nh_config_print(const struct nh_config *cfg, FILE *out)
{
	static const char *const enc[] = { "plain", "base64", "base62" };

	print_dests(cfg, out);
	for (size_t i = 0; i < cfg->n_headers; i++)
		fprintf(out, "headers.%s = %s\n", cfg->headers[i].name,
			header_is_secret(cfg->headers[i].name) ? "****"
							       : cfg->headers[i].value);
	fprintf(out, "body.encoding = %s\n",
		(unsigned)cfg->encoding < 3 ? enc[cfg->encoding] : "?");
	/* Printed only when on, so `check` output of NanoMQ files is NanoMQ's. */
	if (cfg->extended)
		fprintf(out, "body.extended = true (node %s)\n", cfg->node ? cfg->node : "= host name");
	if (cfg->batch > 1)
		fprintf(out, "body.batch = %u (a JSON array of up to %u bodies per request, after at most %llums)\n",
			cfg->batch, cfg->batch, (unsigned long long)cfg->batch_wait_ms);
	fprintf(out, "pool_size = %u\n", cfg->pool_size);
	fprintf(out, "cancel_timeout = %ums\n", cfg->cancel_timeout_ms);
	fprintf(out, "nanohook.capture.payload_max = %u\n", cfg->payload_max);
	fprintf(out, "nanohook.ringbuf_size = %zu\n", cfg->ringbuf_bytes);
	fprintf(out, "nanohook.queue_max = %zu\n", cfg->queue_max);
	print_delivery(cfg, out);
	print_security(cfg, out);
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct nh_rule *r = &cfg->rules[i];

		fprintf(out, "rule line %d: %s", r->line, nh_event_name(r->event));
		if (r->topic)
			fprintf(out, " topic %s", r->topic);
		if (cfg->n_dests > 1)
			fprintf(out, " -> destination %u%s", r->dest,
				cfg->dests[r->dest].kind == NH_SINK_NATS ? " (nats)" : "");
		fputc('\n', out);
	}
	if (cfg->url_path_added)
		fputs("note: url has no path; nanohook posts to \"/\" (NanoMQ sends an empty request target there)\n",
		      out);
	if (cfg->nanomq_enable >= 0)
		fprintf(out, "note: webhook.enable = %s is NanoMQ's own switch and nanohook ignores it; NanoMQ's own webhook should be off, or the endpoint gets every event twice\n",
			cfg->nanomq_enable ? "true" : "false");
}
