/*-------------------------------------------------------------------------
 * jsonb_text.h
 *		A jsonb value's text form (exactly JsonbToCString's), written from the stored container.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_JSONB_TEXT_H
#define TIEREDLOG_JSONB_TEXT_H

#include "postgres.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

extern void tl_jsonb_text(StringInfo out, const Jsonb *jb);

#endif							/* TIEREDLOG_JSONB_TEXT_H */
