/* SPDX-License-Identifier: MIT */
/*
 * One spool per destination. Events are spooled for the destination they
 * were captured for, in "<spool dir>/dest-<16 hex digits>/" (an FNV-1a
 * hash of its key: the url as configured, or a pool's urls sorted and
 * joined by ' ', config.h), beside a "destination" file naming it (the
 * urls with any password hidden). A run opens only the spool of the url it is
 * configured with, so an event spooled while one url was down is never
 * sent to another url after a restart with a changed configuration: it
 * waits in its own directory, is reported at start, and `nanohook spool`
 * lists, exports or drops it.
 *
 * Spools written before destinations were recorded (segments directly in
 * the spool directory) are of an unknown destination: id "legacy", held
 * the same way.
 */
#ifndef NH_SPOOL_DEST_H
#define NH_SPOOL_DEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nh_spool;

#define NH_SPOOL_DEST_ID_LEN 16
#define NH_SPOOL_LEGACY "legacy"

/* The id (16 hex digits and a NUL) of the spool for url. */
void nh_spool_dest_id(const char *url, char id[NH_SPOOL_DEST_ID_LEN + 1]);

/* "<spool_dir>/dest-<id>", created (0700) with its "destination" file if
 * missing: malloc'd, or NULL with a one-line reason in err. */
char *nh_spool_dest_open_dir(const char *spool_dir, const char *url, char *err, size_t errlen);

/* The directory of a destination id ("legacy": the spool dir itself),
 * malloc'd; NULL if id is neither. */
char *nh_spool_dest_dir(const char *spool_dir, const char *id);

/* The url a destination directory names (redacted) into out; a phrase
 * in parentheses if it names none. */
void nh_spool_dest_url(const char *dir, char *out, size_t cap);

/* A destination's spool, opened to read or remove what it holds (its
 * lock taken; no size limit; nothing synced): NULL with a reason in err. */
struct nh_spool *nh_spool_dest_open_spool(const char *dir, char *err, size_t errlen);

struct nh_spool_dest {
	char id[NH_SPOOL_DEST_ID_LEN + 1]; /* or "legacy" */
	char url[512];                     /* redacted; "(not recorded)" for legacy */
	uint64_t records, bytes;           /* waiting, not acknowledged */
};

/* Each destination with a spool under spool_dir, the legacy one only if
 * it holds records: fn(ctx, dest). Opens each spool (taking its lock:
 * a spool a running nanohook holds is reported with records = UINT64_MAX).
 * Returns how many were found, or -1 with a reason in err. */
int nh_spool_dest_each(const char *spool_dir,
		       void (*fn)(void *ctx, const struct nh_spool_dest *d), void *ctx,
		       char *err, size_t errlen);

#endif
