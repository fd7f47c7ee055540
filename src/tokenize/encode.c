/* The encoding pipeline: added tokens, normalizer, pre-tokenizer, model, truncation,
 * post-processor, padding; and the public encode/decode API. */
#include "tokenize/tokenizer.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

typedef struct scratch { char *buf; size_t cap; uint32_t *at; size_t at_cap; model_out mo; } scratch;

/* One sequence -> tokens with offsets into its own text and word ids. */
static void encode_sequence(adapt_tokenizer *t, const char *text, size_t len, int32_t type_id, scratch *sc, tk_encoding *enc)
{
    uint32_t *cps = tk_alloc((len + 1) * sizeof *cps);
    size_t n = utf8_decode_lossy(text, len, cps);
    nstr s; nstr_init(&s, 0);
    nstr_reserve(&s, n);
    for (size_t i = 0; i < n; i++) { s.c[i] = cps[i]; s.a[2 * i] = (int32_t)i; s.a[2 * i + 1] = (int32_t)i + 1; }
    s.n = n;
    free(cps);
    piece_list l = {0};
    piece_list_push(&l, &s, -1);
    added_split(&t->added, false, &l);
    if (t->norm) for (size_t i = 0; i < l.n; i++) if (l.v[i].added_id < 0) normalizer_apply(t->norm, &l.v[i].s);
    added_split(&t->added, true, &l);
    if (t->pre) pretokenizer_apply(t->pre, &l);
    for (size_t w = 0; w < l.n; w++) {
        piece *p = &l.v[w];
        size_t blen = nstr_utf8(&p->s, &sc->buf, &sc->cap, &sc->at, &sc->at_cap);
        if (p->added_id >= 0) {
            int32_t a, e;
            nstr_span(&p->s, 0, p->s.n, &a, &e);
            tk_enc_push(enc, p->added_id, sc->buf, blen, a, e, (int32_t)w, type_id, 0);
            continue;
        }
        sc->mo.n = 0;
        model_tokenize(t->model, sc->buf, blen, sc->at, p->s.n, &sc->mo);
        for (size_t k = 0; k < sc->mo.n; k++) {
            const model_token *mt = &sc->mo.v[k];
            int32_t a, e;
            nstr_span(&p->s, (size_t)mt->start, (size_t)mt->end, &a, &e);
            tk_enc_push(enc, mt->id, mt->text, mt->len, a, e, (int32_t)w, type_id, 0);
        }
    }
    piece_list_free(&l);
}

/* HF truncate_encodings (without overflow bookkeeping). */
static adapt_status truncate_pair(const adapt_tokenizer *t, tk_encoding *a, tk_encoding *b, bool add_special)
{
    size_t added = add_special ? postprocessor_added(t->post, b != NULL) : 0;
    size_t max = t->trunc_max > added ? t->trunc_max - added : 0;
    size_t n1 = a->n, n2 = b ? b->n : 0, total = n1 + n2;
    if (total <= max) return ADAPT_OK;
    size_t to_remove = total - max;
    switch (t->trunc_strategy) {
    case TRUNC_LONGEST_FIRST:
        if (!b) { tk_enc_truncate(a, n1 - to_remove, t->trunc_left); return ADAPT_OK; }
        {
            /* HF's rule: the shorter keeps what it can, the longer the rest; when both must
             * shrink they get max/2 and max/2 + max%2 (shorter first) */
            bool swap = n1 > n2;
            size_t x = swap ? n2 : n1, y; /* x = the shorter */
            if (x > max) y = x;
            else y = (max - x) > x ? (max - x) : x;
            if (x + y > max) { x = max / 2; y = x + max % 2; }
            size_t ta = swap ? y : x, tb = swap ? x : y;
            tk_enc_truncate(a, ta, t->trunc_left);
            tk_enc_truncate(b, tb, t->trunc_left);
        }
        return ADAPT_OK;
    case TRUNC_ONLY_FIRST: case TRUNC_ONLY_SECOND: {
        tk_encoding *x = (t->trunc_strategy == TRUNC_ONLY_FIRST || !b) ? a : b;
        if (x->n > to_remove) { tk_enc_truncate(x, x->n - to_remove, t->trunc_left); return ADAPT_OK; }
        return adapt_fail(ADAPT_ERR_ARG, "truncation: the sequence to truncate is too short for max_length %zu", t->trunc_max);
    }
    }
    return ADAPT_OK;
}

