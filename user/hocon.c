/* SPDX-License-Identifier: MIT */
/*
 * A recursive-descent HOCON reader (see hocon.h for the accepted subset).
 * Recursion is bounded by NH_HOCON_MAX_DEPTH, so hostile input cannot
 * exhaust the stack; the first error stops the parse and is the only one
 * reported.
 */
#include "hocon.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct parser {
	const char *name;
	const char *p;          /* cursor */
	const char *end;
	const char *line_start; /* for columns */
	int line;
	int depth;              /* tree depth of the container being filled, root 0 */
	FILE *warn;
	char *err;
	size_t errlen;
	bool failed;
};

struct strbuf {
	char *s;
	size_t len, cap;
};

static int col_of(const struct parser *ps, const char *at)
{
	return (int)(at - ps->line_start) + 1;
}

static int fail_at(struct parser *ps, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail_at(struct parser *ps, int line, int col, const char *fmt, ...)
{
	if (ps->failed)
		return -1;
	ps->failed = true;
	if (ps->err && ps->errlen) {
		int n = snprintf(ps->err, ps->errlen, "%s:%d:%d: ", ps->name,
				 line, col);
		if (n >= 0 && (size_t)n < ps->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -1;
}

#define FAIL_HERE(ps, ...) fail_at((ps), (ps)->line, col_of((ps), (ps)->p), __VA_ARGS__)

static int oom(struct parser *ps)
{
	return FAIL_HERE(ps, "out of memory");
}

/* A printable description of the byte at the cursor for messages. */
static const char *describe(const struct parser *ps, char *buf, size_t n)
{
	unsigned char c;

	if (ps->p >= ps->end)
		return "end of file";
	c = (unsigned char)*ps->p;
	if (c == '\n' || c == '\r')
		return "end of line";
	if (c == ' ' || c == '\t')
		return "a blank";
	if (c >= 0x21 && c < 0x7f)
		snprintf(buf, n, "'%c'", c);
	else
		snprintf(buf, n, "byte 0x%02x", c);
	return buf;
}

static int sb_put(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 32;
		char *ns;

		while (cap < sb->len + n + 1)
			cap *= 2;
		ns = realloc(sb->s, cap);
		if (!ns)
			return -1;
		sb->s = ns;
		sb->cap = cap;
	}
	memcpy(sb->s + sb->len, s, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
	return 0;
}

/* ---- nodes ---------------------------------------------------------- */

static struct nh_hocon_node *node_new(enum nh_hocon_type type, int line,
				      int col)
{
	struct nh_hocon_node *n = calloc(1, sizeof(*n));

	if (n) {
		n->type = type;
		n->line = line;
		n->col = col;
	}
	return n;
}

static void node_free(struct nh_hocon_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_kids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->key);
	free(n->str);
	free(n);
}

static int node_add(struct nh_hocon_node *parent, struct nh_hocon_node *kid)
{
	if (parent->n_kids == parent->cap_kids) {
		size_t cap = parent->cap_kids ? parent->cap_kids * 2 : 4;
		struct nh_hocon_node **nk;

		nk = realloc(parent->kids, cap * sizeof(*nk));
		if (!nk)
			return -1;
		parent->kids = nk;
		parent->cap_kids = cap;
	}
	parent->kids[parent->n_kids++] = kid;
	return 0;
}

static struct nh_hocon_node **find_slot(struct nh_hocon_node *obj,
					const char *key)
{
	/* Newest first: repeated keys are usually written close together. */
	for (size_t i = obj->n_kids; i-- > 0;)
		if (strcmp(obj->kids[i]->key, key) == 0)
			return &obj->kids[i];
	return NULL;
}

/* HOCON: an object merges into an earlier object with the same key,
 * anything else replaces the earlier value in its place. Takes `src`. */
static int merge_into(struct nh_hocon_node *dst, struct nh_hocon_node *src)
{
	for (size_t i = 0; i < src->n_kids; i++) {
		struct nh_hocon_node *kid = src->kids[i];
		struct nh_hocon_node **slot = find_slot(dst, kid->key);

		src->kids[i] = NULL;
		if (!slot) {
			if (node_add(dst, kid) < 0) {
				node_free(kid);
				goto fail;
			}
		} else if ((*slot)->type == NH_HOCON_OBJECT &&
			   kid->type == NH_HOCON_OBJECT) {
			if (merge_into(*slot, kid) < 0)
				goto fail;
		} else {
			node_free(*slot);
			*slot = kid;
		}
	}
	node_free(src);
	return 0;
fail:
	node_free(src);
	return -1;
}

/* ---- lexing helpers -------------------------------------------------- */

static bool at_eof(const struct parser *ps)
{
	return ps->p >= ps->end;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool is_key_char(char c)
{
	unsigned char u = (unsigned char)c;

	return isalnum(u) || c == '_' || c == '-' || u >= 0x80;
}

static bool at_comment(const struct parser *ps)
{
	if (at_eof(ps))
		return false;
	if (*ps->p == '#')
		return true;
	return *ps->p == '/' && ps->p + 1 < ps->end && ps->p[1] == '/';
}

/* Blanks and a trailing comment, not the newline. */
static void skip_inline(struct parser *ps)
{
	while (!at_eof(ps) && is_blank(*ps->p))
		ps->p++;
	if (at_comment(ps))
		while (!at_eof(ps) && *ps->p != '\n')
			ps->p++;
}

static void newline(struct parser *ps)
{
	ps->p++;
	ps->line++;
	ps->line_start = ps->p;
}

/* Blanks, comments and newlines. */
static void skip_space(struct parser *ps)
{
	for (;;) {
		skip_inline(ps);
		if (at_eof(ps) || *ps->p != '\n')
			return;
		newline(ps);
	}
}

/* ---- strings ---------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int read_hex4(struct parser *ps, unsigned *out)
{
	unsigned v = 0;

	if (ps->end - ps->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(ps->p[i]);
		if (h < 0)
			return -1;
		v = v << 4 | (unsigned)h;
	}
	ps->p += 4;
	*out = v;
	return 0;
}

static int put_utf8(struct strbuf *sb, unsigned cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | cp >> 18);
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return sb_put(sb, b, n);
}

/* \uXXXX, the cursor on the 'u'; joins UTF-16 surrogate pairs. */
static int read_unicode_escape(struct parser *ps, struct strbuf *sb,
			       const char *esc)
{
	unsigned cp, lo;
	int col = col_of(ps, esc);

	ps->p++;
	if (read_hex4(ps, &cp) < 0)
		return fail_at(ps, ps->line, col, "\\u needs four hex digits");
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return fail_at(ps, ps->line, col, "lone low surrogate \\u%04X", cp);
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
			return fail_at(ps, ps->line, col,
				       "high surrogate \\u%04X without its low half", cp);
		ps->p += 2;
		if (read_hex4(ps, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
			return fail_at(ps, ps->line, col,
				       "high surrogate \\u%04X without its low half", cp);
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	if (cp == 0)
		return fail_at(ps, ps->line, col, "\\u0000 is not allowed");
	return put_utf8(sb, cp) < 0 ? oom(ps) : 0;
}

/* "..." on one line, the cursor on the opening quote. */
static int read_quoted(struct parser *ps, struct strbuf *sb)
{
	int line = ps->line, col = col_of(ps, ps->p);

	ps->p++;
	for (;;) {
		const char *run = ps->p;

		while (!at_eof(ps) && *ps->p != '"' && *ps->p != '\\' &&
		       ((unsigned char)*ps->p >= 0x20 || *ps->p == '\t'))
			ps->p++;
		if (ps->p > run && sb_put(sb, run, (size_t)(ps->p - run)) < 0)
			return oom(ps);
		if (at_eof(ps) || *ps->p == '\n')
			return fail_at(ps, line, col, "unterminated string");
		if (*ps->p == '"') {
			ps->p++;
			break;
		}
		if (*ps->p != '\\')
			return FAIL_HERE(ps, "control character 0x%02x in string",
					 (unsigned char)*ps->p);

		const char *esc = ps->p;
		char out;

		ps->p++;
		if (at_eof(ps))
			return fail_at(ps, line, col, "unterminated string");
		switch (*ps->p) {
		case '"': out = '"'; break;
		case '\\': out = '\\'; break;
		case '/': out = '/'; break;
		case 'b': out = '\b'; break;
		case 'f': out = '\f'; break;
		case 'n': out = '\n'; break;
		case 'r': out = '\r'; break;
		case 't': out = '\t'; break;
		case 'u':
			if (read_unicode_escape(ps, sb, esc) < 0)
				return -1;
			continue;
		default:
			return fail_at(ps, ps->line, col_of(ps, esc),
				       "invalid escape '\\%c' in string",
				       isprint((unsigned char)*ps->p) ? *ps->p : '?');
		}
		ps->p++;
		if (sb_put(sb, &out, 1) < 0)
			return oom(ps);
	}
	if (!sb->s && sb_put(sb, "", 0) < 0)
		return oom(ps);
	return 0;
}

/* """...""" raw, may span lines; quotes right before the closing three
 * belong to the string, as in HOCON. */
static int read_triple(struct parser *ps, struct strbuf *sb)
{
	int line = ps->line, col = col_of(ps, ps->p);
	const char *start;

	ps->p += 3;
	start = ps->p;
	for (;;) {
		if (at_eof(ps))
			return fail_at(ps, line, col, "unterminated \"\"\" string");
		if (*ps->p == '\n') {
			newline(ps);
			continue;
		}
		if (ps->end - ps->p >= 3 && memcmp(ps->p, "\"\"\"", 3) == 0) {
			while (ps->end - ps->p > 3 && ps->p[3] == '"')
				ps->p++;
			break;
		}
		ps->p++;
	}
	if (sb_put(sb, start, (size_t)(ps->p - start)) < 0)
		return oom(ps);
	ps->p += 3;
	return 0;
}

/* ---- keys ------------------------------------------------------------- */

struct key_path {
	char *elem[NH_HOCON_MAX_DEPTH];
	int line[NH_HOCON_MAX_DEPTH];
	int col[NH_HOCON_MAX_DEPTH];
	int n;
};

static void key_path_free(struct key_path *kp)
{
	for (int i = 0; i < kp->n; i++)
		free(kp->elem[i]);
	kp->n = 0;
}

/* a.b."c.d" -- no blanks inside. */
static int read_key_path(struct parser *ps, struct key_path *kp)
{
	char what[16];

	kp->n = 0;
	for (;;) {
		struct strbuf sb = { 0 };
		int line = ps->line, col = col_of(ps, ps->p);

		if (ps->depth + kp->n + 1 > NH_HOCON_MAX_DEPTH)
			return FAIL_HERE(ps, "nesting deeper than %d levels",
					 NH_HOCON_MAX_DEPTH);
		if (!at_eof(ps) && *ps->p == '"') {
			if (read_quoted(ps, &sb) < 0) {
				free(sb.s);
				return -1;
			}
		} else {
			const char *s = ps->p;

			while (!at_eof(ps) && is_key_char(*ps->p))
				ps->p++;
			if (ps->p == s) {
				if (!at_eof(ps) && *ps->p == '.')
					return FAIL_HERE(ps, "empty key element before '.'");
				return FAIL_HERE(ps, "expected a key, got %s",
						 describe(ps, what, sizeof(what)));
			}
			if (sb_put(&sb, s, (size_t)(ps->p - s)) < 0)
				return oom(ps);
		}
		kp->elem[kp->n] = sb.s;
		kp->line[kp->n] = line;
		kp->col[kp->n] = col;
		kp->n++;
		if (at_eof(ps) || *ps->p != '.')
			return 0;
		ps->p++;
	}
}

/* ---- values ------------------------------------------------------------ */

static int parse_value(struct parser *ps, bool in_array,
		       struct nh_hocon_node **out);
static int parse_members(struct parser *ps, struct nh_hocon_node *obj,
			 int open_line, int open_col);

/* Would a field (`key =`, `key:`, `key {`) start at `q`? Lets a field
 * follow a value on the same line without a separator, as NanoMQ allows. */
static bool field_starts_at(const struct parser *ps, const char *q)
{
	const char *end = ps->end;

	if (q < end && *q == '"') {
		q++;
		while (q < end && *q != '"' && *q != '\n') {
			if (*q == '\\' && q + 1 < end)
				q++;
			q++;
		}
		if (q >= end || *q != '"')
			return false;
		q++;
	} else {
		const char *s = q;

		while (q < end && (is_key_char(*q) || *q == '.'))
			q++;
		if (q == s)
			return false;
	}
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if (q >= end)
		return false;
	if (*q == '=' || *q == '{')
		return true;
	if (*q == '+')
		return q + 1 < end && q[1] == '=';
	if (*q == ':')
		return q + 1 >= end || q[1] == ' ' || q[1] == '\t' ||
		       q[1] == '"' || q[1] == '{' || q[1] == '[';
	return false;
}

static int fail_field_in_array(struct parser *ps, const char *key, int line,
			       int col)
{
	return fail_at(ps, line, col,
		       "'%s = ...' directly inside [ ]: write each element's fields as an object, e.g. [ { %s = ... } ]",
		       key, key);
}

static struct nh_hocon_node *scalar_from_unquoted(const char *s, size_t n,
						  int line, int col)
{
	enum nh_hocon_type type = NH_HOCON_STRING;
	struct nh_hocon_node *node;
	size_t i = 0;

	if (n == 4 && memcmp(s, "true", 4) == 0)
		type = NH_HOCON_BOOL;
	else if (n == 5 && memcmp(s, "false", 5) == 0)
		type = NH_HOCON_BOOL;
	else if (n == 4 && memcmp(s, "null", 4) == 0)
		type = NH_HOCON_NULL;
	else {
		/* -?digits[.digits][(e|E)[+-]digits] */
		if (i < n && s[i] == '-')
			i++;
		size_t d = i;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		bool ok = i > d;
		if (ok && i < n && s[i] == '.') {
			size_t f = ++i;
			while (i < n && isdigit((unsigned char)s[i]))
				i++;
			ok = i > f;
		}
		if (ok && i < n && (s[i] == 'e' || s[i] == 'E')) {
			i++;
			if (i < n && (s[i] == '+' || s[i] == '-'))
				i++;
			size_t e = i;
			while (i < n && isdigit((unsigned char)s[i]))
				i++;
			ok = i > e;
		}
		if (ok && i == n)
			type = NH_HOCON_NUMBER;
	}

	node = node_new(type, line, col);
	if (!node)
		return NULL;
	node->str = malloc(n + 1);
	if (!node->str) {
		free(node);
		return NULL;
	}
	memcpy(node->str, s, n);
	node->str[n] = '\0';
	node->len = n;
	return node;
}

/* An unquoted value: up to end of line, comment, `,`, `}`, `]`, trimmed,
 * or up to a field that starts later on the same line. */
static int parse_unquoted(struct parser *ps, bool in_array,
			  struct nh_hocon_node **out)
{
	const char *start = ps->p, *last = ps->p;
	int line = ps->line, col = col_of(ps, ps->p);
	char what[16];

	while (!at_eof(ps)) {
		char c = *ps->p;

		if (c == '\n' || c == '"' || c == '{' || c == '}' || c == '[' ||
		    c == ']' || c == ',' || c == '=' || c == '#')
			break;
		if (c == ':' && ps->p == start)
			break;
		if (c == '/' && ps->p + 1 < ps->end && ps->p[1] == '/' &&
		    (ps->p == start || is_blank(ps->p[-1])))
			break;
		if (c == '$' && ps->p + 1 < ps->end && ps->p[1] == '{')
			return FAIL_HERE(ps, "substitutions (${...}) are not supported");
		if (c == '+' && ps->p + 1 < ps->end && ps->p[1] == '=')
			return FAIL_HERE(ps, "'+=' is not supported");
		if (c == '\0')
			return FAIL_HERE(ps, "NUL byte");
		if (is_blank(c)) {
			const char *q = ps->p;

			while (q < ps->end && is_blank(*q))
				q++;
			if (field_starts_at(ps, q)) {
				if (in_array) {
					const char *k = q;
					while (k < ps->end && (is_key_char(*k) || *k == '.' || *k == '"'))
						k++;
					char key[64];
					snprintf(key, sizeof(key), "%.*s",
						 (int)(k - q), q);
					return fail_field_in_array(ps, key, ps->line,
								   col_of(ps, q));
				}
				ps->p = q;
				break;
			}
			ps->p = q;
			continue;
		}
		ps->p++;
		last = ps->p;
	}

	if (last == start)
		return FAIL_HERE(ps, "expected a value, got %s",
				 describe(ps, what, sizeof(what)));
	if (in_array) {
		/* `[ event = "x" ]`, `[ event: "x" ]`: fields without braces */
		size_t n = (size_t)(last - start);
		bool colon = last[-1] == ':' && ps->p != last;

		if (colon || (!at_eof(ps) && (*ps->p == '=' || *ps->p == '{'))) {
			char key[64];

			snprintf(key, sizeof(key), "%.*s",
				 (int)(colon ? n - 1 : n), start);
			return fail_field_in_array(ps, key, line, col);
		}
	}
	if (ps->p == last && !at_eof(ps)) {
		char c = *ps->p;

		if (c == '#') {
			/* Likely `topic = a/#`: suggest the quoted form. */
			const char *r = ps->p;

			while (r < ps->end && !is_blank(*r) && *r != '\n' &&
			       *r != ',' && *r != '}' && *r != ']')
				r++;
			return FAIL_HERE(ps, "'#' starts a comment, cutting the value short: quote it (\"%.*s\")",
					 (int)(r - start) > 60 ? 60 : (int)(r - start), start);
		}
		if (c == '"' || c == '=' || c == '{' || c == '[')
			return FAIL_HERE(ps, "unexpected %s inside an unquoted value: quote the whole value",
					 describe(ps, what, sizeof(what)));
	}

	*out = scalar_from_unquoted(start, (size_t)(last - start), line, col);
	return *out ? 0 : oom(ps);
}

static int parse_string_value(struct parser *ps, bool in_array,
			      struct nh_hocon_node **out)
{
	struct strbuf sb = { 0 };
	int line = ps->line, col = col_of(ps, ps->p);
	int rc;

	if (ps->end - ps->p >= 3 && memcmp(ps->p, "\"\"\"", 3) == 0)
		rc = read_triple(ps, &sb);
	else
		rc = read_quoted(ps, &sb);
	if (rc < 0) {
		free(sb.s);
		return -1;
	}
	if (in_array) {
		const char *q = ps->p;

		while (q < ps->end && (*q == ' ' || *q == '\t'))
			q++;
		if (q < ps->end && (*q == '=' || *q == ':' || *q == '{')) {
			char key[64];
			snprintf(key, sizeof(key), "\"%s\"", sb.s);
			free(sb.s);
			return fail_field_in_array(ps, key, line, col);
		}
	}
	*out = node_new(NH_HOCON_STRING, line, col);
	if (!*out) {
		free(sb.s);
		return oom(ps);
	}
	(*out)->str = sb.s;
	(*out)->len = sb.len;
	(*out)->quoted = true;
	return 0;
}

static int parse_array(struct parser *ps, struct nh_hocon_node **out)
{
	int line = ps->line, col = col_of(ps, ps->p);
	struct nh_hocon_node *arr = node_new(NH_HOCON_ARRAY, line, col);
	char what[16];

	if (!arr)
		return oom(ps);
	ps->p++;
	ps->depth++;
	for (;;) {
		struct nh_hocon_node *elem = NULL;

		skip_space(ps);
		if (at_eof(ps)) {
			fail_at(ps, line, col, "'[' is never closed");
			goto fail;
		}
		if (*ps->p == ']') {
			ps->p++;
			break;
		}
		if (*ps->p == ',' || *ps->p == '}') {
			FAIL_HERE(ps, "unexpected %s in array",
				  describe(ps, what, sizeof(what)));
			goto fail;
		}
		if (parse_value(ps, true, &elem) < 0)
			goto fail;
		if (node_add(arr, elem) < 0) {
			node_free(elem);
			oom(ps);
			goto fail;
		}
		skip_inline(ps);
		if (!at_eof(ps) && *ps->p == ',')
			ps->p++;
	}
	ps->depth--;
	*out = arr;
	return 0;
fail:
	node_free(arr);
	return -1;
}

static int parse_value(struct parser *ps, bool in_array,
		       struct nh_hocon_node **out)
{
	*out = NULL;
	if (!at_eof(ps) && (*ps->p == '{' || *ps->p == '[') &&
	    ps->depth + 1 > NH_HOCON_MAX_DEPTH)
		return FAIL_HERE(ps, "nesting deeper than %d levels",
				 NH_HOCON_MAX_DEPTH);
	if (at_eof(ps))
		return FAIL_HERE(ps, "expected a value, got end of file");
	switch (*ps->p) {
	case '{': {
		int line = ps->line, col = col_of(ps, ps->p);
		struct nh_hocon_node *obj = node_new(NH_HOCON_OBJECT, line, col);

		if (!obj)
			return oom(ps);
		ps->p++;
		ps->depth++;
		if (parse_members(ps, obj, line, col) < 0) {
			node_free(obj);
			return -1;
		}
		ps->depth--;
		*out = obj;
		return 0;
	}
	case '[':
		return parse_array(ps, out);
	case '"':
		return parse_string_value(ps, in_array, out);
	default:
		return parse_unquoted(ps, in_array, out);
	}
}

/* Put `value` at path `kp` under `obj`, creating and merging objects. */
static int insert(struct parser *ps, struct nh_hocon_node *obj,
		  struct key_path *kp, struct nh_hocon_node *value)
{
	struct nh_hocon_node *cur = obj;
	int last = kp->n - 1;

	for (int i = 0; i < last; i++) {
		struct nh_hocon_node **slot = find_slot(cur, kp->elem[i]);

		if (slot && (*slot)->type == NH_HOCON_OBJECT) {
			cur = *slot;
			continue;
		}
		struct nh_hocon_node *o = node_new(NH_HOCON_OBJECT, kp->line[i],
						   kp->col[i]);
		if (!o) {
			node_free(value);
			goto oom;
		}
		o->key = kp->elem[i];
		kp->elem[i] = NULL;
		o->key_line = kp->line[i];
		o->key_col = kp->col[i];
		if (slot) {
			node_free(*slot);
			*slot = o;
		} else if (node_add(cur, o) < 0) {
			node_free(o);
			node_free(value);
			goto oom;
		}
		cur = o;
	}

	value->key = kp->elem[last];
	kp->elem[last] = NULL;
	value->key_line = kp->line[last];
	value->key_col = kp->col[last];

	struct nh_hocon_node **slot = find_slot(cur, value->key);
	if (!slot) {
		if (node_add(cur, value) < 0) {
			node_free(value);
			goto oom;
		}
	} else if ((*slot)->type == NH_HOCON_OBJECT &&
		   value->type == NH_HOCON_OBJECT) {
		if (merge_into(*slot, value) < 0)
			goto oom;
	} else {
		node_free(*slot);
		*slot = value;
	}
	return 0;
oom:
	return oom(ps);
}

/* `include "file"`, `include required("file")`, `include file("x")`...
 * Returns 1 if one was skipped, 0 if the cursor is not on one. */
static int skip_include(struct parser *ps)
{
	const char *save = ps->p, *q;
	int line = ps->line, col = col_of(ps, ps->p);
	int parens = 0;
	struct strbuf sb = { 0 };

	if (ps->end - ps->p < 8 || memcmp(ps->p, "include", 7) != 0 ||
	    !is_blank(ps->p[7]))
		return 0;
	q = ps->p + 7;
	while (q < ps->end && is_blank(*q))
		q++;
	ps->p = q;
	while (parens < 2) {
		const char *s = ps->p;

		while (!at_eof(ps) && isalpha((unsigned char)*ps->p))
			ps->p++;
		if (ps->p == s || at_eof(ps) || *ps->p != '(')
			break;
		ps->p++;
		parens++;
	}
	if (at_eof(ps) || *ps->p != '"') {
		ps->p = save;
		return 0;
	}
	if (read_quoted(ps, &sb) < 0) {
		free(sb.s);
		return -1;
	}
	for (; parens > 0; parens--) {
		while (!at_eof(ps) && is_blank(*ps->p))
			ps->p++;
		if (at_eof(ps) || *ps->p != ')') {
			free(sb.s);
			return FAIL_HERE(ps, "expected ')' to close include");
		}
		ps->p++;
	}
	if (ps->warn)
		fprintf(ps->warn,
			"%s:%d:%d: include \"%s\" skipped: nanohook reads only this file\n",
			ps->name, line, col, sb.s);
	free(sb.s);
	return 1;
}

static int parse_field(struct parser *ps, struct nh_hocon_node *obj)
{
	struct key_path kp;
	struct nh_hocon_node *value = NULL;
	char what[16];
	int rc = skip_include(ps);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (read_key_path(ps, &kp) < 0) {
		key_path_free(&kp);
		return -1;
	}
	while (!at_eof(ps) && is_blank(*ps->p))
		ps->p++;
	if (!at_eof(ps) && *ps->p == '+' && ps->p + 1 < ps->end &&
	    ps->p[1] == '=') {
		FAIL_HERE(ps, "'+=' is not supported");
		goto fail;
	}
	if (!at_eof(ps) && (*ps->p == '=' || *ps->p == ':')) {
		ps->p++;
		skip_space(ps);
	} else if (at_eof(ps) || (*ps->p != '{' && *ps->p != '[')) {
		FAIL_HERE(ps, "expected '=', ':' or '{' after key '%s', got %s",
			  kp.elem[kp.n - 1], describe(ps, what, sizeof(what)));
		goto fail;
	}

	/* `a.b.c = {` opens its object three levels down, like a { b { c {. */
	ps->depth += kp.n - 1;
	rc = parse_value(ps, false, &value);
	ps->depth -= kp.n - 1;
	if (rc < 0)
		goto fail;
	rc = insert(ps, obj, &kp, value);
	key_path_free(&kp);
	return rc;
fail:
	key_path_free(&kp);
	return -1;
}

/* Fields up to the closing '}' (or end of file for the braceless root,
 * open_line == 0). The cursor is past the '{'. */
static int parse_members(struct parser *ps, struct nh_hocon_node *obj,
			 int open_line, int open_col)
{
	char what[16];

	for (;;) {
		skip_space(ps);
		if (at_eof(ps)) {
			if (open_line == 0)
				return 0;
			return fail_at(ps, open_line, open_col,
				       "'{' is never closed");
		}
		if (*ps->p == '}') {
			if (open_line == 0)
				return FAIL_HERE(ps, "unexpected '}' (no '{' open)");
			ps->p++;
			return 0;
		}
		if (*ps->p == ',' || *ps->p == ']' || *ps->p == '=' ||
		    *ps->p == ':')
			return FAIL_HERE(ps, "unexpected %s",
					 describe(ps, what, sizeof(what)));
		if (parse_field(ps, obj) < 0)
			return -1;
		skip_inline(ps);
		if (!at_eof(ps) && *ps->p == ',')
			ps->p++;
	}
}

/* ---- entry points ------------------------------------------------------- */

int nh_hocon_parse_buf(const char *name, const char *buf, size_t len,
		       FILE *warn, struct nh_hocon_doc **out, char *err,
		       size_t errlen)
{
	struct parser ps = {
		.name = name ? name : "<config>",
		.p = buf,
		.end = buf + len,
		.line_start = buf,
		.line = 1,
		.warn = warn,
		.err = err,
		.errlen = errlen,
	};
	struct nh_hocon_doc *doc;
	const char *nul;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!buf)
		len = 0, ps.p = ps.end = ps.line_start = "";

	/* A NUL would end every C string made from the file: refuse it up
	 * front so the scanner never has to consider one. */
	nul = len ? memchr(ps.p, '\0', len) : NULL;
	if (nul) {
		for (const char *q = ps.p; q < nul; q++)
			if (*q == '\n') {
				ps.line++;
				ps.line_start = q + 1;
			}
		return fail_at(&ps, ps.line, col_of(&ps, nul), "NUL byte in file");
	}
	if (len >= 3 && memcmp(ps.p, "\xEF\xBB\xBF", 3) == 0)
		ps.p += 3, ps.line_start += 3;

	doc = calloc(1, sizeof(*doc));
	if (!doc || !(doc->name = strdup(ps.name)) ||
	    !(doc->root = node_new(NH_HOCON_OBJECT, 1, 1))) {
		nh_hocon_free(doc);
		return oom(&ps);
	}

	skip_space(&ps);
	if (!at_eof(&ps) && *ps.p == '{') {
		int line = ps.line, col = col_of(&ps, ps.p);

		doc->root->line = line;
		doc->root->col = col;
		ps.p++;
		rc = parse_members(&ps, doc->root, line, col);
		if (rc == 0) {
			skip_space(&ps);
			if (!at_eof(&ps))
				rc = FAIL_HERE(&ps, "text after the closing '}' of the root object");
		}
	} else {
		rc = parse_members(&ps, doc->root, 0, 0);
	}
	if (rc < 0) {
		nh_hocon_free(doc);
		return -1;
	}
	*out = doc;
	return 0;
}

int nh_hocon_parse_file(const char *path, FILE *warn,
			struct nh_hocon_doc **out, char *err, size_t errlen)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc;

	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			char *nb;

			if (cap >= NH_HOCON_MAX_FILE) {
				snprintf(err, errlen, "%s: larger than %u bytes",
					 path, NH_HOCON_MAX_FILE);
				goto fail;
			}
			cap = cap ? cap * 2 : 16384;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				snprintf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f)) {
				snprintf(err, errlen, "%s: read error", path);
				goto fail;
			}
			break;
		}
	}
	fclose(f);
	rc = nh_hocon_parse_buf(path, buf ? buf : "", len, warn, out, err,
				errlen);
	free(buf);
	return rc;
