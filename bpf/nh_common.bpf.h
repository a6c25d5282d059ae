/* SPDX-License-Identifier: MIT */
/*
 * What every broker program shares: the ring buffer, the per-CPU
 * counters, the target filter and the helpers that copy broker strings
 * into a record with explicit lengths and truncation flags.
 *
 * Included by exactly one .bpf.c per skeleton, so the maps below are
 * per-program.
 */
#ifndef NH_COMMON_BPF_H
#define NH_COMMON_BPF_H

#include "nh_record.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Set by userspace before load (struct nh_probe_cfg in nh_record.h).
 * Batched wakeups: waking the reader costs the broker thread more than
 * the rest of a capture, so records are submitted without one, and a
 * CPU wakes the reader only when wakeup_ns have passed since it last did
 * (so a lone event is not kept waiting) or wakeup_bytes are waiting (so a
 * burst is read in large batches). The reader also polls on its own. */
const volatile struct nh_probe_cfg cfg = {
	.wakeup_ns = 1000000,
	.wakeup_bytes = 256 << 10,
	.payload_max = 4096,
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by userspace before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NH_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* When this CPU last woke the reader (boot ns). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last_wakeup SEC(".maps");

static __always_inline void nh_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1;
}

/* True if this hit belongs to a process we follow. */
static __always_inline bool nh_target_hit(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (cfg.target_tgid && tgid != cfg.target_tgid)
		return false;
	nh_count(NH_CNT_HITS);
	return true;
}

/* Clamps v to max in a way the compiler cannot rewrite: the verifier
 * must see the bound on the very register passed to the helper. */
#define NH_CLAMP(v, max)                                                      \
	asm volatile("if %[x] <= %[m] goto +1; %[x] = %[m];"                   \
		     : [x] "+r"(v)                                            \
		     : [m] "i"(max))

static __always_inline void nh_fill_header(struct nh_record *rec, __u16 type,
					   __u32 cap)
{
	__u64 id = bpf_get_current_pid_tgid();

	/* Reserved memory is not zeroed; clear the fixed header only (the
	 * string areas are bounded by their _got lengths). */
	__builtin_memset(rec, 0, offsetof(struct nh_record, clientid));
	rec->ts_boot_ns = bpf_ktime_get_boot_ns();
	rec->tgid = id >> 32;
	rec->tid = (__u32)id;
	rec->type = type;
	rec->broker = cfg.broker_id;
	rec->payload_cap = cap;
}

/* Reserves the smallest record class that holds `want` payload bytes,
 * fills the common header and copies the payload from `src`. The copy
 * happens on the same path as the reservation so the verifier sees each
 * class's bound. A failed payload read sets *fault. Counts a
 * ring-buffer-full drop on failure. */
static __always_inline struct nh_record *
nh_reserve(__u16 type, const void *src, __u32 want, bool *fault)
{
	struct nh_record *rec;
	__u64 n = want;
	long err = 0;

	if (want <= NH_PAYLOAD_SMALL) {
		rec = bpf_ringbuf_reserve(&events, NH_REC_SMALL, 0);
		if (!rec)
			goto full;
		nh_fill_header(rec, type, NH_PAYLOAD_SMALL);
		NH_CLAMP(n, NH_PAYLOAD_SMALL);
		if (src && n)
			err = bpf_probe_read_user(rec->payload, n, src);
	} else {
		rec = bpf_ringbuf_reserve(&events, NH_REC_LARGE, 0);
		if (!rec)
			goto full;
		nh_fill_header(rec, type, NH_PAYLOAD_LARGE);
		NH_CLAMP(n, NH_PAYLOAD_LARGE);
		if (src && n)
			err = bpf_probe_read_user(rec->payload, n, src);
	}
	if (err)
		*fault = true;
	rec->payload_got = err ? 0 : (__u16)n;
	return rec;
full:
	nh_count(NH_DROP_RINGBUF_FULL);
	return NULL;
}

/* A record carrying up to cfg.payload_max bytes of a broker buffer of len
 * bytes: payload_len says how long it was, NH_F_TRUNC_PAYLOAD that it was
 * cut. */
static __always_inline struct nh_record *
nh_reserve_payload(__u16 type, const void *src, __u32 len, bool *fault)
{
	__u32 want = len < cfg.payload_max ? len : cfg.payload_max;
	struct nh_record *rec = nh_reserve(type, src, want, fault);

	if (!rec)
		return NULL;
	rec->payload_len = len;
	if (len > want)
		rec->flags |= NH_F_TRUNC_PAYLOAD;
	return rec;
}

/* The same for a raw MQTT packet body that userspace parses. */
static __always_inline struct nh_record *
nh_reserve_raw(__u16 type, const void *pkt, __u32 len, bool *fault)
{
	struct nh_record *rec = nh_reserve_payload(type, pkt, len, fault);

	if (rec)
		rec->flags |= NH_F_RAW_PACKET;
	return rec;
}

