/* BPE: chars (with continuing_subword_prefix / end_of_word_suffix) mapped to ids, unknown ones to
 * byte-fallback tokens or (fused) unk, then merges applied lowest rank first, leftmost first,
 * exactly HF's Word::merge_all. Words are cached. */
#include "tokenize/tokenizer.h"
#include "core/error.h"
#include "core/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct merge_slot { uint64_t key; uint32_t rank; int32_t new_id; } merge_slot;
struct bpe_merges { merge_slot *slots; size_t mask, n; };

static inline uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }
static inline size_t pair_hash(uint64_t k) { k ^= k >> 31; k *= 0x9E3779B97F4A7C15ULL; return (size_t)(k ^ (k >> 29)); }

static const merge_slot *merge_get(const struct bpe_merges *mg, int32_t a, int32_t b)
{
    if (!mg || !mg->slots) return NULL;
    uint64_t k = pair_key(a, b);
    for (size_t j = pair_hash(k) & mg->mask;; j = (j + 1) & mg->mask) {
        if (mg->slots[j].new_id < 0) return NULL;
        if (mg->slots[j].key == k) return &mg->slots[j];
    }
}

static void merge_put(struct bpe_merges *mg, int32_t a, int32_t b, uint32_t rank, int32_t new_id)
{
    uint64_t k = pair_key(a, b);
    size_t j = pair_hash(k) & mg->mask;
    for (; mg->slots[j].new_id >= 0; j = (j + 1) & mg->mask)
        if (mg->slots[j].key == k) return; /* HF keeps the first (lowest) rank of a duplicate */
    mg->slots[j] = (merge_slot){k, rank, new_id};
    mg->n++;
}

/* ---------------------------------------------------------------- cache of merged words */
struct bpe_cache {
    strmap words;                 /* word -> first index into syms */
    int32_t *syms; size_t n, cap; /* per word: count, then (id, start, end) triples */
};
#define CACHE_MAX_WORDS 200000

void bpe_free_parts(model *m)
{
    if (m->merges) { free(m->merges->slots); free(m->merges); m->merges = NULL; }
    if (m->cache) { strmap_free(&m->cache->words); free(m->cache->syms); free(m->cache); m->cache = NULL; }
}

static adapt_status merge_parts(const cJSON *it, const char *what, size_t i, const char **a, size_t *al, const char **b, size_t *bl)
{
    if (cJSON_IsString(it)) {
        const char *s = it->valuestring, *sp = strchr(s, ' ');
        if (!sp) return adapt_fail(ADAPT_ERR_FORMAT, "%s: merge %zu \"%.40s\" is not \"a b\"", what, i, s);
        *a = s; *al = (size_t)(sp - s); *b = sp + 1; *bl = strlen(sp + 1);
        return ADAPT_OK;
    }
    const cJSON *x = cJSON_GetArrayItem(it, 0), *y = cJSON_GetArrayItem(it, 1);
    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2 || !cJSON_IsString(x) || !cJSON_IsString(y))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: merge %zu is neither \"a b\" nor [a, b]", what, i);
    *a = x->valuestring; *al = strlen(*a); *b = y->valuestring; *bl = strlen(*b);
    return ADAPT_OK;
}

