/* SPDX-License-Identifier: MIT */
/*
 * The dispatcher's batches (body.batch): when they go out. A batch leaves
 * when it is full, or when batch_wait has passed since its first event, by
 * the dispatcher's clock; the test moves that clock by hand, so what it
 * checks is the rule, not the speed of the machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "deliver.h"
#include "dispatch.h"
#include "router.h"

struct fake_clock {
	struct nh_clock clock;
	int64_t now;
};

static int64_t fake_now(void *ctx)
{
	return ((struct fake_clock *)ctx)->now;
}

struct fixture {
	struct fake_clock fc;
	struct nh_config cfg;
	struct nh_router router;
	struct nh_dispatch disp;
};

/* A dispatcher with an engine aimed at a port nothing listens on: the
 * engine holds what it is given until polled, which this test never does,
 * so nh_deliver_in_flight() counts exactly the requests handed to it. */
static void setup(struct fixture *f, unsigned batch, const char *wait)
{
	char conf[512], err[256] = "";
	struct nh_deliver_opts o = { 0 };
	int n;

	memset(f, 0, sizeof(*f));
	f->fc.now = 5000000;
	f->fc.clock = (struct nh_clock){ .now_ms = fake_now, .ctx = &f->fc };
	n = snprintf(conf, sizeof(conf),
		     "webhook { url = \"http://127.0.0.1:9/hook\", pool_size = 2,\n"
		     "  body.batch = %u, body.batch_wait = %s,\n"
		     "  events = [ { event = \"on_message_publish\" } ] }\n", batch, wait);
	assert_int_equal(nh_config_load_buf("t.conf", conf, (size_t)n, &f->cfg, stderr), 0);
	o.url = f->cfg.url;
	o.pool_size = f->cfg.pool_size;
	o.timeout_ms = 1000;
	o.queue_max = 100;
	f->disp.cfg = &f->cfg;
	f->disp.clock = &f->fc.clock;
	f->disp.sink = nh_sink_http(nh_deliver_new(&o, err, sizeof(err)));
	if (!nh_sink_ok(&f->disp.sink))
		fail_msg("nh_deliver_new: %s", err);
	f->router.cfg = &f->cfg;
	f->router.dests = &f->disp;
}

static void teardown(struct fixture *f)
{
	nh_dispatch_free(&f->disp);
	nh_sink_free(&f->disp.sink);
	nh_router_free(&f->router);
	nh_config_free(&f->cfg);
}

static void publish(struct fixture *f, const char *clientid, const char *payload)
{
	struct nh_event ev = {
		.type = NH_EV_PUBLISH,
		.ts_ms = 1700000000000ull,
		.clientid = { clientid, strlen(clientid) },
		.topic = { "t/batch", 7 },
		.payload = (const uint8_t *)payload,
		.payload_len = strlen(payload),
		.payload_full_len = strlen(payload),
	};

	nh_router_event(&f->router, &ev);
}

/* A client id whose lane (of the fixture's 2) is not id's. */
static const char *other_lane_client(const struct fixture *f, const char *id)
{
	static char other[16];
	uint64_t lane = nh_dispatch_key(id, strlen(id)) % f->cfg.pool_size;

	for (int i = 0;; i++) {
		snprintf(other, sizeof(other), "x%d", i);
		if (nh_dispatch_key(other, strlen(other)) % f->cfg.pool_size != lane)
			return other;
	}
}

static size_t handed_to_engine(const struct fixture *f)
{
	return nh_deliver_in_flight(nh_sink_http_engine(&f->disp.sink));
}

static void a_batch_leaves_when_batch_wait_is_up(void **state)
{
	struct fixture f;

	(void)state;
	setup(&f, 10, "300ms");
	publish(&f, "c1", "1");
	publish(&f, "c1", "2");
	f.fc.now += 100;
	publish(&f, "c1", "3");
	nh_dispatch_send_due(&f.disp);
	assert_int_equal(handed_to_engine(&f), 0);
	/* 300 ms after the batch's first event, not after its last. */
	f.fc.now += 199;
	nh_dispatch_send_due(&f.disp);
	assert_int_equal(handed_to_engine(&f), 0);
	f.fc.now += 1;
	nh_dispatch_send_due(&f.disp);
	assert_int_equal(handed_to_engine(&f), 1);
	assert_int_equal(f.disp.st.handed_over, 3);
	/* A client of the other lane opens a new batch with its own 300 ms. */
	publish(&f, other_lane_client(&f, "c1"), "4");
	f.fc.now += 299;
	nh_dispatch_send_due(&f.disp);
	assert_int_equal(handed_to_engine(&f), 1);
	f.fc.now += 1;
	nh_dispatch_send_due(&f.disp);
	assert_int_equal(handed_to_engine(&f), 2);
	teardown(&f);
}