static void pad_to(const adapt_tokenizer *t, tk_encoding *e, size_t target)
{
    if (e->n >= target) return;
    size_t n0 = e->n, add = target - n0;
    for (size_t i = 0; i < add; i++) {
        tk_enc_push(e, t->pad_id, t->pad_token, strlen(t->pad_token), 0, 0, -1, t->pad_type_id, 1);
        e->attention[e->n - 1] = 0;
    }
    if (t->pad_left) {
        /* rotate the pads to the front */
        tk_encoding r = {0};
        for (size_t i = n0; i < e->n; i++) {
            tk_enc_push(&r, e->ids[i], e->text + e->tok_off[i], e->tok_len[i], 0, 0, -1, e->type_ids[i], 1);
            r.attention[r.n - 1] = 0;
        }
        e->n = n0;
        tk_enc_append(&r, e);
        tk_enc_free(e);
        *e = r;
    }
}

static size_t padded_length(const adapt_tokenizer *t, size_t longest)
{
    size_t n = t->pad_fixed ? t->pad_len : longest;
    if (t->pad_multiple && n % t->pad_multiple) n += t->pad_multiple - n % t->pad_multiple;
    return n;
}

static adapt_status encode_one(adapt_tokenizer *t, const char *text, size_t len, const char *pair, size_t pair_len,
                               bool add_special, scratch *sc, tk_encoding *out)
{
    tk_encoding a = {0}, b = {0};
    encode_sequence(t, text, len, 0, sc, &a);
    if (pair) encode_sequence(t, pair, pair_len, 1, sc, &b);
    adapt_status st = ADAPT_OK;
    if (t->has_truncation) st = truncate_pair(t, &a, pair ? &b : NULL, add_special);
    if (!st) postprocessor_apply(t->post, &a, pair ? &b : NULL, add_special, out);
    tk_enc_free(&a); tk_enc_free(&b);
    return st;
}

static void to_public(const tk_encoding *e, adapt_encoding *o)
{
    size_t n = e->n;
    memset(o, 0, sizeof *o);
    o->length = n;
    size_t m = n ? n : 1;
    o->ids = tk_alloc(m * sizeof *o->ids);
    o->tokens = tk_alloc(m * sizeof *o->tokens);
    o->token_lengths = tk_alloc(m * sizeof *o->token_lengths);
    o->offsets = tk_alloc(m * sizeof *o->offsets);
    o->type_ids = tk_alloc(m * sizeof *o->type_ids);
    o->special_tokens_mask = tk_alloc(m);
    o->attention_mask = tk_alloc(m);
    o->word_ids = tk_alloc(m * sizeof *o->word_ids);
    /* token strings live in one block right after NUL-terminating each */
    char *text = tk_alloc(e->text_len + n + 1);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        o->ids[i] = e->ids[i];
        memcpy(text + pos, e->text + e->tok_off[i], e->tok_len[i]);
        o->tokens[i] = text + pos;
        o->token_lengths[i] = e->tok_len[i];
        pos += e->tok_len[i];
        text[pos++] = 0;
        o->offsets[i][0] = e->start[i]; o->offsets[i][1] = e->end[i];
        o->type_ids[i] = e->type_ids[i];
        o->special_tokens_mask[i] = e->special[i];
        o->attention_mask[i] = e->attention[i];
        o->word_ids[i] = e->word_ids[i];
    }
    if (!n) { o->tokens[0] = text; text[0] = 0; }
}

void adapt_encoding_free(adapt_encoding *o)
{
    if (!o) return;
    if (o->tokens) free(o->tokens[0]);
    free(o->ids); free(o->tokens); free(o->token_lengths); free(o->offsets); free(o->type_ids);
    free(o->special_tokens_mask); free(o->attention_mask); free(o->word_ids);
    memset(o, 0, sizeof *o);
}

static void scratch_free(scratch *sc) { free(sc->buf); free(sc->at); free(sc->mo.v); }

adapt_status adapt_tokenizer_encode(adapt_tokenizer *t, const char *text, size_t len, const char *pair,
                                    size_t pair_len, bool add_special, adapt_encoding *out)
{
    memset(out, 0, sizeof *out);
    if (!t || (!text && len)) return adapt_fail(ADAPT_ERR_ARG, "adapt_tokenizer_encode: NULL tokenizer or text");
    scratch sc = {0};
    tk_encoding e = {0};
    adapt_status st = encode_one(t, text ? text : "", len, pair, pair_len, add_special, &sc, &e);
    if (!st && t->has_padding && t->pad_fixed) pad_to(t, &e, padded_length(t, e.n));
    else if (!st && t->has_padding && t->pad_multiple) pad_to(t, &e, padded_length(t, e.n));
    if (!st) to_public(&e, out);
    tk_enc_free(&e);
    scratch_free(&sc);
    return st;
}

