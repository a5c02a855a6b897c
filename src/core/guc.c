/*-------------------------------------------------------------------------
 * guc.c
 *		Every tieredlog.* setting: its variable, its definition and its check hook, in one place
 *		(as TimescaleDB's guc.c). Other files read the variables through core/guc.h; the
 *		scheduler's SQL reads the ones kept static here through current_setting().
 *
 * Locking: none. The variables belong to each backend; PostgreSQL's GUC machinery sets them.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "core/guc.h"
#include "core/tieredlog.h"
#include "core/validate.h"

char	   *tl_node_name_setting = NULL;
int			tl_max_payload_size = 1024 * 1024;
int			tl_max_clock_skew_s = 300;

/* read by other files */
int			tl_max_peers = 16;
int			tl_max_databases = 16;
int			tl_naptime = 10;
int			tl_conflict_window_s = 3600;
int			tl_conflict_retention_s = 30 * 86400;
int			tl_max_key_origins = 32;
int			tl_ledger_interval_s = 30;
int			tl_scrub_interval_s = 7 * 86400;
int			tl_seal_grace_s = 300;
int			tl_demote_after_s = 86400;
int			tl_promote_reads = 3;
int			tl_min_residency_s = 3600;
int			tl_max_moves_per_cycle = 4;
int			tl_move_rate_limit_kb = 65536;
bool		tl_adaptive_tiering = true;
int			tl_stats_flush_interval_s = 60;
int			tl_stats_retention_s = 7 * 86400;
int			tl_check_retention_s = 90 * 86400;
int			tl_check_interval_s = 60;
int			tl_train_interval_s = 86400;
bool		tl_track_access = true;
int			tl_stats_max_segments = 4096;
int			tl_promote_window_s = 3600;
int			tl_archive_level = 9;
int			tl_archive_frame_records = 128;
int			tl_move_lock_timeout_ms = 100;

/* read by the scheduler's SQL through current_setting() */
static int	tl_reconcile_budget_kb = 65536;
static double tl_explore_fraction = 0.05;
static double tl_conflict_threshold = 0.5;
static int	tl_tier1_reconcile_interval_s = 300;
static int	tl_check_max_staleness_s = 7 * 86400;


static bool
check_node_name(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' || tl_name_is_valid(*newval))
		return true;
	GUC_check_errdetail("A node name has 1 to %d characters: letters, digits, \"_\", \"-\", \".\" or \":\".",
						TL_MAX_NAME_LEN);
	return false;
}

