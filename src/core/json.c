/*-------------------------------------------------------------------------
 * json.c
 *		A small JSON object builder: keys and values are escaped with PostgreSQL's escape_json, so
 *		the text is always valid JSON. Used for ledger entry bodies.
 *
 * Locking: none; the builder lives in the caller's memory context.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/json.h"

#include "core/json.h"

void
tl_json_init(TlJson *j)
{
	initStringInfo(&j->buf);
	appendStringInfoChar(&j->buf, '{');
	j->empty = true;
}

static void
json_key(TlJson *j, const char *key)
{
	if (!j->empty)
		appendStringInfoString(&j->buf, ", ");
	j->empty = false;
	escape_json(&j->buf, key);
	appendStringInfoString(&j->buf, ": ");
}

void
tl_json_text(TlJson *j, const char *key, const char *value)
{
	json_key(j, key);
	if (value == NULL)
		appendStringInfoString(&j->buf, "null");
	else
		escape_json(&j->buf, value);
}

void
tl_json_int(TlJson *j, const char *key, int64 value)
{
	json_key(j, key);
	appendStringInfo(&j->buf, INT64_FORMAT, value);
}

void
tl_json_raw(TlJson *j, const char *key, const char *json)
{
	json_key(j, key);
	appendStringInfoString(&j->buf, json);
}

char *
tl_json_finish(TlJson *j)
{
	appendStringInfoChar(&j->buf, '}');
	return j->buf.data;
}

