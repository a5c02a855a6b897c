/*-------------------------------------------------------------------------
 * priority_store.c
 *		tieredlog.source_priority: the priority of a record source for the 'source_priority'
 *		conflict rule, written by set_source_priority() and read by the rule
 *		(log/conflict_rules.c).
 *
 * tl_source_priority_set() runs inside the caller's SPI connection, which carries the pinned
 * search_path (api/conflicts.c connects as the extension's owner); tl_source_priority_get()
 * switches to the owner and connects itself (tl_become_owner).
 *
 * Locking: RowExclusiveLock; concurrent settings of one source meet on its primary key.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "store/catalog.h"
#include "store/priority_store.h"

/* Set a source's priority, or with NULL remove it (an unlisted source has priority 0). */
void
tl_source_priority_set(text *source, const int32 *priority)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];

	values[0] = PointerGetDatum(source);
	values[1] = priority ? Int32GetDatum(*priority) : (Datum) 0;
	if (priority == NULL)
		tl_spi_exec("DELETE FROM tieredlog.source_priority WHERE source = $1", 1, types, values, SPI_OK_DELETE);
	else
		tl_spi_exec("INSERT INTO tieredlog.source_priority (source, priority) VALUES ($1, $2)"
					" ON CONFLICT (source) DO UPDATE SET priority = EXCLUDED.priority",
					2, types, values, SPI_OK_INSERT);
}

/* A source application's priority (tieredlog.source_priority); 0 for none or an unknown one. */
int
tl_source_priority_get(const char *source)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			prio = 0;
	TlAsOwner	save;

	if (source == NULL)
		return 0;
	values[0] = CStringGetTextDatum(source);
	tl_become_owner(&save);
	tl_spi_exec("SELECT priority FROM tieredlog.source_priority WHERE source = $1", 1, types, values, SPI_OK_SELECT);
	if (SPI_processed == 1)
	{
		bool		isnull;

		prio = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	tl_restore_user(&save);
	return prio;
}
