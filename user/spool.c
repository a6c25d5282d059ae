// SPDX-License-Identifier: MIT
/*
 * The disk spool. See spool.h for the format and the promises.
 *
 * A position is (segment id << 32) | byte offset in the segment, so that
 * positions compare in append order. The reader keeps, in read order, the
 * positions it handed out and not yet acknowledged ("ring"); the first of
 * them is the commit point. Positions acknowledged before the reader got
 * to them ("ahead": after a rewind, or from the ack file) are skipped when
 * it does.
 */
#include "clock.h"
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define SEG_MAGIC "NHSPOOL1"
#define SEG_VERSION 1u
#define SEG_HDR 16u
#define REC_HDR 8u   /* len, crc */
#define REC_META 32u /* seq, key, first_ms, attempts, events */
#define ACK_MAGIC "NHACK001"
#define ACK_NAME "ack"
#define ACK_TMP "ack.tmp"
#define ACK_MAX_DONE (1u << 20)
#define WBUF_FLUSH (256u << 10) /* write the buffer out at this size */
#define SEG_MIN (4ull << 10)
#define SEG_MAX (64ull << 20)

struct seg {
	uint32_t id;
	uint64_t size; /* bytes in the file (the write segment: written so far) */
};

struct ring_ent {
	uint64_t pos;
	bool done;
};

struct nh_spool {
	char *dir;
	int dfd; /* the directory, flock'ed */
	struct nh_spool_opts o;

	struct seg *segs; /* ascending ids */
	size_t n_segs, cap_segs;

	/* writer: the last segment, with appends buffered in wbuf */
	int w_fd;
	uint32_t w_id;
	unsigned char *wbuf;
	size_t wbuf_len, wbuf_cap;
	uint64_t wbuf_records;
	bool data_unsynced;
	int64_t synced_ms;

	/* reader */
	int r_fd;
	uint32_t r_fd_id;
	uint32_t r_id;
	uint64_t r_off;
	uint64_t max_read; /* 1 + the highest position ever read */

	/* acknowledgements */
	struct ring_ent *ring;
	size_t ring_head, ring_len, ring_cap;
	uint64_t *ahead; /* sorted */
	size_t n_ahead, cap_ahead;
	bool ack_dirty;
	int64_t ack_saved_ms;

	struct nh_spool_stats st;
};

/* ---- little helpers --------------------------------------------------------- */

static uint64_t mkpos(uint32_t id, uint64_t off)
{
	return ((uint64_t)id << 32) | (off & 0xffffffffull);
}

static uint32_t pos_id(uint64_t pos)
{
	return (uint32_t)(pos >> 32);
}

