/*-------------------------------------------------------------------------
 * json.h
 *		A small JSON object builder (ledger entry bodies, logged details). See json.c.
 *-------------------------------------------------------------------------
 */
#ifndef TL_JSON_H
#define TL_JSON_H

#include "postgres.h"

#include "lib/stringinfo.h"

/* A small JSON object builder for entry bodies. */
typedef struct TlJson
{
	StringInfoData buf;
	bool		empty;
} TlJson;

extern void tl_json_init(TlJson *j);
extern void tl_json_text(TlJson *j, const char *key, const char *value);
extern void tl_json_int(TlJson *j, const char *key, int64 value);
extern void tl_json_raw(TlJson *j, const char *key, const char *json);
extern char *tl_json_finish(TlJson *j);

#endif							/* TL_JSON_H */
