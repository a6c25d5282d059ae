/* SPDX-License-Identifier: MIT */
#ifndef NH_LOG_H
#define NH_LOG_H

enum nh_log_level { NH_LOG_ERROR = 0, NH_LOG_WARN, NH_LOG_INFO, NH_LOG_DEBUG };

/* Messages go to stderr as "nanohook: <level>: <text>"; stdout is kept for
 * bodies (--stdout) and reports (check, probe). */
void nh_log_set_level(enum nh_log_level level);
enum nh_log_level nh_log_get_level(void);
void nh_log(enum nh_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Routes libbpf's own messages through nh_log: its warnings as warnings,
 * its info and debug lines only with -vv (debug). */
void nh_log_take_libbpf(void);

#define nh_err(...) nh_log(NH_LOG_ERROR, __VA_ARGS__)
#define nh_warn(...) nh_log(NH_LOG_WARN, __VA_ARGS__)
#define nh_info(...) nh_log(NH_LOG_INFO, __VA_ARGS__)
#define nh_debug(...) nh_log(NH_LOG_DEBUG, __VA_ARGS__)

#endif
