/*-------------------------------------------------------------------------
 * catalog.h
 *		The only interface to tieredlog's own tables (log, segment, digest_cell, tier).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_CATALOG_H
#define TIEREDLOG_CATALOG_H

#include "postgres.h"
#include "nodes/pg_list.h"
#include "utils/palloc.h"
#include "utils/snapshot.h"
#include "utils/timestamp.h"

typedef struct TlLog
{
	int32		log_id;
	char		name[NAMEDATALEN];
	int64		interval_us;
	char		rule[NAMEDATALEN];
	Oid			resolver;		/* the custom rule's function; InvalidOid when none */
} TlLog;

typedef enum TlSegmentState
{
	TL_SEG_OPEN,
	TL_SEG_SEALED,
	TL_SEG_REOPENED
} TlSegmentState;

typedef struct TlSegment
{
	int64		segment_id;
	int32		log_id;
	TimestampTz range_start;
	TimestampTz range_end;
	TlSegmentState state;
	int32		tier;
	Oid			relid;			/* InvalidOid when the segment has no row relation */
	int64		archive_attempt;	/* tier 2: frames of this attempt; 0 when none */
	bool		relation_missing;	/* the catalog names a relation that does not exist */
	int64		gen_base;		/* where its rows' generations start (segrows.h); 0 when unset */
} TlSegment;

extern Oid	tl_catalog_relid(const char *relname);
extern Oid	tl_data_namespace(void);

extern bool tl_catalog_find_log(const char *name, TlLog *out);
extern bool tl_catalog_find_log_by_id(int32 log_id, TlLog *out);
extern int32 tl_catalog_insert_log(const char *name, int64 interval_us, const char *rule);
extern void tl_catalog_drop_log(const TlLog *log);
extern void tl_catalog_set_rule(const TlLog *log, const char *rule, Oid resolver);

extern bool tl_catalog_find_segment(int32 log_id, TimestampTz range_start, TlSegment *out);
extern TlSegment *tl_catalog_create_segment(const TlLog *log, TimestampTz range_start);
extern uint64 tl_catalog_segments_created(void);
extern bool tl_catalog_get_segment(int64 segment_id, TlSegment *out);
extern List *tl_catalog_log_segments(int32 log_id, TimestampTz from_ts, TimestampTz to_ts,
									 Snapshot snapshot);
extern List *tl_catalog_all_segments(Snapshot snapshot);

/* helpers for rows of tieredlog.digest_cell */
extern Oid	tl_catalog_digest_cell_relid(void);
extern Oid	tl_catalog_digest_cell_index(void);

/* internal SQL, run as the extension's owner with a safe search_path (inside SPI) */
typedef struct TlAsOwner
{
	Oid			saved_user;
	int			saved_sec;
	int			guc_level;
} TlAsOwner;

extern void tl_become_owner(TlAsOwner *save);
extern void tl_restore_user(TlAsOwner *save);
extern void tl_spi_exec(const char *sql, int nargs, Oid *types, Datum *values, int expected);
#define TL_SPI_RUN_MAX_ARGS 8
extern void tl_spi_run(const char *sql, int expected, int nargs,...);
extern void tl_create_segment_relation(const char *relname, const char *tablespace, int64 gen_base);
extern char *tl_tier_tablespace(int tier);

/* locks on internal objects (transaction-scoped) */
extern void tl_lock_object(uint32 kind, int64 id);
extern bool tl_try_lock_object(uint32 kind, int64 id);

#endif							/* TIEREDLOG_CATALOG_H */