/* The background workers, access statistics and adaptive tiering. */
static void
define_worker_settings(void)
{
	DefineCustomIntVariable("tieredlog.max_databases",
							"Most databases with a tieredlog worker (one worker each).",
							"Each also needs a slot in max_worker_processes.",
							&tl_max_databases, 16, 1, 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.max_peers",
							"Most peers (apply workers) over all databases of this node.",
							"Each apply worker also needs a slot in max_worker_processes, and each peer a replication slot on that peer.",
							&tl_max_peers, 16, 1, 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.seal_grace",
							"Time after a segment's window ends before the worker seals it.",
							"Also how long a reopened segment must go without access before it is sealed again.",
							&tl_seal_grace_s, 300, 0, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.check_interval",
							"How often the worker chooses (segment, peer) checks and runs them; 0 turns the scheduler off.",
							NULL, &tl_check_interval_s, 60, 0, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.train_interval",
							"How often the worker refits the prediction model from the labelled checks; 0: only train_model().",
							NULL, &tl_train_interval_s, 86400, 0, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.reconcile_budget",
							"Cost units (bytes a check may read) one scheduler cycle may spend.",
							"Pairs past tieredlog.check_max_staleness are checked even beyond it, one at least.",
							&tl_reconcile_budget_kb, 65536, 8, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomRealVariable("tieredlog.explore_fraction",
							 "Share of the budget spent on checks drawn at random (keeps the model's labels unbiased).",
							 NULL, &tl_explore_fraction, 0.05, 0.0, 1.0,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("tieredlog.conflict_threshold",
							 "Predicted probability of divergence above which a tier 0 pair is checked at once (tier 1: within tieredlog.tier1_reconcile_interval).",
							 NULL, &tl_conflict_threshold, 0.5, 0.0, 1.0,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.tier1_reconcile_interval",
							"How soon a tier 1 pair above tieredlog.conflict_threshold is checked after its last check.",
							NULL, &tl_tier1_reconcile_interval_s, 300, 0, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.check_max_staleness",
							"A (segment, peer) pair in tier 0 or 1 unchecked for longer than this is checked first, whatever its score.",
							NULL, &tl_check_max_staleness_s, 7 * 86400, 1, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.conflict_window",
							"Records of one key from different origins further apart than this are never in conflict.",
							"Also how far before the newest record of a key latest() looks for concurrent ones. 0 turns conflict detection off.",
							&tl_conflict_window_s, 3600, 0, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.max_key_origins",
							"Most origins whose records of one key a segment takes from peers.",
							"A record a peer brings (by reconciliation) of a key that already has records of this many other origins in its segment is refused; a key's conflicts are compared between every two origins.",
							&tl_max_key_origins, 32, 2, 10000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.conflict_retention",
							"How long resolved conflicts stay in tieredlog.conflicts.",
							"Pending conflicts stay until they are resolved.",
							&tl_conflict_retention_s, 30 * 86400, 0, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.scrub_interval",
							"How often the worker re-hashes each segment's rows against their stored rids.",
							"One segment per worker cycle; a damaged row is quarantined and restored by the next reconciliation. 0 turns the scrub off.",
							&tl_scrub_interval_s, 7 * 86400, 0, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.ledger_interval",
							"How often the worker closes a ledger block over pending entries and gives its digest to the peers.",
							"The digest goes to the peers only when entries other than witnesses were closed. 0 turns both off (ledger_digest() still closes a block).",
							&tl_ledger_interval_s, 30, 0, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomBoolVariable("tieredlog.adaptive_tiering",
							 "Whether the worker promotes and demotes segments by their access statistics.",
							 NULL, &tl_adaptive_tiering, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.demote_after",
							"Time without access after which a sealed segment moves one tier down.",
							NULL, &tl_demote_after_s, 86400, 1, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.promote_reads",
							"Reads within tieredlog.promote_window that bring a segment one tier up.",
							NULL, &tl_promote_reads, 3, 1, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.promote_window",
							"The window in which tieredlog.promote_reads reads promote a segment.",
							"A tumbling window per segment: it starts at the first read after the previous window ended.",
							&tl_promote_window_s, 3600, 1, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.min_residency",
							"Minimum time a segment stays in a tier after a move before the worker moves it again.",
							NULL, &tl_min_residency_s, 3600, 0, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.max_moves_per_cycle",
							"Most segments the worker moves in one cycle (per database).",
							NULL, &tl_max_moves_per_cycle, 4, 0, 10000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.move_rate_limit",
							"Average rate at which the worker moves segments, in bytes of the source per second.",
							"0 means no limit. After each move the worker waits bytes moved / rate.",
							&tl_move_rate_limit_kb, 65536, 0, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomBoolVariable("tieredlog.track_access",
							 "Whether reads and writes of segments are counted (tieredlog.stat_segments).",
							 NULL, &tl_track_access, true,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.stats_max_segments",
							"Most segments with live access counters in shared memory (about 160 bytes each).",
							"When full, the counters of the segment accessed longest ago are evicted.",
							&tl_stats_max_segments, 4096, 64, 1024 * 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.stats_flush_interval",
							"How often the worker writes the access counters into tieredlog.access_history.",
							NULL, &tl_stats_flush_interval_s, 60, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.stats_retention",
							"How long tieredlog.access_history and tieredlog.task_history keep rows.",
							NULL, &tl_stats_retention_s, 7 * 86400, 60, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.check_retention",
							"How long tieredlog.check_log keeps finished checks.",
							"The newest check of each segment and peer stays whatever its age. train_model() learns from the last 30 days, and a segment's past divergences count the checks kept.",
							&tl_check_retention_s, 90 * 86400, 0, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
}

void
tl_define_settings(void)
{
	DefineCustomStringVariable("tieredlog.node_name",
							   "This node's name, unique among its peers; part of every record's identity.",
							   "Empty means cluster_name if set, else the host name and port.",
							   &tl_node_name_setting, "",
							   PGC_POSTMASTER, 0,
							   check_node_name, NULL, NULL);
	DefineCustomIntVariable("tieredlog.max_clock_skew",
							"How far ahead of this node's clock a record's timestamp may move the hybrid logical clock.",
							"A record stamped further ahead is still stored, but the clock only moves to now plus this: one peer's bad clock (or a forged timestamp) cannot push every later local record into the future.",
							&tl_max_clock_skew_s, 300, 0, INT_MAX / 2,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.max_payload_size",
							"Largest payload, in its stored jsonb form, that append accepts.",
							NULL,
							&tl_max_payload_size, 1024 * 1024, 1024, 256 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.archive_compression_level",
							"zstd level of tier 2 frames.",
							"Higher levels take longer to archive and store less; reading speed barely changes.",
							&tl_archive_level, 9, 1, 22,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.archive_frame_records",
							"Records per tier 2 frame.",
							"A key read decompresses the frames that hold its key: smaller frames make key reads faster; larger ones make whole reads and archiving faster and store slightly less.",
							&tl_archive_frame_records, 128, 16, 4096,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.move_lock_timeout",
							"Longest a move waits, in small conditional tries, to stop writers of the segment it moves.",
							"Past it the move gives up with an error instead of making writers queue behind it.",
							&tl_move_lock_timeout_ms, 100, 0, 60000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("tieredlog.naptime",
							"Time between two cycles of each database's tieredlog worker.",
							"Each cycle seals, moves (adaptive tiering), removes old copies of moved segments, folds digest cells and flushes access statistics.",
							&tl_naptime, 10, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	define_worker_settings();
	MarkGUCPrefixReserved("tieredlog");
}

