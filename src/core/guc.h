/*-------------------------------------------------------------------------
 * guc.h
 *		The tieredlog.* settings other files read (all are defined in guc.c). Units are in the
 *		names: _s seconds, _ms milliseconds, _kb kilobytes; plain counts otherwise.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_GUC_H
#define TIEREDLOG_GUC_H

/* identity and input limits */
extern char *tl_node_name_setting;
extern int	tl_max_payload_size;	/* bytes */
extern int	tl_max_clock_skew_s;

/* workers */
extern int	tl_max_databases;
extern int	tl_max_peers;
extern int	tl_naptime;				/* seconds */

/* tiers and moves */
extern int	tl_archive_level;
extern int	tl_archive_frame_records;
extern int	tl_move_lock_timeout_ms;
extern int	tl_seal_grace_s;
extern int	tl_demote_after_s;
extern int	tl_promote_reads;
extern int	tl_promote_window_s;
extern int	tl_min_residency_s;
extern int	tl_max_moves_per_cycle;
extern int	tl_move_rate_limit_kb;
extern bool tl_adaptive_tiering;

/* access statistics */
extern bool tl_track_access;
extern int	tl_stats_max_segments;
extern int	tl_stats_flush_interval_s;
extern int	tl_stats_retention_s;
extern int	tl_check_retention_s;

/* conflicts */
extern int	tl_conflict_window_s;
extern int	tl_conflict_retention_s;
extern int	tl_max_key_origins;

/* integrity */
extern int	tl_ledger_interval_s;
extern int	tl_scrub_interval_s;

/* the scheduler and the model */
extern int	tl_check_interval_s;
extern int	tl_train_interval_s;

extern void tl_define_settings(void);

#endif							/* TIEREDLOG_GUC_H */