fail:
	fclose(f);
	free(buf);
	return -1;
}

void nh_hocon_free(struct nh_hocon_doc *doc)
{
	if (!doc)
		return;
	node_free(doc->root);
	free(doc->name);
	free(doc);
}

/* ---- lookups and conversions ---------------------------------------------- */

const struct nh_hocon_node *nh_hocon_get(const struct nh_hocon_node *obj,
					 const char *key)
{
	if (!obj || obj->type != NH_HOCON_OBJECT || !key)
		return NULL;
	for (size_t i = 0; i < obj->n_kids; i++)
		if (strcmp(obj->kids[i]->key, key) == 0)
			return obj->kids[i];
	return NULL;
}

const struct nh_hocon_node *nh_hocon_path(const struct nh_hocon_node *obj,
					  const char *path)
{
	char elem[256];

	while (obj && path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(elem))
			return NULL;
		memcpy(elem, path, n);
		elem[n] = '\0';
		obj = nh_hocon_get(obj, elem);
		path = dot ? dot + 1 : NULL;
	}
	return obj;
}

const char *nh_hocon_type_name(enum nh_hocon_type type)
{
	switch (type) {
	case NH_HOCON_OBJECT: return "object";
	case NH_HOCON_ARRAY: return "array";
	case NH_HOCON_STRING: return "string";
	case NH_HOCON_NUMBER: return "number";
	case NH_HOCON_BOOL: return "boolean";
	case NH_HOCON_NULL: return "null";
	}
	return "?";
}

