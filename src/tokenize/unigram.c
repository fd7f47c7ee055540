/* Unigram: Viterbi over the byte positions of a piece with every vocabulary entry as a candidate
 * (HF's encode_optimized), unknown chars scored min_score - 10, consecutive unknowns fused,
 * optional byte fallback to <0xXX> tokens. */
#include "tokenize/tokenizer.h"
#include "core/error.h"
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNK_PENALTY 10.0

/* A byte trie whose edges live in one hash table keyed by (node, byte). */
struct byte_trie {
    struct edge { uint32_t node; uint32_t child; } *edges; /* key = node << 8 | byte in .node */
    size_t mask, n_edges;
    int32_t *value;   /* per node: token id or -1 */
    size_t n_nodes, cap_nodes;
};

static inline size_t edge_hash(uint64_t k) { k *= 0x9E3779B97F4A7C15ULL; return (size_t)(k >> 20); }

static uint32_t trie_child(const byte_trie *t, uint32_t node, unsigned char b)
{
    uint64_t key = ((uint64_t)node << 8) | b;
    for (size_t j = edge_hash(key) & t->mask;; j = (j + 1) & t->mask) {
        if (!t->edges[j].child) return 0;
        if (((uint64_t)t->edges[j].node) == key) return t->edges[j].child;
    }
}

static void trie_grow_edges(byte_trie *t)
{
    size_t old = t->mask + 1, nsz = old * 2;
    struct edge *e = t->edges;
    t->edges = tk_alloc(nsz * sizeof *t->edges);
    memset(t->edges, 0, nsz * sizeof *t->edges);
    t->mask = nsz - 1;
    for (size_t i = 0; i < old; i++) {
        if (!e[i].child) continue;
        size_t j = edge_hash(e[i].node) & t->mask;
        while (t->edges[j].child) j = (j + 1) & t->mask;
        t->edges[j] = e[i];
    }
    free(e);
}

static void trie_insert(byte_trie *t, const char *s, size_t len, int32_t id)
{
    uint32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        uint32_t c = trie_child(t, node, b);
        if (!c) {
            TK_GROW(t->value, t->cap_nodes, t->n_nodes + 1);
            c = (uint32_t)t->n_nodes++;
            t->value[c] = -1;
            if (2 * (t->n_edges + 1) > t->mask + 1) trie_grow_edges(t);
            uint64_t key = ((uint64_t)node << 8) | b;
            size_t j = edge_hash(key) & t->mask;
            while (t->edges[j].child) j = (j + 1) & t->mask;
            t->edges[j].node = (uint32_t)key; t->edges[j].child = c;
            t->n_edges++;
        }
        node = c;
    }
    if (t->value[node] < 0) t->value[node] = id;
}

void unigram_free_parts(model *m)
{
    free(m->scores); m->scores = NULL;
    if (m->trie) { free(m->trie->edges); free(m->trie->value); free(m->trie); m->trie = NULL; }
}

adapt_status unigram_build(model *m, const char *what)
{
    (void)what;
    if (m->vocab_size > (1u << 24) / 2) return adapt_fail(ADAPT_ERR_FORMAT, "%s: Unigram vocabulary too large", what);
    byte_trie *t = tk_alloc(sizeof *t);
    memset(t, 0, sizeof *t);
    t->mask = 1023;
    t->edges = tk_alloc((t->mask + 1) * sizeof *t->edges);
    memset(t->edges, 0, (t->mask + 1) * sizeof *t->edges);
    TK_GROW(t->value, t->cap_nodes, 1);
    t->value[0] = -1; t->n_nodes = 1;
    m->min_score = DBL_MAX;
    for (size_t i = 0; i < m->vocab_size; i++) {
        const char *tok = m->id_to_token[i];
        if (tok) {
            /* node ids must fit 24 bits in the edge key */
            if (t->n_nodes + strlen(tok) >= (1u << 24)) { m->trie = t; return adapt_fail(ADAPT_ERR_FORMAT, "%s: Unigram vocabulary too large", what); }
            trie_insert(t, tok, strlen(tok), (int32_t)i);
        }
        if (m->scores[i] < m->min_score) m->min_score = m->scores[i];
    }
    if (m->vocab_size == 0) m->min_score = 0;
    m->trie = t;
    return ADAPT_OK;
}

typedef struct node { double score; int32_t id; int32_t start; } node;

static void push_piece(const model *m, const char *text, size_t a, size_t e, int32_t cs, int32_t ce, int32_t id, model_out *out)
{
    int32_t got;
    if (id == m->unk_id && !strmap_get(&m->vocab, text + a, e - a, &got)) {
        if (m->byte_fallback) {
            size_t first = out->n;
            bool all = true;
            for (size_t k = a; k < e && all; k++) {
                char code[8];
                snprintf(code, sizeof code, "<0x%02X>", (unsigned char)text[k]);
                int32_t bid;
                if ((all = strmap_get(&m->vocab, code, 6, &bid))) model_out_push(out, bid, cs, ce, m->id_to_token[bid], 6);
            }
            if (all) return;
            out->n = first;
        }
        model_out_push(out, m->unk_id, cs, ce, text + a, e - a);
        return;
    }
    model_out_push(out, id, cs, ce, text + a, e - a);
}

void unigram_tokenize(const model *m, const char *text, size_t len, const uint32_t *char_at, size_t nchars, model_out *out)
{
    if (!len) return;
    node *best = tk_alloc((len + 1) * sizeof *best);
    int32_t *char_of = tk_alloc((len + 1) * sizeof *char_of);
    for (size_t i = 0; i <= len; i++) { best[i].start = -1; best[i].score = 0; best[i].id = -1; }
    for (size_t c = 0; c <= nchars; c++) char_of[char_at[c]] = (int32_t)c;
    const byte_trie *t = m->trie;
    double unk_score = m->min_score - UNK_PENALTY;
    for (size_t c = 0; c < nchars; c++) {
        size_t s = char_at[c], mblen = char_at[c + 1] - s;
        double base = best[s].score;
        bool single = false;
        uint32_t nd = 0;
        for (size_t k = s; k < len; k++) {
            nd = trie_child(t, nd, (unsigned char)text[k]);
            if (!nd) break;
            int32_t id = t->value[nd];
            if (id < 0) continue;
            size_t e = k + 1;
            double cand = m->scores[id] + base;
            if (best[e].start < 0 || cand > best[e].score) { best[e].score = cand; best[e].start = (int32_t)s; best[e].id = id; }
            if (e - s == mblen) single = true;
        }
        if (!single) {
            size_t e = s + mblen;
            double cand = unk_score + base;
            if (best[e].start < 0 || cand > best[e].score) { best[e].score = cand; best[e].start = (int32_t)s; best[e].id = m->unk_id; }
        }
    }
    /* walk back, then emit left to right; consecutive unknowns are fused */
    size_t cnt = 0;
    size_t *ends = tk_alloc((nchars + 1) * sizeof *ends);
    for (size_t e = len; e > 0; e = (size_t)best[e].start) {
        if (best[e].start < 0) break; /* unreachable without an unk id: HF errors, we stop */
        ends[cnt++] = e;
    }
    size_t i = cnt;
    while (i > 0) {
        size_t e = ends[--i];
        size_t a = (size_t)best[e].start;
        int32_t id = best[e].id;
        if (id == m->unk_id && m->unk_id >= 0) {
            while (i > 0 && best[ends[i - 1]].id == m->unk_id) e = ends[--i];
        }
        if (id < 0) continue;
        push_piece(m, text, a, e, char_of[a], char_of[e], id, out);
    }
    free(ends); free(best); free(char_of);
}
