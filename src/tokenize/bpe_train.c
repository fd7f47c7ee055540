/* BPE training: pair counts with per-pair word lists and a lazy max-heap, so each merge only
 * touches the words that contain its pair. Counts of existing pairs only fall during a merge
 * (new pairs all contain the new symbol), so stale heap entries are re-pushed on pop. */
#include "tokenize/bpe_train.h"
#include "tokenize/tokenizer.h"
#include <stdlib.h>
#include <string.h>

typedef struct pstat { int32_t a, b; int64_t count; int32_t *words; size_t nw, cw; } pstat;
typedef struct hitem { int64_t count; int32_t idx; } hitem;

typedef struct ptable {
    pstat *v; size_t n, cap;
    int32_t *slots; size_t mask; /* index+1 */
    hitem *heap; size_t hn, hcap;
} ptable;

static size_t phash(int32_t a, int32_t b) { uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; k *= 0x9E3779B97F4A7C15ULL; return (size_t)(k ^ (k >> 31)); }

static void prehash(ptable *t, size_t ns)
{
    free(t->slots);
    t->slots = tk_alloc(ns * sizeof *t->slots);
    memset(t->slots, 0, ns * sizeof *t->slots);
    t->mask = ns - 1;
    for (size_t i = 0; i < t->n; i++) {
        size_t j = phash(t->v[i].a, t->v[i].b) & t->mask;
        while (t->slots[j]) j = (j + 1) & t->mask;
        t->slots[j] = (int32_t)i + 1;
    }
}

static int32_t pget(ptable *t, int32_t a, int32_t b)
{
    if (!t->slots) prehash(t, 1024);
    size_t j = phash(a, b) & t->mask;
    for (; t->slots[j]; j = (j + 1) & t->mask) {
        pstat *p = &t->v[t->slots[j] - 1];
        if (p->a == a && p->b == b) return t->slots[j] - 1;
    }
    TK_GROW(t->v, t->cap, t->n + 1);
    t->v[t->n] = (pstat){a, b, 0, NULL, 0, 0};
    t->slots[j] = (int32_t)++t->n;
    if (t->n * 2 > t->mask + 1) prehash(t, (t->mask + 1) * 2);
    return (int32_t)t->n - 1;
}

static void add_word(pstat *p, int32_t w)
{
    if (p->nw && p->words[p->nw - 1] == w) return;
    TK_GROW(p->words, p->cw, p->nw + 1);
    p->words[p->nw++] = w;
}

static bool hbetter(hitem x, hitem y) { return x.count != y.count ? x.count > y.count : x.idx < y.idx; }
static void hpush(ptable *t, int64_t count, int32_t idx)
{
    TK_GROW(t->heap, t->hcap, t->hn + 1);
    hitem e = {count, idx};
    size_t i = t->hn++;
    while (i) { size_t p = (i - 1) / 2; if (!hbetter(e, t->heap[p])) break; t->heap[i] = t->heap[p]; i = p; }
    t->heap[i] = e;
}
static hitem hpop(ptable *t)
{
    hitem top = t->heap[0], last = t->heap[--t->hn];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        hitem best = last;
        if (l < t->hn && hbetter(t->heap[l], best)) { m = l; best = t->heap[l]; }
        if (r < t->hn && hbetter(t->heap[r], best)) m = r;
        if (m == i) break;
        t->heap[i] = t->heap[m]; i = m;
    }
    if (t->hn) t->heap[i] = last;
    return top;
}

int32_t bpe_learner_symbol(bpe_learner *l, const char *s, size_t len)
{
    int32_t id;
    if (strmap_get(&l->sym_index, s, len, &id)) return id;
    strmap_put(&l->sym_index, s, len, (int32_t)l->n_sym);
    TK_GROW(l->sym, l->cap_sym, l->n_sym + 1);
    char *c = tk_alloc(len + 1);
    memcpy(c, s, len); c[len] = 0;
    l->sym[l->n_sym] = c;
    return (int32_t)l->n_sym++;
}

void bpe_learner_add_word(bpe_learner *l, const int32_t *syms, int32_t n, int64_t count)
{
    if (l->n_words == l->cap_words) {
        size_t c = l->cap_words ? l->cap_words * 2 : 1024;
        l->word = tk_realloc(l->word, c * sizeof *l->word);
        l->wlen = tk_realloc(l->wlen, c * sizeof *l->wlen);
        l->wcount = tk_realloc(l->wcount, c * sizeof *l->wcount);
        l->cap_words = c;
    }
    l->word[l->n_words] = tk_alloc((size_t)(n ? n : 1) * sizeof *syms);
    memcpy(l->word[l->n_words], syms, (size_t)n * sizeof *syms);
    l->wlen[l->n_words] = n;
    l->wcount[l->n_words] = count;
    l->n_words++;
}

