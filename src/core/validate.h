/*-------------------------------------------------------------------------
 * validate.h
 *		Checks of user input: names, keys, payloads, intervals, rules.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_VALIDATE_H
#define TIEREDLOG_VALIDATE_H

#include "postgres.h"
#include "datatype/timestamp.h"
#include "utils/jsonb.h"

extern bool tl_name_is_valid(const char *name);
extern void tl_check_name(const char *what, const char *name);
extern void tl_check_wire_log_name(const char *name);
extern char *tl_arg_name(const char *what, text *arg);
extern void tl_check_key(text *key);
/*
 * Levels of arrays and objects a payload may nest: what a peer's message decoder (repl/wire.c)
 * takes, so that every record stored here can be sent to a peer.
 */
#define TL_PAYLOAD_MAX_DEPTH	10000

extern void tl_check_payload(Jsonb *payload);
extern void tl_check_payload_size(Size raw_size);
extern Size tl_payload_text_limit(void);
extern void tl_check_payload_text_len(Size len);
extern void tl_check_source(text *source);
extern bool tl_interval_us_is_valid(int64 us);
extern int64 tl_check_interval(Interval *iv);
extern void tl_check_rule(const char *rule);

#endif							/* TIEREDLOG_VALIDATE_H */
