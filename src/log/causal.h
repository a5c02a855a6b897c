/*-------------------------------------------------------------------------
 * causal.h
 *		Which records a node had seen when it wrote one (the internal log "_seen", causal.c).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_CAUSAL_H
#define TIEREDLOG_CAUSAL_H

#include "postgres.h"
#include "datatype/timestamp.h"

#define TL_SEEN_LOG "_seen"

#include "core/record.h"

extern void tl_causal_note(const char *about_origin, int64 seq);
extern void tl_causal_index(const char *writer, int64 writer_seq, const char *about, int64 seen_seq);
extern void tl_causal_index_record(const TlRecord *rec);
extern int64 tl_causal_seen_max(const char *writer, int64 writer_seq, const char *about);
extern void tl_causal_set_stream_writer(const char *writer);
extern bool tl_causal_saw(const char *writer, int64 writer_seq, const char *about, int64 about_seq);

#endif							/* TIEREDLOG_CAUSAL_H */
