/*-------------------------------------------------------------------------
 * arena.h
 *		A bump allocator over anonymous memory mappings that ask for transparent huge pages,
 *		for a read that holds tens of megabytes at once for one statement (arena.c).
 *-------------------------------------------------------------------------
 */
#ifndef TIEREDLOG_ARENA_H
#define TIEREDLOG_ARENA_H

#include "postgres.h"

typedef struct TlArena TlArena;

extern TlArena *tl_arena_create(Size region_size);
extern void *tl_arena_alloc(TlArena *arena, Size size);
extern void tl_arena_set_limit(TlArena *arena, Size limit, const char *what);
extern Size tl_arena_allocated(const TlArena *arena);

#endif
