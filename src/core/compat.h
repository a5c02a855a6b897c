/*-------------------------------------------------------------------------
 * compat.h
 *		Every PG_VERSION_NUM shim tieredlog needs, and nothing else.
 *
 * tieredlog is tested on PostgreSQL 15 and written to compile on 15-18.
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_COMPAT_H
#define TIEREDLOG_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "tieredlog requires PostgreSQL 15 or later"
#endif

/* PostgreSQL 17 renamed the backend's slot number. */
#if PG_VERSION_NUM >= 170000
#define TL_MY_PROC_NUMBER MyProcNumber
#else
#define TL_MY_PROC_NUMBER MyBackendId
#endif

#endif							/* TIEREDLOG_COMPAT_H */
