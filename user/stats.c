// SPDX-License-Identifier: MIT
#include "stats.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "deadletter.h"

const double nh_hist_bounds[NH_HIST_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
	0.5, 1, 2.5, 5, 10, 30, 60, 300,
};

_Static_assert(NH_DEAD_SLOTS == NH_DEAD_MAX, "one slot per dead-letter reason");

static const char *const udrop_names[NH_UDROP_MAX] = {
	[NH_UDROP_NO_BODY] = "no_body",
	[NH_UDROP_QUEUE_FULL] = "queue_full",
	[NH_UDROP_SPOOL_FULL] = "spool_full",
	[NH_UDROP_SPOOL_ERROR] = "spool_error",
	[NH_UDROP_DEAD_LETTER] = "dead_letter_error",
	[NH_UDROP_SHUTDOWN] = "shutdown",
};

const char *nh_udrop_name(enum nh_udrop r)
{
	return (unsigned)r < NH_UDROP_MAX ? udrop_names[r] : "unknown";
}

void nh_hist_observe(struct nh_hist *h, double seconds)
{
	size_t i = 0;

	while (i < NH_HIST_BUCKETS && seconds > nh_hist_bounds[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += seconds;
}

uint64_t nh_stats_dropped(const struct nh_stats *s)
{
	uint64_t n = s->bpf[NH_DROP_RINGBUF_FULL] + s->bpf[NH_DROP_PENDING_FULL];

	for (size_t i = 0; i < s->n_rejected; i++)
		n += s->rejected[i];
	for (int r = 0; r < NH_UDROP_MAX; r++)
		n += s->udrop[r];
	return n;
}

uint64_t nh_stats_dead_lettered(const struct nh_stats *s)
{
	uint64_t n = 0;

	for (int r = 0; r < NH_DEAD_SLOTS; r++)
		n += s->dead[r];
	return n;
}

/* The approximate q-quantile of a histogram: the upper bound of the
 * bucket it falls in (what Prometheus would say, without interpolation). */
static double hist_quantile(const struct nh_hist *h, double q)
{
	uint64_t want = (uint64_t)((double)h->count * q + 0.5), seen = 0;

	for (size_t i = 0; i < NH_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= want && seen > 0)
			return nh_hist_bounds[i];
	}
	return -1; /* above the last bound */
}

static void print_latency(FILE *out, const char *label, const struct nh_hist *h)
{
	double p50 = hist_quantile(h, 0.5), p99 = hist_quantile(h, 0.99);

	if (!h->count)
		return;
	fprintf(out, "  %-9s mean %.1f ms, p50 <= ", label, h->sum / (double)h->count * 1000);
	if (p50 < 0)
		fprintf(out, "inf");
	else
		fprintf(out, "%g ms", p50 * 1000);
	fprintf(out, ", p99 <= ");
	if (p99 < 0)
		fprintf(out, "inf\n");
	else
		fprintf(out, "%g ms\n", p99 * 1000);
}

static bool has_nats(const struct nh_stats *s)
{
	for (size_t d = 0; d < s->n_dests; d++)
		if (s->dests[d].sink && !strcmp(s->dests[d].sink, "nats"))
			return true;
	return false;
}

/* Each destination and endpoint, when there is more than one url. */
static void print_pool(const struct nh_stats *s, FILE *out)
{
	if (s->n_dests <= 1 && s->n_endpoints <= 1)
		return;
	for (size_t d = 0; d < s->n_dests; d++) {
		const struct nh_stats_dest *sd = &s->dests[d];

		bool nats = sd->sink && !strcmp(sd->sink, "nats");

		fprintf(out, "  destination %zu%s: %" PRIu64 " events, %s %" PRIu64
			", dead %" PRIu64 ", dropped %" PRIu64 ", spooled %" PRIu64
			", pending %" PRIu64 "%s\n", d, nats ? " (nats)" : "", sd->handed_over,
			nats ? "stored" : "posted", sd->delivered, sd->dead,
			sd->dropped, sd->spooled, sd->queued + sd->running,
			sd->spooling ? " (spooling)" : "");
		if (nats)
			fprintf(out, "    nats: %s%s, acks %" PRIu64 " (%" PRIu64 " duplicates), "
				"negative %" PRIu64 ", timeouts %" PRIu64 ", failed %" PRIu64
				", disconnects %" PRIu64 ", reconnects %" PRIu64 "\n",
				sd->nats_connected ? "connected to " : "not connected",
				sd->nats_connected ? sd->nats_server : "", sd->nats_acked,
				sd->nats_duplicates, sd->nats_nak, sd->nats_timeouts, sd->nats_failed,
				sd->nats_disconnects, sd->nats_reconnects);
		for (size_t i = 0; i < s->n_endpoints; i++) {
			const struct nh_stats_endpoint *e = &s->endpoints[i];

			if (e->dest != d)
				continue;
			fprintf(out, "    %s: %" PRIu64 " ok, %" PRIu64 " failed, circuit %s",
				e->url, e->ok, e->failed_http + e->failed_transport + e->failed_timeout,
				e->circuit);
			if (e->circuit_opened)
				fprintf(out, " (opened %" PRIu64 " times)", e->circuit_opened);
			if (e->probe_in_s > 0)
				fprintf(out, ", probe in %.1f s", e->probe_in_s);
			fputc('\n', out);
		}
	}
}

void nh_stats_print(const struct nh_stats *s, const char *title, FILE *out)
{
	uint64_t dead = nh_stats_dead_lettered(s);

	fprintf(out, "nanohook: %s after %.1f s\n", title, s->uptime_s);
	fprintf(out, "  seen      %10" PRIu64 "  events from the broker (probe hits %" PRIu64 ")\n",
		s->captured, s->bpf[NH_CNT_HITS]);
	fprintf(out, "  filtered  %10" PRIu64 "  wanted by no rule\n", s->filtered);
	if (s->to_stdout) {
		fprintf(out, "  printed   %10" PRIu64 "\n", s->printed);
	} else {
		fprintf(out, "  posted    %10" PRIu64 "  answered 2xx%s\n", s->delivered,
			has_nats(s) ? ", or stored by JetStream" : "");
		fprintf(out, "  failed    %10" PRIu64 "  attempts (non-2xx %" PRIu64 ", transport %"
			PRIu64 ", timeout %" PRIu64 ")\n",
			s->attempts_failed_http + s->attempts_failed_transport +
				s->attempts_failed_timeout,
			s->attempts_failed_http, s->attempts_failed_transport,
			s->attempts_failed_timeout);
		fprintf(out, "  retried   %10" PRIu64 "  attempts made again\n", s->retried);
		if (s->spool_on)
			fprintf(out, "  spooled   %10" PRIu64 "  written to the spool (replayed %" PRIu64
				", left in it %" PRIu64 ")\n",
				s->spooled, s->replayed, s->spool_records);
		fprintf(out, "  dead      %10" PRIu64 "  given up, in %s (rejected %" PRIu64
			", max_attempts %" PRIu64 ", max_age %" PRIu64 ", spool_max_age %" PRIu64 ")\n",
			dead, s->dead_letter_path ? s->dead_letter_path : "(no dead-letter file)",
			s->dead[0], s->dead[1], s->dead[2], s->dead[3]);
		if (s->queued || s->running)
			fprintf(out, "  pending   %10" PRIu64 "  in memory (%" PRIu64 " being sent)\n",
				s->queued + s->running, s->running);
	}
	fprintf(out, "  dropped   %10" PRIu64 "\n", nh_stats_dropped(s));
	fprintf(out, "    ringbuf_full %" PRIu64 ", pending_full %" PRIu64,
		s->bpf[NH_DROP_RINGBUF_FULL], s->bpf[NH_DROP_PENDING_FULL]);
	for (size_t i = 0; i < s->n_rejected; i++)
		fprintf(out, ", %s %" PRIu64, s->rejected_name[i], s->rejected[i]);
	fprintf(out, ",\n   ");
	for (int r = 0; r < NH_UDROP_MAX; r++)
		fprintf(out, " %s %" PRIu64 "%s", udrop_names[r], s->udrop[r],
			r + 1 < NH_UDROP_MAX ? "," : "\n");
	if (s->spool_corrupt)
		fprintf(out, "  note: %" PRIu64 " damaged stretches (%" PRIu64
			" bytes) of the spool were skipped\n", s->spool_corrupt, s->spool_corrupt_bytes);
	if (s->bpf[NH_CNT_PAYLOAD_TRUNC])
		fprintf(out, "  note: %" PRIu64 " payloads were cut at nanohook.capture.payload_max\n",
			s->bpf[NH_CNT_PAYLOAD_TRUNC]);
	if (!s->to_stdout) {
		print_pool(s, out);
		print_latency(out, "request", &s->request_s);
		print_latency(out, "latency", &s->latency_s);
	}
}

/* ---- Prometheus ---------------------------------------------------------------- */

struct prom {
	struct nh_buf *out;
	int rc;
};

static void p(struct prom *pr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void p(struct prom *pr, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (pr->rc == 0 && nh_buf_append_str(pr->out, line) < 0)
		pr->rc = -1;
}

static void head(struct prom *pr, const char *name, const char *type, const char *help)
{
	p(pr, "# HELP nanohook_%s %s\n# TYPE nanohook_%s %s\n", name, help, name, type);
}

static void counter(struct prom *pr, const char *name, const char *help, uint64_t v)
{
	head(pr, name, "counter", help);
	p(pr, "nanohook_%s %" PRIu64 "\n", name, v);
}

static void gauge(struct prom *pr, const char *name, const char *help, double v)
{
	head(pr, name, "gauge", help);
	p(pr, "nanohook_%s %.17g\n", name, v);
}

static void histogram(struct prom *pr, const char *name, const char *help,
		      const struct nh_hist *h)
{
	uint64_t cum = 0;

	head(pr, name, "histogram", help);
	for (size_t i = 0; i < NH_HIST_BUCKETS; i++) {
		cum += h->bucket[i];
		p(pr, "nanohook_%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, nh_hist_bounds[i], cum);
	}
	p(pr, "nanohook_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
	p(pr, "nanohook_%s_sum %.17g\n", name, h->sum);
	p(pr, "nanohook_%s_count %" PRIu64 "\n", name, h->count);
}

/* A label value: '\\', '"' and newlines escaped, as the text format wants. */
static void label(char *out, size_t cap, const char *v)
{
	size_t n = 0;

	for (; v && *v && n + 3 < cap; v++) {
		if (*v == '\\' || *v == '"') {
			out[n++] = '\\';
			out[n++] = *v;
		} else if (*v == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = *v;
		}
	}
	out[n] = 0;
}

static void prometheus_pool(struct prom *pr, const struct nh_stats *s)
{
	static const char *const outcomes[] = { "handed_over", "delivered", "spooled",
						"dead_lettered", "dropped" };
	static const char *const circuits[] = { "closed", "open", "half_open" };
	char ep[600];

	head(pr, "destination_events_total", "counter",
	     "Events of each destination (webhook.url is 0, then the rules' own urls), by outcome.");
	for (size_t d = 0; d < s->n_dests; d++) {
		const struct nh_stats_dest *sd = &s->dests[d];
		uint64_t v[] = { sd->handed_over, sd->delivered, sd->spooled, sd->dead, sd->dropped };

		for (size_t o = 0; o < sizeof(v) / sizeof(v[0]); o++)
			p(pr, "nanohook_destination_events_total{destination=\"%zu\",outcome=\"%s\"} %"
			  PRIu64 "\n", d, outcomes[o], v[o]);
	}
	head(pr, "destination_info", "gauge", "1 for each destination, with its sink (http, nats).");
	for (size_t d = 0; d < s->n_dests; d++)
		p(pr, "nanohook_destination_info{destination=\"%zu\",sink=\"%s\"} 1\n", d,
		  s->dests[d].sink ? s->dests[d].sink : "http");
	head(pr, "nats_acks_total", "counter",
	     "JetStream's answers to published events: stored, duplicate (stored before), "
	     "negative, timeout (none in time), failed (not sent: no connection).");
	for (size_t d = 0; d < s->n_dests; d++) {
		const struct nh_stats_dest *sd = &s->dests[d];
		const char *const results[] = { "stored", "duplicate", "negative", "timeout", "failed" };
		uint64_t v[] = { sd->nats_acked - sd->nats_duplicates, sd->nats_duplicates,
				 sd->nats_nak, sd->nats_timeouts, sd->nats_failed };

		if (!sd->sink || strcmp(sd->sink, "nats"))
			continue;
		for (size_t k = 0; k < 5; k++)
			p(pr, "nanohook_nats_acks_total{destination=\"%zu\",result=\"%s\"} %" PRIu64
			  "\n", d, results[k], v[k]);
	}
	head(pr, "nats_connected", "gauge", "1 while connected to a NATS server.");
	for (size_t d = 0; d < s->n_dests; d++)
		if (s->dests[d].sink && !strcmp(s->dests[d].sink, "nats"))
			p(pr, "nanohook_nats_connected{destination=\"%zu\"} %d\n", d,
			  s->dests[d].nats_connected);
	head(pr, "nats_reconnects_total", "counter", "Times the NATS connection came back.");
	for (size_t d = 0; d < s->n_dests; d++)
		if (s->dests[d].sink && !strcmp(s->dests[d].sink, "nats"))
			p(pr, "nanohook_nats_reconnects_total{destination=\"%zu\"} %" PRIu64 "\n", d,
			  s->dests[d].nats_reconnects);
	head(pr, "endpoint_requests_total", "counter", "Finished requests to each endpoint, by result.");
	for (size_t i = 0; i < s->n_endpoints; i++) {
		const struct nh_stats_endpoint *e = &s->endpoints[i];

		label(ep, sizeof(ep), e->url);
		p(pr, "nanohook_endpoint_requests_total{endpoint=\"%s\",result=\"ok\"} %" PRIu64 "\n",
		  ep, e->ok);
		p(pr, "nanohook_endpoint_requests_total{endpoint=\"%s\",result=\"http\"} %" PRIu64 "\n",
		  ep, e->failed_http);
		p(pr, "nanohook_endpoint_requests_total{endpoint=\"%s\",result=\"transport\"} %" PRIu64
		  "\n", ep, e->failed_transport);
		p(pr, "nanohook_endpoint_requests_total{endpoint=\"%s\",result=\"timeout\"} %" PRIu64
		  "\n", ep, e->failed_timeout);
	}
	head(pr, "endpoint_circuit", "gauge", "1 for each endpoint's circuit state.");
	for (size_t i = 0; i < s->n_endpoints; i++) {
		label(ep, sizeof(ep), s->endpoints[i].url);
		for (size_t c = 0; c < 3; c++)
			p(pr, "nanohook_endpoint_circuit{endpoint=\"%s\",state=\"%s\"} %d\n", ep,
			  circuits[c], !strcmp(s->endpoints[i].circuit, circuits[c]));
	}
	head(pr, "endpoint_circuit_opened_total", "counter", "Times each endpoint's circuit opened.");
	for (size_t i = 0; i < s->n_endpoints; i++) {
		label(ep, sizeof(ep), s->endpoints[i].url);
		p(pr, "nanohook_endpoint_circuit_opened_total{endpoint=\"%s\"} %" PRIu64 "\n", ep,
		  s->endpoints[i].circuit_opened);
	}
	head(pr, "endpoint_circuit_changed_timestamp_seconds", "gauge",
	     "When each endpoint's circuit last changed (Unix time; 0: never).");
	for (size_t i = 0; i < s->n_endpoints; i++) {
		label(ep, sizeof(ep), s->endpoints[i].url);
		p(pr, "nanohook_endpoint_circuit_changed_timestamp_seconds{endpoint=\"%s\"} %.3f\n",
		  ep, s->endpoints[i].circuit_since_s);
	}
	head(pr, "endpoint_probe_in_seconds", "gauge",
	     "An open circuit: seconds until a request probes the endpoint.");
	for (size_t i = 0; i < s->n_endpoints; i++) {
		label(ep, sizeof(ep), s->endpoints[i].url);
		p(pr, "nanohook_endpoint_probe_in_seconds{endpoint=\"%s\"} %.3f\n", ep,
		  s->endpoints[i].probe_in_s);
	}
	head(pr, "endpoint_requests_in_flight", "gauge", "Requests on the wire to each endpoint.");
	for (size_t i = 0; i < s->n_endpoints; i++) {
		label(ep, sizeof(ep), s->endpoints[i].url);
		p(pr, "nanohook_endpoint_requests_in_flight{endpoint=\"%s\"} %" PRIu64 "\n", ep,
		  s->endpoints[i].running);
	}
}

int nh_stats_prometheus(const struct nh_stats *s, struct nh_buf *out)
{
	static const char *const classes[6] = { "other", "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct prom pr = { .out = out };

	counter(&pr, "events_captured_total", "Events read from the BPF ring buffer and checked.",
		s->captured);
	counter(&pr, "events_filtered_total", "Events no rule wants.", s->filtered);
	counter(&pr, "events_printed_total", "Bodies printed (--stdout).", s->printed);
	counter(&pr, "events_delivered_total", "Events the endpoint answered with 2xx.",
		s->delivered);
	head(&pr, "events_wanted_total", "counter",
	     "Events a rule wanted, handed to delivery (or printed), by event.");
	for (int e = NH_EV_NONE + 1; e < NH_EV_MAX; e++)
		p(&pr, "nanohook_events_wanted_total{event=\"%s\"} %" PRIu64 "\n",
		  nh_event_name((enum nh_event_type)e), s->by_event[e]);
	counter(&pr, "retries_total", "Attempts scheduled again after a failure.", s->retried);
	counter(&pr, "events_spooled_total", "Events written to the disk spool.", s->spooled);
	counter(&pr, "events_replayed_total", "Events read back from the disk spool.", s->replayed);

	head(&pr, "request_failures_total", "counter", "Failed attempts, by kind.");
	p(&pr, "nanohook_request_failures_total{kind=\"http\"} %" PRIu64 "\n", s->attempts_failed_http);
	p(&pr, "nanohook_request_failures_total{kind=\"transport\"} %" PRIu64 "\n",
	  s->attempts_failed_transport);
	p(&pr, "nanohook_request_failures_total{kind=\"timeout\"} %" PRIu64 "\n",
	  s->attempts_failed_timeout);
	head(&pr, "responses_total", "counter", "HTTP replies, by status class.");
	for (int c = 1; c <= 6; c++)
		p(&pr, "nanohook_responses_total{class=\"%s\"} %" PRIu64 "\n", classes[c % 6],
		  s->by_status[c % 6]);
	head(&pr, "events_dead_lettered_total", "counter",
	     "Events given up on and written to the dead-letter file, by reason.");
	for (int r = 0; r < NH_DEAD_SLOTS; r++)
		p(&pr, "nanohook_events_dead_lettered_total{reason=\"%s\"} %" PRIu64 "\n",
		  nh_dead_reason_name((enum nh_dead_reason)r), s->dead[r]);
	head(&pr, "events_dropped_total", "counter", "Events lost, by where and why.");
	p(&pr, "nanohook_events_dropped_total{stage=\"bpf\",reason=\"ringbuf_full\"} %" PRIu64 "\n",
	  s->bpf[NH_DROP_RINGBUF_FULL]);
	p(&pr, "nanohook_events_dropped_total{stage=\"bpf\",reason=\"pending_full\"} %" PRIu64 "\n",
	  s->bpf[NH_DROP_PENDING_FULL]);
	for (size_t i = 0; i < s->n_rejected; i++)
		p(&pr, "nanohook_events_dropped_total{stage=\"capture\",reason=\"%s\"} %" PRIu64 "\n",
		  s->rejected_name[i], s->rejected[i]);
	for (int r = 0; r < NH_UDROP_MAX; r++)
		p(&pr, "nanohook_events_dropped_total{stage=\"userspace\",reason=\"%s\"} %" PRIu64 "\n",
		  udrop_names[r], s->udrop[r]);
	counter(&pr, "bpf_probe_hits_total", "Probe invocations for the target process.",
		s->bpf[NH_CNT_HITS]);
	counter(&pr, "bpf_records_total", "Records the probes put in the ring buffer.",
		s->bpf[NH_CNT_EMITTED]);
	counter(&pr, "payloads_truncated_total", "Payloads cut at capture.payload_max.",
		s->bpf[NH_CNT_PAYLOAD_TRUNC]);
	counter(&pr, "spool_damaged_total", "Damaged stretches of the spool skipped.",
		s->spool_corrupt);

	gauge(&pr, "queue_depth", "Events waiting in memory for their lane.", (double)s->queued);
	gauge(&pr, "requests_in_flight", "Requests being sent.", (double)s->running);
	gauge(&pr, "spool_records", "Events in the disk spool not yet delivered.",
	      (double)s->spool_records);
	gauge(&pr, "spool_bytes", "Bytes of the disk spool's files.", (double)s->spool_bytes);
	gauge(&pr, "spooling", "1 while new events go to the disk spool.", s->spooling ? 1 : 0);
	gauge(&pr, "endpoint_failing_seconds",
	      "For how long every attempt has failed (0: the last one succeeded).", s->failing_s);
	gauge(&pr, "uptime_seconds", "Seconds since nanohook attached.", s->uptime_s);
	prometheus_pool(&pr, s);
	histogram(&pr, "request_duration_seconds", "One HTTP request, sent to answered.",
		  &s->request_s);
	histogram(&pr, "delivery_latency_seconds", "An event, captured to answered 2xx.",
		  &s->latency_s);
	return pr.rc;
}

/* ---- reading it back ------------------------------------------------------------- */

void nh_stats_print_metrics(const char *text, size_t len, FILE *out)
{
	const char *pos = text, *end = text + len;

	while (pos < end) {
		const char *nl = memchr(pos, '\n', (size_t)(end - pos));
		const char *line_end = nl ? nl : end, *sp, *name = pos;
		size_t name_len;

		pos = nl ? nl + 1 : end;
		if (line_end == name || *name == '#')
			continue;
		/* "name{labels} value": the value follows the last blank. */
		for (sp = line_end; sp > name && sp[-1] != ' '; sp--)
			;
		if (sp == name)
			continue;
		name_len = (size_t)(sp - 1 - name);
		if (name_len >= 9 && strncmp(name, "nanohook_", 9) == 0) {
			name += 9;
			name_len -= 9;
		}
		if (memmem(name, name_len, "_bucket{", 8))
			continue;
		/* Only printable bytes: this text came over the network. */
		for (size_t i = 0; i < name_len; i++)
			fputc(isprint((unsigned char)name[i]) ? name[i] : '?', out);
		for (size_t i = name_len; i < 60; i++)
			fputc(' ', out);
		fputc(' ', out);
		for (const char *v = sp; v < line_end; v++)
			fputc(isprint((unsigned char)*v) ? *v : '?', out);
		fputc('\n', out);
	}
}
