/* A bump allocator for activations, reset every step. It grows by chunks when a step needs more
 * than it holds; on reset it folds the chunks into one block, so after the first step of a given
 * shape every step runs in a single block with no allocation. */
#ifndef ADAPT_CORE_ARENA_H
#define ADAPT_CORE_ARENA_H
#include <stddef.h>
#include <stdbool.h>

typedef struct arena_chunk arena_chunk;

typedef struct arena {
    arena_chunk *chunks; /* newest first */
    size_t used_total;   /* bytes handed out since the last reset */
    size_t peak;         /* largest used_total seen */
} arena;

void arena_init(arena *a);
void arena_free(arena *a);
void arena_reset(arena *a);
/* 64-byte aligned, zero-filled bytes / floats; NULL only when memory is exhausted. */
void *arena_alloc(arena *a, size_t bytes);
float *arena_floats(arena *a, size_t n);
/* The same without the zero fill, for buffers the caller overwrites completely. */
float *arena_floats_raw(arena *a, size_t n);
/* Scoped scratch: everything allocated after arena_mark is handed back by arena_release (chunks
 * added since the mark are freed), so a loop whose iterations need the same scratch reuses one
 * region instead of growing the step. */
typedef struct arena_mark_t {
    void *chunk;
    size_t used, used_total;
} arena_mark_t;
arena_mark_t arena_mark(const arena *a);
void arena_release(arena *a, arena_mark_t m);

#endif