/* c1's lane has its first batch on the wire (never answered here): the
 * next batch of c1 keeps filling past batch_wait, and goes when full. */
static void a_batch_fills_while_its_lane_is_busy(void **state)
{
	struct fixture f;
	char p[8];

	(void)state;
	setup(&f, 4, "100ms");
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%d", i);
		publish(&f, "c1", p);
	}
	assert_int_equal(handed_to_engine(&f), 1);
	publish(&f, "c1", "4");
	f.fc.now += 1000;
	nh_dispatch_send_due(&f.disp);
	assert_int_equal(handed_to_engine(&f), 1);
	for (int i = 5; i < 8; i++) {
		snprintf(p, sizeof(p), "%d", i);
		publish(&f, "c1", p);
	}
	assert_int_equal(handed_to_engine(&f), 2);
	assert_int_equal(f.disp.st.handed_over, 8);
	teardown(&f);
}

static void a_full_batch_leaves_at_once(void **state)
{
	struct fixture f;

	(void)state;
	setup(&f, 3, "60s");
	publish(&f, "c1", "1");
	publish(&f, "c1", "2");
	assert_int_equal(handed_to_engine(&f), 0);
	publish(&f, "c1", "3");
	assert_int_equal(handed_to_engine(&f), 1); /* no clock needed */
	publish(&f, "c1", "4");
	assert_int_equal(handed_to_engine(&f), 1);
	/* What is still open goes at shutdown's flush. */
	nh_dispatch_flush(&f.disp);
	assert_int_equal(handed_to_engine(&f), 2);
	teardown(&f);
}

/* Two rules with urls of their own: an event both want goes to each
 * destination, with the same body; one only one wants goes there alone. */
static void an_event_goes_to_each_destination_that_wants_it(void **state)
{
	static const char conf[] =
		"webhook { url = \"http://127.0.0.1:9/a\", pool_size = 2,\n"
		"  body.extended = true,\n"
		"  events = [ { event = on_message_publish, topic = \"t/#\" }\n"
		"             { event = on_message_publish, topic = \"t/x\", url = \"http://127.0.0.1:9/b\" } ] }\n";
	struct nh_dispatch disp[2] = { 0 };
	struct nh_router router = { 0 };
	struct nh_config cfg;
	struct nh_event ev = {
		.type = NH_EV_PUBLISH,
		.ts_ms = 1700000000000ull,
		.clientid = { "c1", 2 },
		.topic = { "t/x", 3 },
		.payload = (const uint8_t *)"p",
		.payload_len = 1,
		.payload_full_len = 1,
	};
	char err[256] = "";

	(void)state;
	assert_int_equal(nh_config_load_buf("t.conf", conf, sizeof(conf) - 1, &cfg, stderr), 0);
	assert_int_equal(cfg.n_dests, 2);
	for (size_t i = 0; i < 2; i++) {
		struct nh_deliver_opts o = { .urls = (const char *const *)cfg.dests[i].urls,
					     .n_urls = cfg.dests[i].n_urls, .pool_size = 2,
					     .timeout_ms = 1000, .queue_max = 100 };

		disp[i].cfg = &cfg;
		disp[i].sink = nh_sink_http(nh_deliver_new(&o, err, sizeof(err)));
		if (!nh_sink_ok(&disp[i].sink))
			fail_msg("nh_deliver_new: %s", err);
	}
	router.cfg = &cfg;
	router.dests = disp;
	nh_router_event(&router, &ev);       /* t/x: both */
	ev.topic = (struct nh_str){ "t/y", 3 };
	nh_router_event(&router, &ev);       /* t/y: the first only */
	ev.topic = (struct nh_str){ "u", 1 };
	nh_router_event(&router, &ev);       /* u: nobody */
	assert_int_equal(router.st.seen, 3);
	assert_int_equal(router.st.filtered, 1);
	assert_int_equal(router.st.wanted, 2);
	assert_int_equal(disp[0].st.handed_over, 2);
	assert_int_equal(disp[1].st.handed_over, 1);
	assert_int_equal(nh_deliver_in_flight(nh_sink_http_engine(&disp[0].sink)), 2);
	assert_int_equal(nh_deliver_in_flight(nh_sink_http_engine(&disp[1].sink)), 1);
	for (size_t i = 0; i < 2; i++)
		nh_sink_free(&disp[i].sink);
	nh_router_free(&router);
	nh_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_batch_leaves_when_batch_wait_is_up),
		cmocka_unit_test(a_full_batch_leaves_at_once),
		cmocka_unit_test(a_batch_fills_while_its_lane_is_busy),
		cmocka_unit_test(an_event_goes_to_each_destination_that_wants_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