static __always_inline void nh_submit(struct nh_record *rec)
{
	__u64 flags = BPF_RB_NO_WAKEUP, now = rec->ts_boot_ns;
	__u32 zero = 0;
	__u64 *last;

	if (rec->flags & NH_F_TRUNC_PAYLOAD)
		nh_count(NH_CNT_PAYLOAD_TRUNC);
	nh_count(NH_CNT_EMITTED);
	last = bpf_map_lookup_elem(&last_wakeup, &zero);
	if (!last || now - *last >= cfg.wakeup_ns ||
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg.wakeup_bytes) {
		flags = BPF_RB_FORCE_WAKEUP;
		if (last)
			*last = now;
	}
	bpf_ringbuf_submit(rec, flags);
}

/* Submits a filled record. One built from unreadable broker memory would
 * be garbage: it is flagged, so userspace counts it and never delivers it. */
static __always_inline void nh_finish(struct nh_record *rec, bool fault)
{
	if (fault) {
		rec->flags |= NH_F_READ_FAULT;
		nh_count(NH_DROP_READ_FAULT);
	}
	nh_submit(rec);
}

/* Copies a (pointer, length) string of the broker into dst[cap]. The
 * copy is NUL-terminated; *got says how many bytes it holds; a longer
 * string sets `trunc` in rec->flags. Returns 0 or the read error. */
#define NH_COPY_STR(rec, field, cap, src, len, trunc)                         \
	({                                                                    \
		__u64 __n = (__u32)(len);                                     \
		long __err = 0;                                               \
		if (__n > (cap) - 1) {                                        \
			__n = (cap) - 1;                                      \
			(rec)->flags |= (trunc);                              \
		}                                                             \
		NH_CLAMP(__n, (cap) - 1);                                     \
		if (__n && (src))                                             \
			__err = bpf_probe_read_user((rec)->field, __n, (src)); \
		if (__err)                                                    \
			__n = 0;                                              \
		(rec)->field[__n & ((cap) - 1)] = 0;                          \
		(rec)->field##_got = __n;                                     \
		__err;                                                        \
	})

/* Copies a NUL-terminated broker string of unknown length into
 * dst[cap]. A string that fills the buffer may be longer than it: it is
 * marked truncated (and its length set past what was copied), so
 * userspace refuses it rather than send a cut-off name. */
#define NH_COPY_CSTR(rec, field, cap, src, trunc)                             \
	({                                                                    \
		long __r = 0;                                                 \
		__u32 __got = 0;                                              \
		if (src) {                                                    \
			__r = bpf_probe_read_user_str((rec)->field, (cap), (src)); \
			if (__r > 0)                                          \
				__got = __r - 1;                              \
		}                                                             \
		(rec)->field[__got & ((cap) - 1)] = 0;                        \
		(rec)->field##_got = __got;                                   \
		(rec)->field##_len = __got;                                   \
		if (__got == (cap) - 1) {                                     \
			(rec)->flags |= (trunc);                              \
			(rec)->field##_len = (cap);                           \
		}                                                             \
		__r < 0 ? __r : 0;                                            \
	})

/* Reads a field of type T at base+off from broker memory; 0 on failure
 * (and *fault set), so a bad offset never yields a plausible value. */
#define NH_READ(T, base, off, fault)                                          \
	({                                                                    \
		T __v = 0;                                                    \
		if (bpf_probe_read_user(&__v, sizeof(__v),                    \
					(const char *)(base) + (off)))        \
			*(fault) = true;                                      \
		__v;                                                          \
	})

/* Fields of one broker struct gathered with a single probe read: each
 * bpf_probe_read_user() costs about 90 ns in the broker's thread (measured
 * with kernel.bpf_stats_enabled), while the bytes themselves cost next to
 * nothing. A field outside the span, or a span that cannot be read whole
 * (a struct at the very end of a mapping), is read on its own instead, so
 * the result is the same either way. */
#define NH_SPAN_MAX 128

struct nh_span {
	const char *base;
	__s32 lo;
	bool ok;
	__u8 b[NH_SPAN_MAX];
};

static __always_inline void nh_span_read(struct nh_span *sp, const void *base, __s32 lo)
{
	sp->base = base;
	sp->lo = lo;
	sp->ok = lo >= 0 &&
		 bpf_probe_read_user(sp->b, sizeof(sp->b), (const char *)base + lo) == 0;
}

/* The lowest of up to five offsets (negative ones, fields the binary
 * lacks, ignored): where a span over them starts. */
static __always_inline __s32 nh_span_lo(__s32 a, __s32 b, __s32 c, __s32 d, __s32 e)
{
	__s32 lo = 0x7fffffff;

	if (a >= 0 && a < lo)
		lo = a;
	if (b >= 0 && b < lo)
		lo = b;
	if (c >= 0 && c < lo)
		lo = c;
	if (d >= 0 && d < lo)
		lo = d;
	if (e >= 0 && e < lo)
		lo = e;
	return lo;
}

/* NH_READ, from the span when the field lies inside it. */
#define NH_SPAN_GET(T, sp, off, fault)                                        \
	({                                                                    \
		T __sv = 0;                                                   \
		__s32 __si = (off) - (sp)->lo;                                \
		if ((sp)->ok && __si >= 0 &&                                  \
		    __si <= (__s32)(NH_SPAN_MAX - sizeof(T)))                 \
			__builtin_memcpy(&__sv, &(sp)->b[__si], sizeof(T));   \
		else                                                          \
			__sv = NH_READ(T, (sp)->base, off, fault);            \
		__sv;                                                         \
	})

#endif
