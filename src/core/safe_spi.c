/*-------------------------------------------------------------------------
 * safe_spi.c
 *		Every query tieredlog runs through SPI resolves names with search_path = pg_catalog,
 *		pg_temp, never through a schema a user can write.
 *
 * An unqualified function, operator or cast in a query resolves through search_path. Queries of
 * tieredlog's run as a superuser (the background workers, a superuser's call) or as the extension's
 * owner (tl_become_owner), so a role that can create objects in a schema on the caller's path
 * (public, say) could otherwise have its own now(), "=" or cast run with those rights.
 *
 * - tl_spi_connect()/tl_spi_finish() wrap SPI_connect()/SPI_finish() in a GUC nest level that
 *   sets the path for the connection's lifetime and gives the caller's path back afterwards. An
 *   error unwinds the nest level with the (sub)transaction.
 * - tl_pin_search_path_for_process() pins the path for a whole background worker, which runs
 *   nothing but tieredlog's code: set with PGC_S_OVERRIDE, no later SET can change it.
 * - tl_pin_search_path() sets it in the current GUC nest level (the caller made one).
 *
 * Locking: none; GUC state is backend-local.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/guc.h"

#include "core/safe_spi.h"

void
tl_pin_search_path(void)
{
	(void) set_config_option("search_path", TL_SAFE_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* SPI_connect with the safe path; returns the GUC nest level to give to tl_spi_finish(). */
int
tl_spi_connect(void)
{
	int			guc_level = NewGUCNestLevel();

	tl_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	return guc_level;
}

void
tl_spi_finish(int guc_level)
{
	SPI_finish();
	AtEOXact_GUC(true, guc_level);
}

void
tl_pin_search_path_for_process(void)
{
	SetConfigOption("search_path", TL_SAFE_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * A statement prepared once per backend and kept (*plan caches it). Call it connected, with the
 * pinned search_path: the plan cache re-plans if a later call runs under another one.
 */
SPIPlanPtr
tl_spi_prepare_once(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		*plan = p;
	}
	return *plan;
}