static uint64_t pos_off(uint64_t pos)
{
	return pos & 0xffffffffull;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

uint32_t nh_crc32c(uint32_t crc, const void *data, size_t len)
{
	/* Built on first use; the same every time, so a race would only
	 * build it twice. */
	static uint32_t table[256];
	static bool ready;
	const unsigned char *p = data;

	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
		ready = true;
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static int write_all(int fd, const void *data, size_t len, off_t off)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t w = pwrite(fd, p, len, off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		len -= (size_t)w;
		off += w;
	}
	return 0;
}

static int read_all(int fd, void *data, size_t len, off_t off)
{
	unsigned char *p = data;

	while (len > 0) {
		ssize_t r = pread(fd, p, len, off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO; /* shorter than it said */
			return -1;
		}
		p += r;
		len -= (size_t)r;
		off += r;
	}
	return 0;
}

static void seg_name(char *buf, size_t len, uint32_t id)
{
	snprintf(buf, len, "%016" PRIx32 ".seg", id);
}

/* "<16 hex>.seg" and nothing else. */
static bool parse_seg_name(const char *name, uint32_t *id)
{
	uint64_t v = 0;

	if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
		return false;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	if (v == 0 || v > 0xffffffffull)
		return false;
	*id = (uint32_t)v;
	return true;
}

static struct seg *seg_find(struct nh_spool *s, uint32_t id)
{
	size_t lo = 0, hi = s->n_segs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->segs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n_segs && s->segs[lo].id == id ? &s->segs[lo] : NULL;
}

/* The first segment with an id above `id`, or NULL. */
static struct seg *seg_after(struct nh_spool *s, uint32_t id)
{
	for (size_t i = 0; i < s->n_segs; i++)
		if (s->segs[i].id > id)
			return &s->segs[i];
	return NULL;
}

static int seg_push(struct nh_spool *s, uint32_t id, uint64_t size)
{
	if (s->n_segs == s->cap_segs) {
		size_t cap = s->cap_segs ? s->cap_segs * 2 : 16;
		struct seg *n = realloc(s->segs, cap * sizeof(*n));

		if (!n)
			return -1;
		s->segs = n;
		s->cap_segs = cap;
	}
	s->segs[s->n_segs++] = (struct seg){ .id = id, .size = size };
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	uint32_t x = ((const struct seg *)a)->id, y = ((const struct seg *)b)->id;

	return (x > y) - (x < y);
}

/* The readable end of a segment: for the write segment, buffered appends
 * count too (the reader writes them out before it reads them). */
static uint64_t seg_end(const struct nh_spool *s, const struct seg *g)
{
	return g->size + (s->w_fd >= 0 && g->id == s->w_id ? s->wbuf_len : 0);
}

/* ---- records in memory ---------------------------------------------------- */

/* Is there an intact record at `off` in b[0..len)? Its total size in *size. */
static bool record_at(const unsigned char *b, size_t len, size_t off, size_t *size)
{
	uint32_t rlen;

	if (off > len || len - off < REC_HDR)
		return false;
	rlen = get32(b + off);
	if (rlen < REC_META || rlen > REC_META + NH_SPOOL_RECORD_MAX ||
	    rlen > len - off - REC_HDR)
		return false;
	if (nh_crc32c(0, b + off + REC_HDR, rlen) != get32(b + off + 4))
		return false;
	*size = REC_HDR + rlen;
	return true;
}

/* The first intact record at or after `from`, or `len` if none. */
static size_t next_record(const unsigned char *b, size_t len, size_t from)
{
	size_t size;

	for (size_t off = from; off + REC_HDR <= len; off++)
		if (record_at(b, len, off, &size))
			return off;
	return len;
}

/* Reads b[from..] of segment file fd (total size `end`) into memory. */
static unsigned char *load(int fd, uint64_t from, uint64_t end, size_t *len)
{
	unsigned char *b;
	size_t n = (size_t)(end - from);

	b = malloc(n ? n : 1);
	if (!b)
		return NULL;
	if (n && read_all(fd, b, n, (off_t)from) < 0) {
		free(b);
		return NULL;
	}
	*len = n;
	return b;
}

/* ---- acknowledgements ------------------------------------------------------ */

static bool ahead_has(const struct nh_spool *s, uint64_t pos, size_t *at)
{
	size_t lo = 0, hi = s->n_ahead;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->ahead[mid] < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return lo < s->n_ahead && s->ahead[lo] == pos;
}

static int ahead_add(struct nh_spool *s, uint64_t pos)
{
	size_t at;

	if (ahead_has(s, pos, &at))
		return 0;
	if (s->n_ahead == s->cap_ahead) {
		size_t cap = s->cap_ahead ? s->cap_ahead * 2 : 64;
		uint64_t *n = realloc(s->ahead, cap * sizeof(*n));

		if (!n)
			return -1;
		s->ahead = n;
		s->cap_ahead = cap;
	}
	memmove(s->ahead + at + 1, s->ahead + at, (s->n_ahead - at) * sizeof(*s->ahead));
	s->ahead[at] = pos;
	s->n_ahead++;
	return 1;
}

static void ahead_del(struct nh_spool *s, size_t at)
{
	memmove(s->ahead + at, s->ahead + at + 1, (s->n_ahead - at - 1) * sizeof(*s->ahead));
	s->n_ahead--;
}

static struct ring_ent *ring_at(struct nh_spool *s, size_t i)
{
	return &s->ring[(s->ring_head + i) % s->ring_cap];
}

static int ring_push(struct nh_spool *s, uint64_t pos)
{
	if (s->ring_len == s->ring_cap) {
		size_t cap = s->ring_cap ? s->ring_cap * 2 : 256;
		struct ring_ent *n = malloc(cap * sizeof(*n));

		if (!n)
			return -1;
		for (size_t i = 0; i < s->ring_len; i++)
			n[i] = *ring_at(s, i);
		free(s->ring);
		s->ring = n;
		s->ring_cap = cap;
		s->ring_head = 0;
	}
	s->ring[(s->ring_head + s->ring_len) % s->ring_cap] = (struct ring_ent){ .pos = pos };
	s->ring_len++;
	return 0;
}

/* Where reading would go on: the position of the next record. */
static uint64_t read_pos(const struct nh_spool *s)
{
	return mkpos(s->r_id, s->r_off);
}

/* The oldest position not acknowledged. */
static uint64_t commit_pos(const struct nh_spool *s)
{
	return s->ring_len ? s->ring[s->ring_head].pos : read_pos(s);
}

static void unlink_seg(struct nh_spool *s, size_t idx)
{
	char name[32];

	seg_name(name, sizeof(name), s->segs[idx].id);
	if (unlinkat(s->dfd, name, 0) < 0 && errno != ENOENT)
		nh_warn("spool %s: cannot delete %s: %s", s->dir, name, strerror(errno));
	s->st.bytes -= s->segs[idx].size > s->st.bytes ? s->st.bytes : s->segs[idx].size;
	memmove(s->segs + idx, s->segs + idx + 1, (s->n_segs - idx - 1) * sizeof(*s->segs));
	s->n_segs--;
}

/* Deletes the segments wholly before the commit point (never the one
 * being written). */
static void drop_acked_segments(struct nh_spool *s)
{
	uint32_t cid = pos_id(commit_pos(s));

	while (s->n_segs > 0 && s->segs[0].id < cid &&
	       !(s->w_fd >= 0 && s->segs[0].id == s->w_id)) {
		if (s->r_fd >= 0 && s->r_fd_id == s->segs[0].id) {
			close(s->r_fd);
			s->r_fd = -1;
		}
		unlink_seg(s, 0);
	}
}

void nh_spool_ack(struct nh_spool *s, uint64_t pos)
{
	size_t lo = 0, hi = s->ring_len;
	bool newly = false;

	if (s->ring_len && pos >= s->ring[s->ring_head].pos && pos < read_pos(s)) {
		/* Read order is position order: binary search. */
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (ring_at(s, mid)->pos < pos)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < s->ring_len && ring_at(s, lo)->pos == pos && !ring_at(s, lo)->done) {
			ring_at(s, lo)->done = true;
			newly = true;
		}
	} else if (pos >= read_pos(s)) {
		newly = ahead_add(s, pos) == 1;
	}
	if (!newly)
		return;
	s->st.acked++;
	if (s->st.records)
		s->st.records--;
	s->ack_dirty = true;
	while (s->ring_len && s->ring[s->ring_head].done) {
		s->ring_head = (s->ring_head + 1) % s->ring_cap;
		s->ring_len--;
	}
	drop_acked_segments(s);
}