static bool is_scalar_text(const struct nh_hocon_node *n)
{
	return n && (n->type == NH_HOCON_STRING || n->type == NH_HOCON_NUMBER ||
		     n->type == NH_HOCON_BOOL) && n->str;
}

/* Leading integer of `s`: digits only (no sign, no blanks), into *v.
 * Returns the rest, or NULL if there are no digits or it overflows. */
static const char *leading_uint(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	const char *p = s;

	while (isdigit((unsigned char)*p)) {
		unsigned d = (unsigned)(*p - '0');

		if (x > (UINT64_MAX - d) / 10)
			return NULL;
		x = x * 10 + d;
		p++;
	}
	if (p == s)
		return NULL;
	*v = x;
	return p;
}

int nh_hocon_as_int(const struct nh_hocon_node *n, long long *out)
{
	const char *s;
	uint64_t v;
	bool neg;

	if (!is_scalar_text(n) || n->type == NH_HOCON_BOOL)
		return -1;
	s = n->str;
	neg = *s == '-';
	if (neg || *s == '+')
		s++;
	s = leading_uint(s, &v);
	if (!s || *s != '\0')
		return -1;
	if (neg ? v > (uint64_t)LLONG_MAX + 1 : v > (uint64_t)LLONG_MAX)
		return -1;
	*out = neg ? (long long)(0 - v) : (long long)v;
	return 0;
}

