/*-------------------------------------------------------------------------
 * priority_store.c
 *		Writing tieredlog.source_priority: the priority of a record source for the
 *		'source_priority' conflict rule (set_source_priority()). The rule reads the table in
 *		log/conflict_rules.c.
 *
 * Every function runs inside the caller's SPI connection, which carries the pinned search_path;
 * api/conflicts.c connects as the extension's owner (tl_become_owner).
 *
 * Locking: RowExclusiveLock; concurrent settings of one source meet on its primary key.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"

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
