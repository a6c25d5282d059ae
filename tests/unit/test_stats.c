/* SPDX-License-Identifier: MIT */
/*
 * The three faces of the counters: the summary (whose "posted" and
 * "dropped" lines scripts read), Prometheus text, and `nanohook stats`'s
 * table made from that text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "stats.h"

static struct nh_stats sample(void)
{
	struct nh_stats s;

	memset(&s, 0, sizeof(s));
	s.uptime_s = 12.5;
	s.bpf[NH_CNT_HITS] = 1000;
	s.bpf[NH_DROP_RINGBUF_FULL] = 3;
	s.rejected[0] = 2;
	s.rejected_name[0] = "malformed_record";
	s.n_rejected = 1;
	s.captured = 995;
	s.filtered = 5;
	s.delivered = 970;
	s.by_event[NH_EV_PUBLISH] = 900;
	s.by_event[NH_EV_CONNACK] = 70;
	s.attempts_failed_transport = 40;
	s.retried = 38;
	s.dead[1] = 2; /* max_attempts */
	s.udrop[NH_UDROP_SPOOL_FULL] = 18;
	s.spool_on = true;
	s.spooled = 400;
	s.replayed = 400;
	s.dead_letter_path = "/spool/dead-letter.jsonl";
	nh_hist_observe(&s.request_s, 0.0004);
	nh_hist_observe(&s.request_s, 0.2);
	nh_hist_observe(&s.request_s, 1000);
	return s;
}

static char *print(const struct nh_stats *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	nh_stats_print(s, "summary", f);
	fclose(f);
	return text;
}

static void summary_lines_scripts_read(void **state)
{
	struct nh_stats s = sample();
	char *text;

	(void)state;
	assert_int_equal(nh_stats_dropped(&s), 3 + 2 + 18);
	assert_int_equal(nh_stats_dead_lettered(&s), 2);
	text = print(&s);
	assert_non_null(strstr(text, "nanohook: summary after 12.5 s\n"));
	assert_non_null(strstr(text, "\n  seen             995  "));
	assert_non_null(strstr(text, "\n  posted           970  answered 2xx\n"));
	assert_non_null(strstr(text, "\n  dropped           23\n"));
	assert_non_null(strstr(text, "spool_full 18"));
	assert_non_null(strstr(text, "ringbuf_full 3"));
	assert_non_null(strstr(text, "malformed_record 2"));
	assert_non_null(strstr(text, "\n  retried           38"));
	assert_non_null(strstr(text, "\n  dead               2  given up, in /spool/dead-letter.jsonl"));
	free(text);

	/* Nothing lost: the line ends right after the 0, as tests grep. */
	s = (struct nh_stats){ .to_stdout = true, .captured = 7 };
	text = print(&s);
	assert_non_null(strstr(text, "\n  dropped            0\n"));
	assert_non_null(strstr(text, "\n  printed   "));
	assert_null(strstr(text, "posted"));
	free(text);
}

static void prometheus_text_is_consistent(void **state)
{
	struct nh_stats s = sample();
	struct nh_buf b = NH_BUF_INIT;

	(void)state;
	assert_int_equal(nh_stats_prometheus(&s, &b), 0);
	assert_non_null(strstr(b.data, "\nnanohook_events_delivered_total 970\n"));
	assert_non_null(strstr(b.data, "\nnanohook_events_wanted_total{event=\"on_message_publish\"} 900\n"));
	assert_non_null(strstr(b.data, "\nnanohook_events_wanted_total{event=\"on_client_connack\"} 70\n"));
	assert_non_null(strstr(b.data, "\nnanohook_events_wanted_total{event=\"on_message_acked\"} 0\n"));
	assert_non_null(strstr(b.data, "# TYPE nanohook_events_delivered_total counter\n"));
	assert_non_null(strstr(b.data,
		"nanohook_events_dropped_total{stage=\"bpf\",reason=\"ringbuf_full\"} 3\n"));
	assert_non_null(strstr(b.data,
		"nanohook_events_dropped_total{stage=\"userspace\",reason=\"spool_full\"} 18\n"));
	assert_non_null(strstr(b.data,
		"nanohook_events_dead_lettered_total{reason=\"max_attempts\"} 2\n"));
	/* Cumulative buckets: 0.0004 s <= 0.001, 0.2 s <= 0.25, 1000 s only +Inf. */
	assert_non_null(strstr(b.data, "nanohook_request_duration_seconds_bucket{le=\"0.001\"} 1\n"));
	assert_non_null(strstr(b.data, "nanohook_request_duration_seconds_bucket{le=\"0.1\"} 1\n"));
	assert_non_null(strstr(b.data, "nanohook_request_duration_seconds_bucket{le=\"0.25\"} 2\n"));
	assert_non_null(strstr(b.data, "nanohook_request_duration_seconds_bucket{le=\"300\"} 2\n"));
	assert_non_null(strstr(b.data, "nanohook_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(b.data, "nanohook_request_duration_seconds_count 3\n"));
	assert_non_null(strstr(b.data, "# TYPE nanohook_queue_depth gauge\n"));
	nh_buf_free(&b);
}

static void stats_table_from_metrics_text(void **state)
{
	static const char text[] =
		"# HELP nanohook_events_delivered_total x\n"
		"nanohook_events_delivered_total 970\n"
		"nanohook_request_duration_seconds_bucket{le=\"0.1\"} 1\n"
		"nanohook_request_duration_seconds_count 3\n"
		"other_metric{a=\"b c\"} 5\n"
		"garbage-without-value\n"
		"\n"
		"nanohook_x \x01\n";
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	(void)state;
	nh_stats_print_metrics(text, sizeof(text) - 1, f);
	fclose(f);
	assert_non_null(strstr(out, "events_delivered_total "));
	assert_non_null(strstr(out, " 970\n"));
	assert_non_null(strstr(out, "request_duration_seconds_count "));
	assert_null(strstr(out, "_bucket"));
	assert_null(strstr(out, "HELP"));
	assert_non_null(strstr(out, "other_metric{a=\"b c\"} "));
	assert_null(strstr(out, "garbage"));
	assert_null(strchr(out, '\x01'));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(summary_lines_scripts_read),
		cmocka_unit_test(prometheus_text_is_consistent),
		cmocka_unit_test(stats_table_from_metrics_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
