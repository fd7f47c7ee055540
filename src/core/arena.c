#include "core/arena.h"
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    arena_chunk *next;
    size_t size, used;
    char *data;
};

static arena_chunk *chunk_new(size_t size)
{
    arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    c->data = aligned_alloc(64, size);
    if (!c->data) {
        free(c);
        return NULL;
    }
    c->size = size;
    c->used = 0;
    c->next = NULL;
    return c;
}

void arena_init(arena *a) { memset(a, 0, sizeof *a); }

static void free_chunks(arena_chunk *c)
{
    while (c) {
        arena_chunk *next = c->next;
        free(c->data);
        free(c);
        c = next;
    }
}

void arena_free(arena *a)
{
    free_chunks(a->chunks);
    memset(a, 0, sizeof *a);
}

void arena_reset(arena *a)
{
    if (a->chunks && a->chunks->next) { /* fold into one block as big as the step's peak */
        size_t size = a->chunks->size > a->peak ? a->chunks->size : a->peak;
        free_chunks(a->chunks);
        a->chunks = chunk_new(size);
    }
    if (a->chunks) a->chunks->used = 0;
    a->used_total = 0;
}

float *arena_floats(arena *a, size_t n) { return arena_alloc(a, n * sizeof(float)); }

static void *bump(arena *a, size_t bytes);

void *arena_alloc(arena *a, size_t bytes)
{
    void *p = bump(a, bytes);
    if (p) memset(p, 0, ((bytes ? bytes : 1) + 63) & ~(size_t)63);
    return p;
}

float *arena_floats_raw(arena *a, size_t n) { return bump(a, n * sizeof(float)); }

static void *bump(arena *a, size_t bytes)
{
    bytes = ((bytes ? bytes : 1) + 63) & ~(size_t)63;
    arena_chunk *c = a->chunks;
    if (!c || c->used + bytes > c->size) {
        size_t size = bytes > ((size_t)16 << 20) ? bytes : ((size_t)16 << 20);
        if (c && 2 * c->size > size && 2 * c->size >= bytes) size = 2 * c->size;
        arena_chunk *fresh = chunk_new(size);
        if (!fresh) return NULL;
        fresh->next = c;
        a->chunks = c = fresh;
    }
    void *p = c->data + c->used;
    c->used += bytes;
    a->used_total += bytes;
    if (a->used_total > a->peak) a->peak = a->used_total;
    return p;
}

arena_mark_t arena_mark(const arena *a)
{
    arena_mark_t m = {a->chunks, a->chunks ? a->chunks->used : 0, a->used_total};
    return m;
}

void arena_release(arena *a, arena_mark_t m)
{
    /* Chunks added since the mark hold only what was allocated after it: hand them back too, so
     * a step that is still growing the arena does not keep every scope's scratch until reset. */
    while (a->chunks && a->chunks != m.chunk) {
        arena_chunk *newer = a->chunks;
        a->chunks = newer->next;
        newer->next = NULL;
        free_chunks(newer);
    }
    if (a->chunks) a->chunks->used = m.used;
    a->used_total = m.used_total;
}
