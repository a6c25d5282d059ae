// SPDX-License-Identifier: MIT
#include "retry.h"

#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

enum nh_attempt_class nh_retry_classify(bool got_reply, int http_status)
{
	if (!got_reply)
		return NH_ATTEMPT_RETRY;
	if (http_status >= 200 && http_status <= 299)
		return NH_ATTEMPT_OK;
	/* 408: the server gave up waiting for us; 429: it asks us to slow
	 * down; 5xx: its own trouble. Everything else (other 4xx, and 1xx
	 * or 3xx as a final answer: nanohook follows no redirects) says
	 * that this body will never be taken as it is. */
	if (http_status == 408 || http_status == 429 || (http_status >= 500 && http_status <= 599))
		return NH_ATTEMPT_RETRY;
	return NH_ATTEMPT_PERMANENT;
}

uint64_t nh_retry_backoff_ms(const struct nh_retry_policy *p, unsigned failed, uint64_t rnd)
{
	uint64_t cap = p->initial_ms;

	if (failed < 1)
		failed = 1;
	/* Double without overflowing: stop as soon as max_delay is reached. */
	for (unsigned i = 1; i < failed && cap < p->max_delay_ms; i++)
		cap = cap > UINT64_MAX / 2 ? UINT64_MAX : cap * 2;
	if (cap > p->max_delay_ms)
		cap = p->max_delay_ms;
	if (cap == UINT64_MAX)
		return rnd;
	return rnd % (cap + 1);
}

uint64_t nh_retry_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t nh_retry_seed(void)
{
	uint64_t seed = 0;
	struct timespec ts;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
		return seed;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
}

/* ---- Retry-After ----------------------------------------------------------- */

/* A cursor over the value; every reader checks the bounds. */
struct cur {
	const char *p, *end;
};

static bool at_end(const struct cur *c)
{
	return c->p >= c->end;
}

static bool eat(struct cur *c, char ch)
{
	if (at_end(c) || *c->p != ch)
		return false;
	c->p++;
	return true;
}

/* Exactly `n` digits (n = 0: one or more, at most 9). */
static bool digits(struct cur *c, int n, int *out)
{
	int v = 0, got = 0;

	while (!at_end(c) && *c->p >= '0' && *c->p <= '9' && (n ? got < n : got < 9)) {
		v = v * 10 + (*c->p - '0');
		c->p++;
		got++;
	}
	if (got == 0 || (n && got != n))
		return false;
	*out = v;
	return true;
}

/* One of `names` (case-insensitive, whole name): its index, or -1. */
static int word(struct cur *c, const char *const *names, int count)
{
	for (int i = 0; i < count; i++) {
		size_t n = strlen(names[i]);

		if ((size_t)(c->end - c->p) >= n && strncasecmp(c->p, names[i], n) == 0) {
			c->p += n;
			return i;
		}
	}
	return -1;
}

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
static const char *const days3[] = { "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun" };
static const char *const days_long[] = { "Monday", "Tuesday", "Wednesday", "Thursday",
					 "Friday", "Saturday", "Sunday" };
static const char *const gmt[] = { "GMT" };

static bool clock_part(struct cur *c, struct tm *tm)
{
	return digits(c, 2, &tm->tm_hour) && eat(c, ':') && digits(c, 2, &tm->tm_min) &&
	       eat(c, ':') && digits(c, 2, &tm->tm_sec);
}

/* The day name is read by the caller. */
static bool imf_fixdate(struct cur *c, struct tm *tm)
{
	int year;

	if (!eat(c, ',') || !eat(c, ' ') || !digits(c, 2, &tm->tm_mday) || !eat(c, ' '))
		return false;
	if ((tm->tm_mon = word(c, months, 12)) < 0)
		return false;
	if (!eat(c, ' ') || !digits(c, 4, &year) || !eat(c, ' ') || !clock_part(c, tm) ||
	    !eat(c, ' ') || word(c, gmt, 1) < 0)
		return false;
	tm->tm_year = year - 1900;
	return true;
}

static bool rfc850_date(struct cur *c, struct tm *tm)
{
	int yy;

	if (!eat(c, ',') || !eat(c, ' ') || !digits(c, 2, &tm->tm_mday) || !eat(c, '-'))
		return false;
	if ((tm->tm_mon = word(c, months, 12)) < 0)
		return false;
	if (!eat(c, '-') || !digits(c, 2, &yy) || !eat(c, ' ') || !clock_part(c, tm) ||
	    !eat(c, ' ') || word(c, gmt, 1) < 0)
		return false;
	/* Two-digit years: RFC 9110 reads ones more than 50 years ahead as
	 * past; with today's dates that is 19yy from 70 on. */
	tm->tm_year = yy < 70 ? yy + 100 : yy;
	return true;
}

static bool asctime_date(struct cur *c, struct tm *tm)
{
	int year;

	if (!eat(c, ' ') || (tm->tm_mon = word(c, months, 12)) < 0 || !eat(c, ' '))
		return false;
	if (eat(c, ' ')) {
		if (!digits(c, 1, &tm->tm_mday))
			return false;
	} else if (!digits(c, 2, &tm->tm_mday)) {
		return false;
	}
	if (!eat(c, ' ') || !clock_part(c, tm) || !eat(c, ' ') || !digits(c, 4, &year))
		return false;
	tm->tm_year = year - 1900;
	return true;
}

static bool http_date(struct cur *c, int64_t *out)
{
	struct tm tm;
	struct cur save = *c;
	bool ok;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	/* The long day names first: "Monday" starts with "Mon". A long
	 * name cannot match an IMF or asctime date ("Mon," / "Mon "). */
	if (word(c, days_long, 7) >= 0) {
		ok = rfc850_date(c, &tm);
	} else if (word(c, days3, 7) >= 0) {
		if (!at_end(c) && *c->p == ',')
			ok = imf_fixdate(c, &tm);
		else
			ok = asctime_date(c, &tm);
	} else {
		ok = false;
	}
	if (!ok) {
		*c = save;
		return false;
	}
	if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return false;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	*out = (int64_t)t;
	return true;
}

static void skip_blanks(struct cur *c)
{
	while (!at_end(c) && (*c->p == ' ' || *c->p == '\t'))
		c->p++;
}

int nh_retry_after_parse(const char *value, size_t len, int64_t now_s, uint64_t *delay_ms)
{
	struct cur c = { value, value + len };
	const char *end;
	int64_t when;

	if (!value)
		return -1;
	skip_blanks(&c);
	end = c.end;
	while (end > c.p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
			     end[-1] == '\n'))
		end--;
	c.end = end;
	if (at_end(&c))
		return -1;

	if (*c.p >= '0' && *c.p <= '9') {
		uint64_t s = 0;

		for (; !at_end(&c); c.p++) {
			if (*c.p < '0' || *c.p > '9')
				return -1;
			/* Anything past a day is as good as forever: the
			 * caller caps it at max_delay anyway. */
			if (s < 100000000ull)
				s = s * 10 + (uint64_t)(*c.p - '0');
		}
		*delay_ms = s * 1000;
		return 0;
	}
	if (!http_date(&c, &when) || !at_end(&c))
		return -1;
	*delay_ms = when > now_s ? (uint64_t)(when - now_s) * 1000 : 0;
	return 0;
}
