/*-------------------------------------------------------------------------
 * validate.c
 *		Checks of user input, each failing with a specific errcode and the offending name.
 *
 * Names (logs, sources, nodes) have 1 to 63 characters from [A-Za-z0-9_.:-] and start with a
 * letter or digit. They never reach SQL text: relations are named after numeric ids.
 *
 * Locking: none.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "core/guc.h"
#include "core/tieredlog.h"
#include "core/validate.h"

static const char *const known_rules[] = {
	"last_writer_wins", "first_writer_wins", "source_priority", "custom", "manual", NULL
};

/* Rules whose resolution exists in this version. */
static const char *const implemented_rules[] = {
	"last_writer_wins", "first_writer_wins", "source_priority", "custom", "manual", NULL
};

bool
tl_name_is_valid(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > TL_MAX_NAME_LEN)
		return false;
	if (!isalnum((unsigned char) name[0]))
		return false;
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) name[i];

		if (!(isalnum(c) || c == '_' || c == '-' || c == '.' || c == ':') || c > 127)
			return false;
	}
	return true;
}

void
tl_check_name(const char *what, const char *name)
{
	if (!tl_name_is_valid(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid %s name \"%.80s%s\"", what, name, strlen(name) > 80 ? "..." : ""),
				 errdetail("A %s name has 1 to %d characters: letters, digits, \"_\", \"-\", \".\" or \":\", starting with a letter or digit.",
						   what, TL_MAX_NAME_LEN)));
}

/* A name argument: not NULL, valid; returned as a C string. */
char *
tl_arg_name(const char *what, text *arg)
{
	char	   *name;

	if (arg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s name must not be null", what)));
	name = text_to_cstring(arg);
	tl_check_name(what, name);
	return name;
}

void
tl_check_key(text *key)
{
	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("record key must not be null")));
	if (VARSIZE_ANY_EXHDR(key) > TL_MAX_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("record key is %d bytes, more than the limit of %d",
						(int) VARSIZE_ANY_EXHDR(key), TL_MAX_KEY_LEN)));
	/* SQL text never holds one; a key decoded from a peer's bytes might */
	if (memchr(VARDATA_ANY(key), '\0', VARSIZE_ANY_EXHDR(key)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("record key contains a NUL byte")));
}

/*
 * At most TL_PAYLOAD_MAX_DEPTH levels of arrays and objects. Each level takes at least 8 bytes of
 * the jsonb (its container header and its entry in the parent; the root's entry is the varlena
 * header), so a payload of at most 8 * TL_PAYLOAD_MAX_DEPTH bytes cannot be deeper and is not
 * walked: the reference payloads (about 300 bytes) cost nothing here.
 */
static void
check_payload_depth(Jsonb *payload)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			level = 0;

	if (VARSIZE(payload) <= (Size) TL_PAYLOAD_MAX_DEPTH * 8)
		return;
	it = JsonbIteratorInit(&payload->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT)
		{
			if (++level > TL_PAYLOAD_MAX_DEPTH)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("record payload is nested more than %d levels deep", TL_PAYLOAD_MAX_DEPTH),
						 errdetail("Peers could not take the record.")));
		}
		else if (tok == WJB_END_ARRAY || tok == WJB_END_OBJECT)
			level--;
	}
}

/* The payload arrives detoasted: its size is that of its jsonb form. */
void
tl_check_payload(Jsonb *payload)
{
	Size		raw_size;

	if (payload == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("record payload must not be null"),
				 errhint("Use the JSON value 'null'::jsonb for an empty payload.")));
	raw_size = VARSIZE(payload);
	tl_check_payload_size(raw_size);
	check_payload_depth(payload);
}

/* A payload's jsonb size (with its varlena header): at most tieredlog.max_payload_size. */
void
tl_check_payload_size(Size raw_size)
{
	if (raw_size > (Size) tl_max_payload_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("record payload is %zu bytes, more than the limit of %d", raw_size,
						tl_max_payload_size),
				 errhint("The limit is set by \"tieredlog.max_payload_size\".")));
}

/*
 * What a payload's text form may take: 8 times tieredlog.max_payload_size. A string's escapes
 * make its text at most 6 times its bytes, and a number's text a few times its stored size, but a
 * number of large weight or scale is stored in a few bytes and prints up to 147 000 digits: the
 * text, not the jsonb, is what the rid, a seal, a replication message and a frame carry.
 */
Size
tl_payload_text_limit(void)
{
	return Min((Size) tl_max_payload_size * 8, MaxAllocSize / 2);
}

/* A payload's text as it came from outside (a peer's message): at most tl_payload_text_limit(). */
void
tl_check_payload_text_len(Size len)
{
	if (len > tl_payload_text_limit())
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("record payload's text form is %zu bytes, more than the limit of %zu", len,
						tl_payload_text_limit()),
				 errhint("The limit is 8 times \"tieredlog.max_payload_size\".")));
}

void
tl_check_source(text *source)
{
	char	   *s;

	if (source == NULL)
		return;
	if (memchr(VARDATA_ANY(source), '\0', VARSIZE_ANY_EXHDR(source)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("source name contains a NUL byte")));
	s = text_to_cstring(source);
	tl_check_name("source", s);
	pfree(s);
}

/* A segment interval in microseconds: whole seconds, 1 second to 366 days. */
bool
tl_interval_us_is_valid(int64 us)
{
	return us >= TL_MIN_INTERVAL_US && us <= TL_MAX_INTERVAL_US && us % USECS_PER_SEC == 0;
}

/* A segment interval: fixed length (no months), whole seconds, 1 second to 366 days. */
int64
tl_check_interval(Interval *iv)
{
	int64		us;

	if (iv == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("segment interval must not be null")));
	if (iv->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment interval must not contain months or years"),
				 errhint("Months vary in length; use days, e.g. '30 days'.")));
	if (iv->day < 0 || iv->day > 366 || iv->time < 0)
		us = -1;
	else
		us = iv->time + (int64) iv->day * USECS_PER_DAY;
	if (!tl_interval_us_is_valid(us))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment interval must be a whole number of seconds between 1 second and 366 days")));
	return us;
}

static bool
rule_in(const char *rule, const char *const *list)
{
	for (int i = 0; list[i] != NULL; i++)
		if (strcmp(rule, list[i]) == 0)
			return true;
	return false;
}

void
tl_check_rule(const char *rule)
{
	if (!rule_in(rule, known_rules))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown conflict rule \"%.80s\"", rule),
				 errhint("Use one of last_writer_wins, first_writer_wins, source_priority, custom or manual.")));
	if (!rule_in(rule, implemented_rules))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("conflict rule \"%s\" is not available in this version of tieredlog", rule),
				 errhint("Use last_writer_wins or first_writer_wins.")));
}

/*
 * A log name that came from a peer: a valid name, or one of tieredlog's own logs (whose names
 * begin with "_", which no user can create).
 */
void
tl_check_wire_log_name(const char *name)
{
	if (name[0] == '_' && strlen(name) > 1 && tl_name_is_valid(name + 1))
		return;
	tl_check_name("log", name);
}