adapt_status adapt_tokenizer_encode_batch(adapt_tokenizer *t, size_t n, const char *const *texts,
                                          const char *const *pairs, bool add_special, adapt_encoding *out)
{
    if (!t) return adapt_fail(ADAPT_ERR_ARG, "adapt_tokenizer_encode_batch: NULL tokenizer");
    tk_encoding *encs = tk_alloc((n ? n : 1) * sizeof *encs);
    memset(encs, 0, (n ? n : 1) * sizeof *encs);
    scratch sc = {0};
    adapt_status st = ADAPT_OK;
    size_t longest = 0;
    for (size_t i = 0; i < n && !st; i++) {
        const char *p = pairs ? pairs[i] : NULL;
        st = encode_one(t, texts[i], strlen(texts[i]), p, p ? strlen(p) : 0, add_special, &sc, &encs[i]);
        if (encs[i].n > longest) longest = encs[i].n;
    }
    for (size_t i = 0; i < n; i++) {
        if (!st && t->has_padding) pad_to(t, &encs[i], padded_length(t, longest));
        if (!st) to_public(&encs[i], &out[i]);
        else memset(&out[i], 0, sizeof out[i]);
        tk_enc_free(&encs[i]);
    }
    free(encs);
    scratch_free(&sc);
    return st;
}

void adapt_tokenizer_set_truncation(adapt_tokenizer *t, size_t max_length, adapt_truncation strategy, bool left)
{
    t->has_truncation = max_length > 0;
    t->trunc_max = max_length;
    t->trunc_strategy = strategy == ADAPT_TRUNCATE_ONLY_FIRST ? TRUNC_ONLY_FIRST
                      : strategy == ADAPT_TRUNCATE_ONLY_SECOND ? TRUNC_ONLY_SECOND : TRUNC_LONGEST_FIRST;
    t->trunc_left = left;
}

void adapt_tokenizer_set_padding(adapt_tokenizer *t, bool enabled, size_t length, size_t multiple, bool left,
                                 int32_t pad_id, int32_t pad_type_id, const char *pad_token)
{
    t->has_padding = enabled;
    t->pad_fixed = length > 0;
    t->pad_len = length;
    t->pad_multiple = multiple;
    t->pad_left = left;
    t->pad_id = pad_id;
    t->pad_type_id = pad_type_id;
    free(t->pad_token);
    t->pad_token = tk_strdup(pad_token ? pad_token : "[PAD]");
}

const char *tokenizer_id_to_token(const adapt_tokenizer *t, int32_t id)
{
    for (size_t i = 0; i < t->added.n; i++) if (t->added.v[i].id == id) return t->added.v[i].content;
    if (id >= 0 && (size_t)id < t->model->vocab_size) return t->model->id_to_token[id];
    return NULL;
}

int32_t tokenizer_token_to_id(const adapt_tokenizer *t, const char *tok)
{
    int32_t i;
    if (strmap_get(&t->added.by_content, tok, strlen(tok), &i)) return t->added.v[i].id;
    if (strmap_get(&t->model->vocab, tok, strlen(tok), &i)) return i;
    return -1;
}

const char *adapt_tokenizer_id_to_token(const adapt_tokenizer *t, int32_t id) { return tokenizer_id_to_token(t, id); }
int32_t adapt_tokenizer_token_to_id(const adapt_tokenizer *t, const char *tok) { return tokenizer_token_to_id(t, tok); }

size_t adapt_tokenizer_vocab_size(const adapt_tokenizer *t)
{
    size_t n = t->model->vocab_size;
    for (size_t i = 0; i < t->added.n; i++) if ((size_t)t->added.v[i].id >= n) n = (size_t)t->added.v[i].id + 1;
    return n;
}

adapt_status adapt_tokenizer_decode(const adapt_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, char **out)
{
    *out = NULL;
    char **toks = tk_alloc((n ? n : 1) * sizeof *toks);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = NULL;
        bool special = false;
        for (size_t a = 0; a < t->added.n; a++)
            if (t->added.v[a].id == ids[i]) { s = t->added.v[a].content; special = t->added.v[a].special; break; }
        if (!s && ids[i] >= 0 && (size_t)ids[i] < t->model->vocab_size) {
            s = t->model->id_to_token[ids[i]];
            /* a model token whose text is a special added token counts as special too */
            int32_t ai;
            if (s && strmap_get(&t->added.by_content, s, strlen(s), &ai)) special = t->added.v[ai].special;
        }
        if (!s || (skip_special && special)) continue;
        toks[k++] = (char *)s;
    }
    *out = decoder_decode(t->dec, toks, k);
    free(toks);
    return ADAPT_OK;
}
