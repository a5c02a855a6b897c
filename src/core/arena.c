/*-------------------------------------------------------------------------
 * arena.c
 *		A bump allocator for memory that one statement fills and then drops all at once: a tier 2
 *		read merging every frame of a segment holds the decompressed frames, their rows and their
 *		rebuilt payloads together, tens of megabytes.
 *
 * Why not palloc: memory that size comes from malloc in blocks that the C library returns to the
 * kernel when they are freed, so the next read faults every page in again, one 4 kB page at a
 * time. On some virtual machines a page fault costs about 15 microseconds (measured: more than a
 * quarter of a whole read of a 200 000-record tier 2 segment). The arena maps its regions itself and asks
 * for transparent huge pages (madvise(MADV_HUGEPAGE)), so a region faults in 2 MB at a time where
 * the kernel allows it ("madvise" or "always" in /sys/kernel/mm/transparent_hugepage/enabled);
 * elsewhere it behaves as plain anonymous memory.
 *
 * An arena belongs to the memory context current at its creation: its regions are unmapped when
 * that context is reset or deleted, so also when the statement fails. Memory is never freed piece
 * by piece. An allocation larger than a region gets a region of its own. An arena may have a
 * limit: an allocation that would take what it has handed out past it is an error (54000), so
 * that what the data decides (a frame's payload paths, its rebuilt payloads) cannot take the
 * backend's memory without end.
 *
 * Locking: none (backend-local memory).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "utils/memutils.h"

#include "core/arena.h"

/* Huge pages are 2 MB on x86-64 and most arm64 kernels: regions are a multiple of that. */
#define ARENA_ALIGN			((Size) 2 * 1024 * 1024)

typedef struct ArenaRegion
{
	struct ArenaRegion *next;
	char	   *base;
	Size		size;
} ArenaRegion;

struct TlArena
{
	MemoryContext cxt;			/* owns the arena; its reset unmaps the regions */
	Size		region_size;
	ArenaRegion *regions;		/* newest first */
	char	   *free;			/* in the newest region */
	char	   *end;
	Size		allocated;		/* handed out so far */
	Size		limit;			/* 0: none */
	const char *what;			/* what the limit's error names */
	MemoryContextCallback unmap;
};

static void
arena_unmap(void *arg)
{
	TlArena    *arena = arg;

	for (ArenaRegion *r = arena->regions; r != NULL; r = r->next)
		(void) munmap(r->base, r->size);
	arena->regions = NULL;
	arena->free = arena->end = NULL;
}

/* Map a region of at least `size` bytes (rounded up to ARENA_ALIGN) and make it the current one. */
static void
arena_add_region(TlArena *arena, Size size)
{
	ArenaRegion *r;
	void	   *base;
	Size		rounded = TYPEALIGN(ARENA_ALIGN, size);

	if (rounded < size)			/* (rounding overflowed) */
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("memory request of %zu bytes is too large", size)));
	size = rounded;
	/* its bookkeeping first: an error here must not leave a mapping nobody would unmap */
	r = MemoryContextAlloc(arena->cxt, sizeof(ArenaRegion));
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on a request of %zu bytes: %m.", size)));
#ifdef MADV_HUGEPAGE
	/* a hint: refused (no transparent huge pages in this kernel), the region works as it is */
	(void) madvise(base, size, MADV_HUGEPAGE);
#endif
	r->base = base;
	r->size = size;
	r->next = arena->regions;
	arena->regions = r;
	arena->free = base;
	arena->end = (char *) base + size;
}

/*
 * A new arena, owned by the current memory context, whose regions are region_size bytes (rounded
 * up to 2 MB). Nothing is mapped until the first allocation.
 */
TlArena *
tl_arena_create(Size region_size)
{
	TlArena    *arena = palloc0(sizeof(TlArena));

	arena->cxt = CurrentMemoryContext;
	arena->region_size = Max(TYPEALIGN(ARENA_ALIGN, region_size), ARENA_ALIGN);
	arena->unmap.func = arena_unmap;
	arena->unmap.arg = arena;
	MemoryContextRegisterResetCallback(arena->cxt, &arena->unmap);
	return arena;
}

/*
 * `size` bytes, MAXALIGNed and zeroed (fresh anonymous memory; the arena never reuses what it has
 * handed out), valid until the arena's memory context is reset or deleted.
 */
void *
tl_arena_alloc(TlArena *arena, Size size)
{
	void	   *p;

	size = MAXALIGN(size);
	if (arena->limit != 0 && (size > arena->limit || arena->allocated > arena->limit - size))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s needs more than %zu MB of memory", arena->what, arena->limit / (1024 * 1024))));
	arena->allocated += size;
	if (arena->free == NULL || size > (Size) (arena->end - arena->free))
		arena_add_region(arena, Max(size, arena->region_size));
	p = arena->free;
	arena->free += size;
	return p;
}

/*
 * From now on, an allocation that would take the arena's total past `limit` bytes is an error
 * naming `what` (a string that outlives the arena).
 */
void
tl_arena_set_limit(TlArena *arena, Size limit, const char *what)
{
	arena->limit = limit;
	arena->what = what;
}

/* The bytes handed out so far (MAXALIGNed sizes), whatever the regions mapped for them. */
Size
tl_arena_allocated(const TlArena *arena)
{
	return arena->allocated;
}