void nh_spool_rewind(struct nh_spool *s)
{
	uint64_t c = commit_pos(s);

	/* What was read and acknowledged stays acknowledged. */
	for (size_t i = 0; i < s->ring_len; i++)
		if (ring_at(s, i)->done && ahead_add(s, ring_at(s, i)->pos) < 0)
			nh_warn("spool %s: out of memory: a record may be sent twice", s->dir);
	s->ring_len = 0;
	s->ring_head = 0;
	s->r_id = pos_id(c);
	s->r_off = pos_off(c);
}

/* ---- the ack file ----------------------------------------------------------- */

static int save_acks(struct nh_spool *s)
{
	size_t n = 0, len, i;
	unsigned char *b, *p;
	int fd, rc = -1;

	for (i = 0; i < s->ring_len; i++)
		n += ring_at(s, i)->done;
	n += s->n_ahead;
	len = 8 + 8 + 4 + 4 + 8 * n + 4;
	b = malloc(len);
	if (!b)
		return -1;
	memcpy(b, ACK_MAGIC, 8);
	put64(b + 8, commit_pos(s));
	put32(b + 16, (uint32_t)n);
	put32(b + 20, 0);
	p = b + 24;
	for (i = 0; i < s->ring_len; i++)
		if (ring_at(s, i)->done) {
			put64(p, ring_at(s, i)->pos);
			p += 8;
		}
	for (i = 0; i < s->n_ahead; i++, p += 8)
		put64(p, s->ahead[i]);
	put32(p, nh_crc32c(0, b, (size_t)(p - b)));

	fd = openat(s->dfd, ACK_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		rc = write_all(fd, b, len, 0);
		if (rc == 0 && s->o.fsync != NH_FSYNC_NEVER)
			rc = fdatasync(fd);
		close(fd);
		if (rc == 0)
			rc = renameat(s->dfd, ACK_TMP, s->dfd, ACK_NAME);
	}
	free(b);
	if (rc == 0)
		s->ack_dirty = false;
	return rc;
}