static int32_t merged_symbol(bpe_learner *l, int32_t a, int32_t b)
{
    const char *sa = l->sym[a], *sb = l->sym[b];
    size_t pl = l->strip_prefix ? strlen(l->strip_prefix) : 0;
    if (pl && strncmp(sb, l->strip_prefix, pl)) pl = 0;
    size_t la = strlen(sa), lb = strlen(sb) - pl;
    TK_GROW(l->sym, l->cap_sym, l->n_sym + 1);
    char *c = tk_alloc(la + lb + 1);
    memcpy(c, sa, la); memcpy(c + la, sb + pl, lb); c[la + lb] = 0;
    l->sym[l->n_sym] = c;
    return (int32_t)l->n_sym++;
}

void bpe_learner_run(bpe_learner *l, size_t vocab_size, size_t n_reserved, int64_t min_frequency)
{
    ptable t = {0};
    for (size_t w = 0; w < l->n_words; w++)
        for (int32_t i = 0; i + 1 < l->wlen[w]; i++) {
            int32_t p = pget(&t, l->word[w][i], l->word[w][i + 1]);
            t.v[p].count += l->wcount[w];
            add_word(&t.v[p], (int32_t)w);
        }
    for (size_t i = 0; i < t.n; i++) if (t.v[i].count > 0) hpush(&t, t.v[i].count, (int32_t)i);
    int32_t *touched = NULL; size_t nt = 0, ct = 0;
    while (l->n_sym + n_reserved < vocab_size && t.hn) {
        hitem top = hpop(&t);
        pstat *p = &t.v[top.idx];
        if (top.count != p->count) { if (p->count > 0) hpush(&t, p->count, top.idx); continue; }
        if (p->count < min_frequency || p->count <= 0) break;
        int32_t a = p->a, b = p->b;
        int32_t z = merged_symbol(l, a, b);
        TK_GROW(l->merges, l->cap_merges, l->n_merges + 1);
        l->merges[l->n_merges][0] = a; l->merges[l->n_merges][1] = b; l->n_merges++;
        /* the word list may grow while we walk it (pget can move t.v): take it over */
        int32_t *words = p->words; size_t nw = p->nw;
        p->words = NULL; p->nw = p->cw = 0;
        nt = 0;
        for (size_t k = 0; k < nw; k++) {
            int32_t w = words[k];
            int32_t *s = l->word[w], n = l->wlen[w];
            int64_t c = l->wcount[w];
            int32_t o = 0;
            for (int32_t i = 0; i < n; i++) {
                if (i + 1 < n && s[i] == a && s[i + 1] == b) {
                    if (o > 0) { int32_t q = pget(&t, s[o - 1], a); t.v[q].count -= c; }
                    if (i + 2 < n) { int32_t q = pget(&t, b, s[i + 2]); t.v[q].count -= c; }
                    t.v[top.idx].count -= c;
                    s[o] = z;
                    if (o > 0) {
                        int32_t q = pget(&t, s[o - 1], z); t.v[q].count += c; add_word(&t.v[q], w);
                        TK_GROW(touched, ct, nt + 1); touched[nt++] = q;
                    }
                    if (i + 2 < n) {
                        /* the right neighbour may itself start another (a, b): handled next round
                         * through the pair (z, a) bookkeeping below */
                        int32_t q = pget(&t, z, s[i + 2]); t.v[q].count += c; add_word(&t.v[q], w);
                        TK_GROW(touched, ct, nt + 1); touched[nt++] = q;
                    }
                    o++; i++;
                } else s[o++] = s[i];
            }
            l->wlen[w] = o;
        }
        free(words);
        for (size_t k = 0; k < nt; k++) if (t.v[touched[k]].count > 0) hpush(&t, t.v[touched[k]].count, touched[k]);
    }
    free(touched);
    for (size_t i = 0; i < t.n; i++) free(t.v[i].words);
    free(t.v); free(t.slots); free(t.heap);
}

void bpe_learner_free(bpe_learner *l)
{
    for (size_t i = 0; i < l->n_sym; i++) free(l->sym[i]);
    for (size_t i = 0; i < l->n_words; i++) free(l->word[i]);
    strmap_free(&l->sym_index);
    free(l->sym); free(l->word); free(l->wlen); free(l->wcount); free(l->merges);
    memset(l, 0, sizeof *l);
}
