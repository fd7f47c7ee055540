/* The SentencePiece "precompiled charsmap" normalizer: a Darts double-array trie over UTF-8 keys
 * whose values index NUL-terminated replacement strings. Applied the way HF `tokenizers` does:
 * per extended grapheme cluster first (clusters under 6 bytes, FIRST prefix match replaces the
 * whole cluster), otherwise per char. */
#include "tokenize/tokenizer.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

struct precompiled {
    uint32_t *units; size_t n_units;
    char *norm; size_t norm_len;
};

adapt_status precompiled_parse(const unsigned char *blob, size_t len, const char *what, precompiled **out)
{
    *out = NULL;
    if (len < 4) return adapt_fail(ADAPT_ERR_FORMAT, "%s: precompiled_charsmap shorter than its header", what);
    uint32_t trie_bytes = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    if (trie_bytes % 4 || trie_bytes > len - 4 || trie_bytes == 0)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: precompiled_charsmap trie size %u does not fit its %zu bytes", what, trie_bytes, len);
    precompiled *p = tk_alloc(sizeof *p);
    p->n_units = trie_bytes / 4;
    p->units = tk_alloc(trie_bytes);
    for (size_t i = 0; i < p->n_units; i++) {
        const unsigned char *u = blob + 4 + 4 * i;
        p->units[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    }
    p->norm_len = len - 4 - trie_bytes;
    p->norm = tk_alloc(p->norm_len + 1);
    memcpy(p->norm, blob + 4 + trie_bytes, p->norm_len);
    p->norm[p->norm_len] = 0;
    *out = p;
    return ADAPT_OK;
}

void precompiled_free(precompiled *p)
{
    if (!p) return;
    free(p->units); free(p->norm); free(p);
}

/* Darts unit fields. */
static inline uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }
static inline bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }
static inline uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }

/* The replacement of the shortest key that prefixes `key` (what spm_precompiled returns), or NULL. */
static const char *lookup(const precompiled *p, const unsigned char *key, size_t len, size_t *out_len)
{
    size_t pos = 0;
    uint32_t unit = p->units[0];
    pos ^= unit_offset(unit);
    for (size_t i = 0; i < len; i++) {
        if (!key[i]) break;
        pos ^= key[i];
        if (pos >= p->n_units) return NULL;
        unit = p->units[pos];
        if (unit_label(unit) != key[i]) return NULL;
        pos ^= unit_offset(unit);
        if (pos >= p->n_units) return NULL;
        if (unit_has_leaf(unit)) {
            uint32_t v = unit_value(p->units[pos]);
            if (v >= p->norm_len) return NULL;
            *out_len = strlen(p->norm + v);
            return p->norm + v;
        }
    }
    return NULL;
}

typedef struct change { uint32_t c; long ch; } change;
typedef struct changes { change *v; size_t n, cap; } changes;

static void push_change(changes *t, uint32_t c, long ch)
{
    TK_GROW(t->v, t->cap, t->n + 1);
    t->v[t->n++] = (change){c, ch};
}

/* HF's `replace` helper: new chars replace old ones; extra new chars are insertions; missing
 * ones are charged, as removals, to the last transformation so far. */
static void replace(changes *t, size_t old_count, const char *norm, size_t norm_len)
{
    size_t first = t->n, i = 0;
    while (i < norm_len) push_change(t, utf8_next(norm, &i), 0);
    long diff = (long)(t->n - first) - (long)old_count;
    if (diff > 0) for (size_t k = 0; k < (size_t)diff; k++) t->v[t->n - 1 - k].ch = 1;
    else if (diff < 0 && t->n) t->v[t->n - 1].ch += diff;
}

void precompiled_apply(const precompiled *p, nstr *s)
{
    changes t = {0};
    bool modified = false;
    unsigned char buf[64];
    size_t i = 0;
    utf8proc_int32_t state = 0;
    while (i < s->n) {
        /* one extended grapheme cluster [i, j) */
        size_t j = i + 1;
        while (j < s->n && !utf8proc_grapheme_break_stateful((utf8proc_int32_t)s->c[j - 1], (utf8proc_int32_t)s->c[j], &state)) j++;
        size_t blen = 0;
        bool small = true;
        for (size_t k = i; k < j && small; k++) {
            if (blen + 4 > sizeof buf) { small = false; break; }
            blen += utf8_encode(s->c[k], (char *)buf + blen);
        }
        size_t nlen;
        const char *norm;
        if (small && blen < 6 && (norm = lookup(p, buf, blen, &nlen))) {
            modified = true;
            replace(&t, j - i, norm, nlen);
        } else {
            for (size_t k = i; k < j; k++) {
                size_t cl = utf8_encode(s->c[k], (char *)buf);
                if ((norm = lookup(p, buf, cl, &nlen))) {
                    modified = true;
                    replace(&t, 1, norm, nlen);
                } else push_change(&t, s->c[k], 0);
            }
        }
        i = j;
    }
    if (modified) {
        nbuild b;
        nb_begin(&b, s);
        for (size_t k = 0; k < t.n; k++) {
            if (t.v[k].ch > 0) nb_insert(&b, t.v[k].c);
            else {
                if (b.pos >= s->n) break; /* HF would index past the end here; never happens for sane maps */
                nb_keep(&b, t.v[k].c);
                nb_skip(&b, (size_t)(-t.v[k].ch));
            }
        }
        nb_finish(&b, s);
    }
    free(t.v);
}
