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
	f->disp.deliver = nh_deliver_new(&o, err, sizeof(err));
	if (!f->disp.deliver)
		fail_msg("nh_deliver_new: %s", err);
}

static void teardown(struct fixture *f)
{
	nh_dispatch_free(&f->disp);
	nh_deliver_free(f->disp.deliver);
	nh_buf_free(&f->disp.body);
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

	nh_dispatch_event(&f->disp, &ev);
}

static size_t handed_to_engine(const struct fixture *f)
{
	return nh_deliver_in_flight(f->disp.deliver);
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
	/* The next event opens a new batch with its own 300 ms. */
	publish(&f, "c1", "4");
	f.fc.now += 299;
	nh_dispatch_send_due(&f.disp);
	assert_int_equal(handed_to_engine(&f), 1);
	f.fc.now += 1;
	nh_dispatch_send_due(&f.disp);
	assert_int_equal(handed_to_engine(&f), 2);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_batch_leaves_when_batch_wait_is_up),
		cmocka_unit_test(a_full_batch_leaves_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