/* Reads the ack file into *commit and the "ahead" set. A missing file is
 * a fresh spool; a damaged one is ignored (everything is read again:
 * duplicates, never losses). */
static void load_acks(struct nh_spool *s, uint64_t *commit)
{
	unsigned char *b = NULL;
	struct stat stb;
	uint32_t n;
	size_t len;
	int fd;

	*commit = 0;
	fd = openat(s->dfd, ACK_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &stb) < 0 || stb.st_size < 28 || stb.st_size > 28 + 8ll * ACK_MAX_DONE)
		goto bad;
	len = (size_t)stb.st_size;
	b = load(fd, 0, len, &len);
	if (!b || memcmp(b, ACK_MAGIC, 8) != 0)
		goto bad;
	n = get32(b + 16);
	if (n > ACK_MAX_DONE || len != 28 + 8ull * n ||
	    nh_crc32c(0, b, len - 4) != get32(b + len - 4))
		goto bad;
	*commit = get64(b + 8);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t pos = get64(b + 24 + 8ull * i);

		if (pos >= *commit && ahead_add(s, pos) < 0)
			goto bad;
	}
	free(b);
	close(fd);
	return;
bad:
	nh_warn("spool %s: the ack file is damaged; records may be sent again", s->dir);
	s->n_ahead = 0;
	*commit = 0;
	free(b);
	close(fd);
}

/* ---- opening ------------------------------------------------------------------ */

/* Checks every segment, cuts a torn tail off the last one, and counts
 * the records from `commit` on. */
