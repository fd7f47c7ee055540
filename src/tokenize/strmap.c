/* String hash map used for vocabularies and caches. */
#include "tokenize/strmap.h"
#include "tokenize/tokenizer.h"
#include <stdlib.h>
#include <string.h>

void strmap_init(strmap *m) { memset(m, 0, sizeof *m); }

void strmap_free(strmap *m)
{
    free(m->slots); free(m->entries); free(m->arena);
    memset(m, 0, sizeof *m);
}

/* FNV-1a over 8-byte words with a final mix: fast and good enough for vocabulary keys. */
uint64_t strmap_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w; memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ULL; h ^= h >> 29;
    }
    for (; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    h ^= h >> 33; h *= 0xff51afd7ed558ccdULL; h ^= h >> 33;
    return h;
}

static void rehash(strmap *m, size_t nslots)
{
    free(m->slots);
    m->slots = tk_alloc(nslots * sizeof *m->slots);
    memset(m->slots, 0, nslots * sizeof *m->slots);
    m->mask = nslots - 1;
    for (size_t i = 0; i < m->n; i++) {
        size_t j = m->entries[i].hash & m->mask;
        while (m->slots[j]) j = (j + 1) & m->mask;
        m->slots[j] = (uint32_t)(i + 1);
    }
}

bool strmap_get_h(const strmap *m, const char *key, size_t len, uint64_t h, int32_t *value)
{
    if (!m->slots) return false;
    for (size_t j = h & m->mask;; j = (j + 1) & m->mask) {
        uint32_t e = m->slots[j];
        if (!e) return false;
        const struct strmap_entry *en = &m->entries[e - 1];
        if (en->hash == h && en->len == len && !memcmp(m->arena + en->off, key, len)) {
            *value = en->value;
            return true;
        }
    }
}

bool strmap_get(const strmap *m, const char *key, size_t len, int32_t *value)
{
    return strmap_get_h(m, key, len, strmap_hash(key, len), value);
}

void strmap_put(strmap *m, const char *key, size_t len, int32_t value)
{
    uint64_t h = strmap_hash(key, len);
    if (m->slots) {
        for (size_t j = h & m->mask;; j = (j + 1) & m->mask) {
            uint32_t e = m->slots[j];
            if (!e) break;
            struct strmap_entry *en = &m->entries[e - 1];
            if (en->hash == h && en->len == len && !memcmp(m->arena + en->off, key, len)) {
                en->value = value;
                return;
            }
        }
    }
    TK_GROW(m->entries, m->cap, m->n + 1);
    TK_GROW(m->arena, m->arena_cap, m->arena_len + len + 1);
    memcpy(m->arena + m->arena_len, key, len);
    m->arena[m->arena_len + len] = 0;
    m->entries[m->n] = (struct strmap_entry){h, m->arena_len, (uint32_t)len, value};
    m->arena_len += len + 1;
    m->n++;
    if (!m->slots || m->n * 2 > m->mask + 1) rehash(m, m->slots ? (m->mask + 1) * 2 : 64);
    else {
        size_t j = h & m->mask;
        while (m->slots[j]) j = (j + 1) & m->mask;
        m->slots[j] = (uint32_t)m->n;
    }
}
