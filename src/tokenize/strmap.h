/* String -> int32 hash map (open addressing, keys copied into one arena). */
#ifndef ADAPT_TOKENIZE_STRMAP_H
#define ADAPT_TOKENIZE_STRMAP_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct strmap {
    uint32_t *slots;        /* index+1 into entries, 0 = empty */
    size_t mask;
    struct strmap_entry { uint64_t hash; size_t off; uint32_t len; int32_t value; } *entries;
    size_t n, cap;
    char *arena; size_t arena_len, arena_cap;
} strmap;

void strmap_init(strmap *m);
void strmap_free(strmap *m);
uint64_t strmap_hash(const char *s, size_t len);
/* Inserts or overwrites. */
void strmap_put(strmap *m, const char *key, size_t len, int32_t value);
/* Returns false when absent. */
bool strmap_get(const strmap *m, const char *key, size_t len, int32_t *value);
bool strmap_get_h(const strmap *m, const char *key, size_t len, uint64_t h, int32_t *value);
static inline const char *strmap_key(const strmap *m, size_t i) { return m->arena + m->entries[i].off; }
#endif