static int scan_segments(struct nh_spool *s, uint64_t commit)
{
	for (size_t i = 0; i < s->n_segs; i++) {
		struct seg *g = &s->segs[i];
		bool last = i + 1 == s->n_segs;
		unsigned char hdr[SEG_HDR], *b;
		char name[32];
		size_t len, off, size;
		int fd;

		seg_name(name, sizeof(name), g->id);
		fd = openat(s->dfd, name, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -1;
		/* Larger than any segment nanohook writes: positions would
		 * not fit in 32 bits, and it is not ours anyway. */
		if (g->size < SEG_HDR || g->size > SEG_MAX + NH_SPOOL_RECORD_MAX + 1024 ||
		    read_all(fd, hdr, SEG_HDR, 0) < 0 ||
		    memcmp(hdr, SEG_MAGIC, 8) != 0 || get32(hdr + 8) != SEG_VERSION) {
			/* Not ours, or cut before its header was complete:
			 * nothing in it can be trusted to be a record. */
			char bad[40];

			close(fd);
			snprintf(bad, sizeof(bad), "%s.bad", name);
			nh_warn("spool %s: %s has no valid header; renamed to %s", s->dir, name, bad);
			s->st.corrupt++;
			s->st.corrupt_bytes += g->size;
			renameat(s->dfd, name, s->dfd, bad);
			memmove(g, g + 1, (s->n_segs - i - 1) * sizeof(*g));
			s->n_segs--;
			i--;
			continue;
		}
		b = load(fd, 0, g->size, &len);
		if (!b) {
			close(fd);
			return -1;
		}
		off = SEG_HDR;
		while (off < len) {
			if (record_at(b, len, off, &size)) {
				if (mkpos(g->id, off) >= commit)
					s->st.records++;
				off += size;
				continue;
			}
			size = next_record(b, len, off + 1);
			if (size == len && last) {
				/* A torn last append: nothing intact after it. */
				if (ftruncate(fd, (off_t)off) == 0) {
					nh_warn("spool %s: cut %zu bytes of an unfinished record off %s",
						s->dir, len - off, name);
					g->size = off;
				}
				break;
			}
			off = size; /* the reader will skip and count it */
		}
		free(b);
		close(fd);
	}
	/* Records acknowledged ahead of the commit point are not pending. */
	s->st.records -= s->n_ahead < s->st.records ? s->n_ahead : s->st.records;
	return 0;
}

static int list_segments(struct nh_spool *s)
{
	DIR *d;
	struct dirent *e;
	int fd = dup(s->dfd);

	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		struct stat stb;
		uint32_t id;

		if (!parse_seg_name(e->d_name, &id))
			continue;
		if (fstatat(s->dfd, e->d_name, &stb, 0) < 0 || !S_ISREG(stb.st_mode))
			continue;
		if (seg_push(s, id, (uint64_t)stb.st_size) < 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	if (s->n_segs > 1)
		qsort(s->segs, s->n_segs, sizeof(*s->segs), cmp_seg);
	return 0;
}

static int mkdir_p(const char *path)
{
	char *p = strdup(path), *q;
	int rc = 0;

	if (!p)
		return -1;
	for (q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = -1;
		*q = '/';
	}
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		rc = -1;
	else
		rc = 0;
	free(p);
	return rc;
}

struct nh_spool *nh_spool_open(const struct nh_spool_opts *o, char *err, size_t errlen)
{
	struct nh_spool *s;
	uint64_t commit;
	struct seg *g;

	if (!o->dir || !o->dir[0]) {
		snprintf(err, errlen, "spool: no directory");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->dfd = s->w_fd = s->r_fd = -1;
	s->o = *o;
	s->o.dir = NULL;
	if (!s->o.segment_bytes)
		s->o.segment_bytes = o->max_bytes / 8;
	if (s->o.segment_bytes < SEG_MIN)
		s->o.segment_bytes = SEG_MIN;
	if (s->o.segment_bytes > SEG_MAX)
		s->o.segment_bytes = SEG_MAX;
	s->dir = strdup(o->dir);
	if (!s->dir) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (mkdir_p(o->dir) < 0) {
		snprintf(err, errlen, "spool %s: cannot create it: %s", o->dir, strerror(errno));
		goto fail;
	}
	s->dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0) {
		snprintf(err, errlen, "spool %s: %s", o->dir, strerror(errno));
		goto fail;
	}
	if (flock(s->dfd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, errlen, errno == EWOULDBLOCK
			 ? "spool %s: in use by another nanohook (give each its own spool.dir or --spool-dir)"
			 : "spool %s: cannot lock it: %s", o->dir, strerror(errno));
		goto fail;
	}
	if (list_segments(s) < 0) {
		snprintf(err, errlen, "spool %s: cannot list it: %s", o->dir, strerror(errno));
		goto fail;
	}
	load_acks(s, &commit);
	if (s->n_segs == 0 || pos_id(commit) > s->segs[s->n_segs - 1].id) {
		if (s->n_segs)
			nh_warn("spool %s: the ack file names a segment that does not exist; reading everything",
				s->dir);
		/* Segment ids start over: an old ack file must not cover them. */
		commit = 0;
		s->n_ahead = 0;
		unlinkat(s->dfd, ACK_NAME, 0);
	}
	if (scan_segments(s, commit) < 0) {
		snprintf(err, errlen, "spool %s: cannot read it: %s", o->dir, strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < s->n_segs; i++)
		s->st.bytes += s->segs[i].size;

	/* The reader starts at the commit point, or at the first segment. */
	g = s->n_segs ? seg_find(s, pos_id(commit)) : NULL;
	if (g) {
		s->r_id = g->id;
		s->r_off = pos_off(commit) < SEG_HDR ? SEG_HDR : pos_off(commit);
		if (s->r_off > g->size)
			s->r_off = g->size;
	} else if (s->n_segs) {
		s->r_id = s->segs[0].id;
		s->r_off = SEG_HDR;
	} else {
		s->r_id = 1;
		s->r_off = SEG_HDR;
	}
	/* Positions acknowledged before the reader are history; ones past the
	 * end never made it to disk (a crash before the write), and must not
	 * cover the appends that will take their place. */
	while (s->n_ahead && s->ahead[0] < read_pos(s))
		ahead_del(s, 0);
	if (s->n_segs) {
		const struct seg *last = &s->segs[s->n_segs - 1];

		while (s->n_ahead && s->ahead[s->n_ahead - 1] >= mkpos(last->id, last->size))
			s->n_ahead--;
	}
	drop_acked_segments(s);
	s->synced_ms = s->ack_saved_ms = nh_mono_ms();
	return s;
fail:
	nh_spool_close(s);
	return NULL;
}

/* ---- writing ----------------------------------------------------------------- */

/* Writes the buffered appends to the write segment. On failure the file
 * is cut back to where it was and the appends stay buffered. */
static int flush_wbuf(struct nh_spool *s)
{
	struct seg *g;

	if (s->wbuf_len == 0 || s->w_fd < 0)
		return 0;
	g = seg_find(s, s->w_id);
	if (!g) {
		errno = EIO;
		return -1;
	}
	if (write_all(s->w_fd, s->wbuf, s->wbuf_len, (off_t)g->size) < 0) {
		int e = errno;

		if (ftruncate(s->w_fd, (off_t)g->size) < 0) {
			/* Left as it is: the next open cuts the torn tail. */
		}
		errno = e;
		return -1;
	}
	g->size += s->wbuf_len;
	s->wbuf_len = 0;
	s->wbuf_records = 0;
	s->data_unsynced = true;
	return 0;
}

static int close_write_segment(struct nh_spool *s)
{
	if (s->w_fd < 0)
		return 0;
	if (flush_wbuf(s) < 0)
		return -1;
	if (s->o.fsync != NH_FSYNC_NEVER && s->data_unsynced)
		fdatasync(s->w_fd);
	close(s->w_fd);
	s->w_fd = -1;
	return 0;
}

static int open_write_segment(struct nh_spool *s)
{
	unsigned char hdr[SEG_HDR];
	uint32_t id = s->n_segs ? s->segs[s->n_segs - 1].id + 1 : (s->r_id ? s->r_id : 1);
	char name[32];
	int fd;

	if (id == 0) { /* 2^32 segments: wrapped */
		errno = EOVERFLOW;
		return -1;
	}
	seg_name(name, sizeof(name), id);
	fd = openat(s->dfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	memcpy(hdr, SEG_MAGIC, 8);
	put32(hdr + 8, SEG_VERSION);
	put32(hdr + 12, 0);
	if (write_all(fd, hdr, SEG_HDR, 0) < 0 || seg_push(s, id, SEG_HDR) < 0) {
		int e = errno;

		close(fd);
		unlinkat(s->dfd, name, 0);
		errno = e;
		return -1;
	}
	if (s->o.fsync != NH_FSYNC_NEVER)
		fsync(s->dfd);
	s->w_fd = fd;
	s->w_id = id;
	s->st.bytes += SEG_HDR;
	/* A fresh spool: the reader waits at the start of the first segment. */
	if (s->n_segs == 1 && s->ring_len == 0 && s->r_id != id) {
		s->r_id = id;
		s->r_off = SEG_HDR;
	}
	return 0;
}

/* The last segment takes appends if it has room; else a new one. */
static int ensure_write_segment(struct nh_spool *s, size_t rec)
{
	struct seg *last = s->n_segs ? &s->segs[s->n_segs - 1] : NULL;

	if (s->w_fd >= 0) {
		uint64_t used = seg_end(s, last);

		if (used <= SEG_HDR || used + rec <= s->o.segment_bytes)
			return 0;
		if (close_write_segment(s) < 0)
			return -1;
		return open_write_segment(s);
	}
	if (last && last->size + rec <= s->o.segment_bytes) {
		char name[32];
		int fd;

		seg_name(name, sizeof(name), last->id);
		fd = openat(s->dfd, name, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			s->w_fd = fd;
			s->w_id = last->id;
			return 0;
		}
	}
	return open_write_segment(s);
}

int nh_spool_append(struct nh_spool *s, const struct nh_spool_meta *m, const void *body,
		    size_t len, uint64_t *pos)
{
	size_t rec = REC_HDR + REC_META + len;
	unsigned char *p;
	struct seg *g;

	if (len > NH_SPOOL_RECORD_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	/* A new segment's header counts too. */
	if (s->st.bytes + rec + SEG_HDR > s->o.max_bytes) {
		s->st.full++;
		errno = ENOSPC;
		return -1;
	}
	if (ensure_write_segment(s, rec) < 0)
		return -1;
	if (s->wbuf_len + rec > s->wbuf_cap) {
		size_t cap = s->wbuf_cap ? s->wbuf_cap : 64 << 10;
		unsigned char *n;

		while (cap < s->wbuf_len + rec)
			cap *= 2;
		n = realloc(s->wbuf, cap);
		if (!n)
			return -1;
		s->wbuf = n;
		s->wbuf_cap = cap;
	}
	g = seg_find(s, s->w_id);
	p = s->wbuf + s->wbuf_len;
	put32(p, (uint32_t)(REC_META + len));
	put64(p + 8, m->seq);
	put64(p + 16, m->key);
	put64(p + 24, m->first_ms);
	put32(p + 32, m->attempts);
	put32(p + 36, m->events);
	if (len)
		memcpy(p + 40, body, len);
	put32(p + 4, nh_crc32c(0, p + REC_HDR, REC_META + len));
	if (pos)
		*pos = mkpos(s->w_id, g->size + s->wbuf_len);
	s->wbuf_len += rec;
	s->wbuf_records++;

	if (s->o.fsync == NH_FSYNC_ALWAYS || s->wbuf_len >= WBUF_FLUSH) {
		if (flush_wbuf(s) < 0 ||
		    (s->o.fsync == NH_FSYNC_ALWAYS && fdatasync(s->w_fd) < 0)) {
			int e = errno;

			if (s->o.fsync == NH_FSYNC_ALWAYS) {
				/* Not on disk: the caller keeps the event. */
				s->wbuf_len -= rec;
				s->wbuf_records--;
				errno = e;
				return -1;
			}
			/* Kept buffered; the next sync tries again. */
		}
		if (s->o.fsync == NH_FSYNC_ALWAYS)
			s->data_unsynced = false;
	}
	s->st.bytes += rec;
	s->st.records++;
	s->st.appended++;
	return 0;
}

int nh_spool_sync(struct nh_spool *s, bool force)
{
	int64_t now = nh_mono_ms();
	int rc = 0;

	if (flush_wbuf(s) < 0)
		rc = -1;
	if (s->data_unsynced && s->w_fd >= 0 && s->o.fsync != NH_FSYNC_NEVER &&
	    (force || s->o.fsync == NH_FSYNC_ALWAYS || now - s->synced_ms >= NH_SPOOL_SYNC_EVERY_MS)) {
		if (fdatasync(s->w_fd) < 0)
			rc = -1;
		else
			s->data_unsynced = false;
		s->synced_ms = now;
	}
	if (s->ack_dirty && (force || now - s->ack_saved_ms >= NH_SPOOL_ACK_EVERY_MS)) {
		if (save_acks(s) < 0)
			rc = -1;
		s->ack_saved_ms = now;
	}
	return rc;
}

/* ---- reading ------------------------------------------------------------------ */

static int open_reader(struct nh_spool *s)
{
	char name[32];

	if (s->r_fd >= 0 && s->r_fd_id == s->r_id)
		return 0;
	if (s->r_fd >= 0)
		close(s->r_fd);
	seg_name(name, sizeof(name), s->r_id);
	s->r_fd = openat(s->dfd, name, O_RDONLY | O_CLOEXEC);
	if (s->r_fd < 0)
		return -1;
	s->r_fd_id = s->r_id;
	return 0;
}

/* Skips a damaged stretch starting at r_off: on to the next intact
 * record in this segment, or its end. */
static int skip_damage(struct nh_spool *s, uint64_t end)
{
	unsigned char *b;
	size_t len, next;

	b = load(s->r_fd, s->r_off, end, &len);
	if (!b)
		return -1;
	next = next_record(b, len, 1);
	free(b);
	/* Counted once per stretch, and only the first time it is met. */
	if (mkpos(s->r_id, s->r_off) >= s->max_read) {
		s->st.corrupt++;
		s->st.corrupt_bytes += next;
		nh_warn("spool %s: skipped %zu damaged bytes in segment %" PRIx32 " at offset %" PRIu64,
			s->dir, next, s->r_id, s->r_off);
		s->max_read = mkpos(s->r_id, s->r_off + next);
	}
	s->r_off += next;
	return 0;
}

bool nh_spool_has_unread(const struct nh_spool *s)
{
	const struct seg *g = NULL;

	for (size_t i = 0; i < s->n_segs; i++) {
		g = &s->segs[i];
		if (g->id < s->r_id)
			continue;
		if (g->id == s->r_id ? s->r_off < seg_end(s, g) : seg_end(s, g) > SEG_HDR)
			return true;
	}
	return false;
}

int nh_spool_read(struct nh_spool *s, struct nh_spool_meta *m, char **body, size_t *len,
		  uint64_t *pos)
{
	for (;;) {
		struct seg *g = seg_find(s, s->r_id);
		unsigned char hdr[REC_HDR + REC_META];
		uint64_t end, p;
		uint32_t rlen;
		size_t at;
		char *b;

		if (!g || s->r_off >= seg_end(s, g)) {
			struct seg *next = seg_after(s, s->r_id);

			if (!next)
				return 0;
			s->r_id = next->id;
			s->r_off = SEG_HDR;
			continue;
		}
		if (g->id == s->w_id && s->w_fd >= 0 && s->r_off >= g->size && flush_wbuf(s) < 0)
			return -1;
		end = g->size;
		if (open_reader(s) < 0)
			return -1;
		if (end - s->r_off < sizeof(hdr)) {
			if (skip_damage(s, end) < 0)
				return -1;
			continue;
		}
		if (read_all(s->r_fd, hdr, sizeof(hdr), (off_t)s->r_off) < 0)
			return -1;
		rlen = get32(hdr);
		if (rlen < REC_META || rlen > REC_META + NH_SPOOL_RECORD_MAX ||
		    rlen > end - s->r_off - REC_HDR) {
			if (skip_damage(s, end) < 0)
				return -1;
			continue;
		}
		b = malloc(rlen - REC_META + 1);
		if (!b)
			return -1;
		if (read_all(s->r_fd, b, rlen - REC_META, (off_t)(s->r_off + sizeof(hdr))) < 0) {
			free(b);
			return -1;
		}
		if (nh_crc32c(nh_crc32c(0, hdr + REC_HDR, REC_META), b, rlen - REC_META) !=
		    get32(hdr + 4)) {
			free(b);
			if (skip_damage(s, end) < 0)
				return -1;
			continue;
		}
		p = mkpos(s->r_id, s->r_off);
		s->r_off += REC_HDR + rlen;
		if (ahead_has(s, p, &at)) {
			/* Acknowledged before it was read: done with. But while
			 * an older record is still out (the ring is not empty),
			 * a rewind goes back to before this one, so its ack
			 * must outlive this skip: it moves into the ring as a
			 * done entry, which nh_spool_rewind() carries back
			 * into "ahead". Forgetting it here would send an
			 * event already delivered again after the next
			 * rewind. (Out of memory: it simply stays in "ahead".) */
			if (s->ring_len == 0 || ring_push(s, p) == 0) {
				if (s->ring_len)
					ring_at(s, s->ring_len - 1)->done = true;
				ahead_del(s, at);
			}
			free(b);
			if (p >= s->max_read)
				s->max_read = p + 1;
			continue;
		}
		if (ring_push(s, p) < 0) {
			free(b);
			s->r_off -= REC_HDR + rlen;
			return -1;
		}
		if (p >= s->max_read) {
			s->st.read_new++;
			s->max_read = p + 1;
		}
		b[rlen - REC_META] = '\0';
		m->seq = get64(hdr + 8);
		m->key = get64(hdr + 16);
		m->first_ms = get64(hdr + 24);
		m->attempts = get32(hdr + 32);
		m->events = get32(hdr + 36);
		*body = b;
		*len = rlen - REC_META;
		*pos = p;
		return 1;
	}
}

void nh_spool_stats(const struct nh_spool *s, struct nh_spool_stats *st)
{
	*st = s->st;
	st->unwritten = s->wbuf_records;
}

int nh_spool_close(struct nh_spool *s)
{
	int rc = 0;

	if (!s)
		return 0;
	if (s->dfd >= 0) {
		rc = nh_spool_sync(s, true);
		if (close_write_segment(s) < 0)
			rc = -1;
	}
	if (s->r_fd >= 0)
		close(s->r_fd);
	if (s->w_fd >= 0)
		close(s->w_fd);
	if (s->dfd >= 0)
		close(s->dfd); /* and the lock with it */
	free(s->segs);
	free(s->wbuf);
	free(s->ring);
	free(s->ahead);
	free(s->dir);
	free(s);
	return rc;
}
