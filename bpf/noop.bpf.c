// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Probes for the benchmark (tests/tools/nh-probecost.c), never loaded by
 * nanohook. Attached to the function nanohook probes, they price the
 * parts of a capture one at a time:
 *
 *   nh_noop_entry / nh_noop_return  nothing: the trap into the kernel and
 *                                   back, the floor of any uprobe capture
 *   nh_noop_reads                   16 bpf_probe_read_user() of 8 bytes,
 *                                   about what one publish record costs
 *   nh_noop_ringbuf                 reserve and submit one record of
 *                                   nanohook's small class, with the
 *                                   wakeup policy userspace chose
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "nh_record.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* 0: the kernel wakes the consumer when it has caught up (what a plain
 * bpf_ringbuf_submit(rec, 0) does); BPF_RB_NO_WAKEUP: never, the
 * consumer polls on a timer. Set by userspace before load. */
const volatile __u64 wake_flags = 0;

/* Reservations that failed: the ring was full. Read by userspace. */
__u64 ring_full = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} noop_ring SEC(".maps");

SEC("uprobe")
int nh_noop_entry(void *ctx)
{
	return 0;
}

SEC("uretprobe")
int nh_noop_return(void *ctx)
{
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(nh_noop_reads, const char *arg)
{
	__u64 v, sum = 0;

	for (int i = 0; i < 16; i++) {
		v = 0;
		bpf_probe_read_user(&v, sizeof(v), arg + 8 * i);
		sum += v;
	}
	return sum == 1;	/* keeps the reads from being dropped */
}

SEC("uprobe")
int nh_noop_ringbuf(void *ctx)
{
	struct nh_record *rec = bpf_ringbuf_reserve(&noop_ring, NH_REC_SMALL, 0);

	if (!rec) {
		__sync_fetch_and_add(&ring_full, 1);
		return 0;
	}
	/* Like nanohook: the fixed header cleared, a few fields set. */
	__builtin_memset(rec, 0, offsetof(struct nh_record, clientid));
	rec->ts_boot_ns = bpf_ktime_get_boot_ns();
	rec->type = NH_EV_PUBLISH;
	rec->payload_cap = NH_PAYLOAD_SMALL;
	bpf_ringbuf_submit(rec, wake_flags);
	return 0;
}
