// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Probes that do nothing, for the benchmark (tests/tools/nh-probecost.c).
 * Attached to the same function nanohook probes, they measure the floor
 * of any uprobe-based capture: the trap into the kernel and back. What
 * nanohook's real probes cost beyond that is its own work. nanohook
 * itself never loads this object.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

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