adapt_status bpe_load(model *m, const cJSON *j, const char *what)
{
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(j, "merges");
    size_t n = cJSON_IsArray(merges) ? (size_t)cJSON_GetArraySize(merges) : 0;
    if (merges && !cJSON_IsNull(merges) && !cJSON_IsArray(merges)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: BPE \"merges\" must be an array", what);
    m->merges = tk_alloc(sizeof *m->merges);
    size_t slots = 64;
    while (slots < 2 * n + 2) slots *= 2;
    m->merges->slots = tk_alloc(slots * sizeof *m->merges->slots);
    for (size_t i = 0; i < slots; i++) m->merges->slots[i].new_id = -1;
    m->merges->mask = slots - 1; m->merges->n = 0;
    m->cache = tk_alloc(sizeof *m->cache);
    memset(m->cache, 0, sizeof *m->cache);
    size_t plen = m->prefix ? strlen(m->prefix) : 0, i = 0;
    char *buf = NULL; size_t cap = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, merges) {
        const char *a = NULL, *b = NULL; size_t al = 0, bl = 0;
        adapt_status st = merge_parts(it, what, i, &a, &al, &b, &bl);
        int32_t ia = 0, ib = 0, inew = 0;
        if (!st && (!strmap_get(&m->vocab, a, al, &ia) || !strmap_get(&m->vocab, b, bl, &ib)))
            st = adapt_fail(ADAPT_ERR_FORMAT, "%s: merge %zu uses a token missing from the vocabulary", what, i);
        if (!st && bl < plen) st = adapt_fail(ADAPT_ERR_FORMAT, "%s: merge %zu: second part lacks the subword prefix", what, i);
        if (!st) {
            TK_GROW(buf, cap, al + bl + 1);
            memcpy(buf, a, al); memcpy(buf + al, b + plen, bl - plen);
            buf[al + bl - plen] = 0; /* the message below prints it with %.40s */
            if (!strmap_get(&m->vocab, buf, al + bl - plen, &inew))
                st = adapt_fail(ADAPT_ERR_FORMAT, "%s: merge %zu result \"%.40s\" is missing from the vocabulary", what, i, buf);
        }
        if (st) { free(buf); return st; }
        merge_put(m->merges, ia, ib, (uint32_t)i, inew);
        i++;
    }
    free(buf);
    return ADAPT_OK;
}

/* ---------------------------------------------------------------- merging one word */
typedef struct sym { int32_t id, start, end, prev, next; bool dead; } sym;
typedef struct hent { uint32_t rank; int32_t pos, new_id; } hent;

static inline bool h_less(hent a, hent b) { return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos; }
static void h_push(hent *h, size_t *n, hent e)
{
    size_t i = (*n)++;
    while (i) { size_t p = (i - 1) / 2; if (!h_less(e, h[p])) break; h[i] = h[p]; i = p; }
    h[i] = e;
}
static hent h_pop(hent *h, size_t *n)
{
    hent top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        hent best = last;
        if (l < *n && h_less(h[l], best)) { m = l; best = h[l]; }
        if (r < *n && h_less(h[r], best)) m = r;
        if (m == i) break;
        h[i] = h[m]; i = m;
    }
    if (*n) h[i] = last;
    return top;
}

static void merge_all(const struct bpe_merges *mg, sym *s, size_t n, hent *heap)
{
    size_t hn = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        const merge_slot *ms = merge_get(mg, s[i].id, s[i + 1].id);
        if (ms) h_push(heap, &hn, (hent){ms->rank, (int32_t)i, ms->new_id});
    }
    while (hn) {
        hent top = h_pop(heap, &hn);
        sym *cur = &s[top.pos];
        if (cur->dead || cur->next < 0) continue;
        sym *right = &s[cur->next];
        const merge_slot *ms = merge_get(mg, cur->id, right->id);
        if (!ms || ms->new_id != top.new_id) continue; /* stale entry */
        cur->id = top.new_id;
        cur->end = right->end;
        right->dead = true;
        cur->next = right->next;
        if (cur->next >= 0) s[cur->next].prev = top.pos;
        if (cur->prev >= 0 && (ms = merge_get(mg, s[cur->prev].id, cur->id)))
            h_push(heap, &hn, (hent){ms->rank, cur->prev, ms->new_id});
        if (cur->next >= 0 && (ms = merge_get(mg, cur->id, s[cur->next].id)))
            h_push(heap, &hn, (hent){ms->rank, top.pos, ms->new_id});
    }
}

static void add_sym(sym **s, size_t *n, size_t *cap, int32_t id, int32_t start, int32_t end)
{
    TK_GROW(*s, *cap, *n + 1);
    (*s)[*n] = (sym){id, start, end, (int32_t)*n - 1, (int32_t)*n + 1, false};
    (*n)++;
}

