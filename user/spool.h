/* SPDX-License-Identifier: MIT */
/*
 * The disk spool: a first-in first-out store of webhook bodies in one
 * directory, for when memory is not enough (the endpoint is slow or down)
 * and across restarts of nanohook.
 *
 * On disk: append-only segment files "<16 hex digits>.seg", each a 16-byte
 * header ("NHSPOOL1", version) and then records
 *     u32 len | u32 crc32c | u64 seq | u64 key | u64 first_ms | u32 attempts | u32 events | body
 * (little-endian; len counts from seq to the end of the body; the CRC covers
 * the same bytes), and an "ack" file that says how far the records have
 * been acknowledged. A segment is deleted once every record in it is.
 *
 * Reading is in append order. Records are acknowledged (delivered, or
 * handed to the dead-letter file) in any order; the acknowledged prefix
 * and the acknowledged records after it are what the "ack" file keeps, so
 * a restart re-reads exactly the records never acknowledged, unless the
 * process died after an acknowledgement and before the ack file was
 * written (nh_spool_sync: at most NH_SPOOL_ACK_EVERY_MS later).
 *
 * Damaged records (a CRC that does not match, a length that does not fit)
 * are skipped and counted; reading goes on at the next intact record. A
 * torn record at the very end (a crash in the middle of a write) is cut
 * off when the spool is opened. The directory is locked (flock): one
 * nanohook per spool.
 *
 * Not thread-safe: one owner, the main loop.
 */
#ifndef NH_SPOOL_H
#define NH_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How appended records reach the disk (a crash of nanohook alone loses
 * nothing that nh_spool_sync() has written out, whatever the policy; the
 * policy is about power loss and kernel crashes):
 *   ALWAYS: fdatasync after every append (slow: one disk flush per event)
 *   BATCH:  fdatasync at most every NH_SPOOL_SYNC_EVERY_MS, in nh_spool_sync()
 *   NEVER:  the kernel writes back when it likes */
enum nh_fsync { NH_FSYNC_BATCH = 0, NH_FSYNC_ALWAYS, NH_FSYNC_NEVER };

#define NH_SPOOL_SYNC_EVERY_MS 200
#define NH_SPOOL_ACK_EVERY_MS 100
#define NH_SPOOL_RECORD_MAX (64u << 20) /* body bytes */

struct nh_spool_opts {
	const char *dir;         /* created (0700) if missing */
	uint64_t max_bytes;      /* segment files together; appends beyond it fail */
	uint64_t segment_bytes;  /* 0: max_bytes / 8, within 4 KiB .. 64 MiB */
	enum nh_fsync fsync;
};

/* What a record holds besides its body. */
struct nh_spool_meta {
	uint64_t seq;      /* the event's identity (nh_deliver_item.id): its webhook-id */
	uint64_t key;      /* the ordering key (a hash of the client id) */
	uint64_t first_ms; /* wall clock, ms since the epoch: when it was captured */
	uint32_t attempts; /* failed attempts before it was spooled */
	uint32_t events;   /* events in the body (body.batch); 0 (older spools) means 1 */
};

struct nh_spool_stats {
	uint64_t appended;      /* records appended by this process */
	uint64_t read_new;      /* records read for the first time by this process */
	uint64_t acked;         /* records acknowledged by this process */
	uint64_t full;          /* appends refused: max_bytes */
	uint64_t corrupt;       /* damaged stretches skipped */
	uint64_t corrupt_bytes; /* their bytes */
	uint64_t records;       /* on disk and not acknowledged */
	uint64_t bytes;         /* segment files, including appends not yet written */
	uint64_t unwritten;     /* records appended but not yet written (write errors) */
};

struct nh_spool;

/* Opens (creating) the spool directory, locks it, cuts a torn tail, and
 * positions the reader at the first record never acknowledged. Returns
 * NULL and a one-line reason in err. Damage found on the way (a segment
 * without its header, a bad ack file) is logged as a warning and counted
 * in the stats; it never stops the spool from opening. */
struct nh_spool *nh_spool_open(const struct nh_spool_opts *o, char *err, size_t errlen);

/* Appends one record; *pos (if not NULL) is its position, for ack. Returns
 * 0, or -1 with errno: ENOSPC (max_bytes reached: nothing was written),
 * EMSGSIZE (body over NH_SPOOL_RECORD_MAX), or a write error (EIO,
 * ENOSPC from the file system...: the spool stays consistent). The record
 * is readable at once; it is written out by nh_spool_sync() (or at once
 * with NH_FSYNC_ALWAYS). */
int nh_spool_append(struct nh_spool *s, const struct nh_spool_meta *m, const void *body,
		    size_t len, uint64_t *pos);

/* The next record in append order that is not acknowledged: returns 1 and
 * fills *m, *body (malloc'd, the caller frees; NUL-terminated, the NUL not
 * counted in *len) and *pos; 0 if there is none; -1 with errno on an I/O
 * error or out of memory (the record is not lost: a later call reads it
 * again). */
int nh_spool_read(struct nh_spool *s, struct nh_spool_meta *m, char **body, size_t *len,
		  uint64_t *pos);

/* Is there a record nh_spool_read() would return? (Cheap.) */
bool nh_spool_has_unread(const struct nh_spool *s);

/* This record is done with (delivered, or in the dead-letter file). Any
 * position returned by append or read, in any order; twice is harmless. */
void nh_spool_ack(struct nh_spool *s, uint64_t pos);

/* Reading starts over at the oldest record not acknowledged (records read
 * since and acknowledged stay skipped). For when the reader's copies in
 * memory are thrown away. */
void nh_spool_rewind(struct nh_spool *s);

/* Writes appended records out, fdatasyncs as the policy says, and saves
 * the acknowledgements (at most every NH_SPOOL_ACK_EVERY_MS unless
 * `force`). Call it once per loop turn. Returns 0, or -1 with errno. */
int nh_spool_sync(struct nh_spool *s, bool force);

void nh_spool_stats(const struct nh_spool *s, struct nh_spool_stats *st);

/* Syncs (forced) and closes; NULL is fine. Returns what the sync returned. */
int nh_spool_close(struct nh_spool *s);

/* CRC-32C (Castagnoli), as the records use it. */
uint32_t nh_crc32c(uint32_t crc, const void *data, size_t len);

#endif