int nh_hocon_as_bool(const struct nh_hocon_node *n, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	if (!is_scalar_text(n))
		return -1;
	for (size_t i = 0; i < 3; i++) {
		if (strcmp(n->str, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(n->str, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

struct unit {
	const char *name;
	uint64_t mult;
};

/* Number, optional blanks, unit from `units` (case-insensitive) or none
 * (multiplier 1). */
static int scaled(const struct nh_hocon_node *n, const struct unit *units,
		  size_t n_units, uint64_t *out)
{
	const char *s;
	uint64_t v;

	if (!is_scalar_text(n) || n->type == NH_HOCON_BOOL)
		return -1;
	s = leading_uint(n->str, &v);
	if (!s)
		return -1;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0') {
		*out = v;
		return 0;
	}
	for (size_t i = 0; i < n_units; i++) {
		if (strcasecmp(s, units[i].name) == 0) {
			if (v > UINT64_MAX / units[i].mult)
				return -1;
			*out = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

int nh_hocon_as_duration_ms(const struct nh_hocon_node *n, uint64_t *out)
{
	static const struct unit units[] = {
		{ "ms", 1 }, { "millis", 1 }, { "millisecond", 1 },
		{ "milliseconds", 1 },
		{ "s", 1000 }, { "second", 1000 }, { "seconds", 1000 },
		{ "m", 60000 }, { "minute", 60000 }, { "minutes", 60000 },
		{ "h", 3600000 }, { "hour", 3600000 }, { "hours", 3600000 },
		{ "d", 86400000 }, { "day", 86400000 }, { "days", 86400000 },
	};

	return scaled(n, units, sizeof(units) / sizeof(units[0]), out);
}

int nh_hocon_as_size(const struct nh_hocon_node *n, uint64_t *out)
{
	static const struct unit units[] = {
		{ "b", 1 }, { "byte", 1 }, { "bytes", 1 },
		{ "k", 1ull << 10 }, { "kb", 1ull << 10 }, { "kib", 1ull << 10 },
		{ "m", 1ull << 20 }, { "mb", 1ull << 20 }, { "mib", 1ull << 20 },
		{ "g", 1ull << 30 }, { "gb", 1ull << 30 }, { "gib", 1ull << 30 },
	};

	return scaled(n, units, sizeof(units) / sizeof(units[0]), out);
}