/* Fills the cache entry for the word text[0..len) and returns its offset in cache->syms. */
static size_t merge_word(model *m, const char *text, const uint32_t *char_at, size_t nchars)
{
    sym *s = NULL; size_t n = 0, cap = 0;
    size_t plen = m->prefix ? strlen(m->prefix) : 0, slen = m->suffix ? strlen(m->suffix) : 0;
    char stack_buf[128]; char *buf = stack_buf; size_t bcap = sizeof stack_buf;
    int32_t unk_id = -1, unk_start = 0, unk_end = 0;
    bool have_unk = false;
    int32_t unk_tok = -1;
    if (m->unk_token) strmap_get(&m->vocab, m->unk_token, strlen(m->unk_token), &unk_tok);
    for (size_t i = 0; i < nchars; i++) {
        size_t cb = char_at[i], ce = char_at[i + 1];
        size_t pl = (i > 0) ? plen : 0, sl = (i + 1 == nchars) ? slen : 0, need = pl + (ce - cb) + sl;
        if (need > bcap) { bcap = need * 2; buf = buf == stack_buf ? tk_alloc(bcap) : tk_realloc(buf, bcap); }
        if (pl) memcpy(buf, m->prefix, pl);
        memcpy(buf + pl, text + cb, ce - cb);
        if (sl) memcpy(buf + pl + (ce - cb), m->suffix, sl);
        int32_t id;
        if (strmap_get(&m->vocab, buf, need, &id)) {
            if (have_unk) { add_sym(&s, &n, &cap, unk_id, unk_start, unk_end); have_unk = false; }
            add_sym(&s, &n, &cap, id, (int32_t)i, (int32_t)i + 1);
            continue;
        }
        if (m->byte_fallback) {
            int32_t ids[64]; bool all = need <= 64;
            for (size_t k = 0; k < need && all; k++) {
                char code[8];
                snprintf(code, sizeof code, "<0x%02X>", (unsigned char)buf[k]);
                all = strmap_get(&m->vocab, code, 6, &ids[k]);
            }
            if (all) {
                /* HF gives each byte token a length of one byte; in chars they all span this char */
                for (size_t k = 0; k < need; k++) add_sym(&s, &n, &cap, ids[k], (int32_t)i, (int32_t)i + 1);
                continue;
            }
        }
        if (m->unk_token && unk_tok >= 0) {
            if (have_unk && m->fuse_unk) unk_end = (int32_t)i + 1;
            else {
                if (have_unk) add_sym(&s, &n, &cap, unk_id, unk_start, unk_end);
                unk_id = unk_tok; unk_start = (int32_t)i; unk_end = (int32_t)i + 1; have_unk = true;
            }
        }
    }
    if (have_unk) add_sym(&s, &n, &cap, unk_id, unk_start, unk_end);
    if (n) s[n - 1].next = -1;
    if (n > 1) {
        hent *heap = tk_alloc(n * 4 * sizeof *heap + sizeof *heap);
        merge_all(m->merges, s, n, heap);
        free(heap);
    }
    bpe_cache *c = m->cache;
    size_t at = c->n, cnt = 0;
    TK_GROW(c->syms, c->cap, c->n + 1 + 3 * n);
    c->n++;
    for (size_t i = 0; i < n; i = (size_t)(s[i].next < 0 ? (int32_t)n : s[i].next)) {
        c->syms[c->n++] = s[i].id; c->syms[c->n++] = s[i].start; c->syms[c->n++] = s[i].end;
        cnt++;
        if (s[i].next < 0) break;
    }
    c->syms[at] = (int32_t)cnt;
    if (buf != stack_buf) free(buf);
    free(s);
    return at;
}

void bpe_tokenize(model *m, const char *text, size_t len, const uint32_t *char_at, size_t nchars, model_out *out)
{
    int32_t id;
    if (m->ignore_merges && strmap_get(&m->vocab, text, len, &id)) {
        model_out_push(out, id, 0, (int32_t)nchars, m->id_to_token[id], strlen(m->id_to_token[id]));
        return;
    }
    bpe_cache *c = m->cache;
    uint64_t h = strmap_hash(text, len);
    int32_t at;
    if (!strmap_get_h(&c->words, text, len, h, &at)) {
        if (c->words.n >= CACHE_MAX_WORDS || c->n > (1u << 28)) { strmap_free(&c->words); strmap_init(&c->words); c->n = 0; }
        at = (int32_t)merge_word(m, text, char_at, nchars);
        strmap_put(&c->words, text, len, at);
    }
    int32_t cnt = c->syms[at];
    for (int32_t k = 0; k < cnt; k++) {
        const int32_t *t = &c->syms[at + 1 + 3 * k];
        const char *tok = m->id_to_token[t[0]];
        model_out_push(out, t[0], t[1], t[2], tok ? tok : "", tok ? strlen(tok) : 0);
    }
}
