/* Encodings under construction: parallel arrays plus one arena for the token strings. */
#include "tokenize/tokenizer.h"
#include <stdlib.h>
#include <string.h>

void tk_enc_free(tk_encoding *e)
{
    free(e->ids); free(e->type_ids); free(e->word_ids); free(e->start); free(e->end);
    free(e->special); free(e->attention); free(e->tok_off); free(e->tok_len); free(e->text);
    memset(e, 0, sizeof *e);
}

static void reserve(tk_encoding *e, size_t n)
{
    if (n <= e->cap) return;
    size_t c = e->cap ? e->cap * 2 : 32;
    while (c < n) c *= 2;
    e->ids = tk_realloc(e->ids, c * sizeof *e->ids);
    e->type_ids = tk_realloc(e->type_ids, c * sizeof *e->type_ids);
    e->word_ids = tk_realloc(e->word_ids, c * sizeof *e->word_ids);
    e->start = tk_realloc(e->start, c * sizeof *e->start);
    e->end = tk_realloc(e->end, c * sizeof *e->end);
    e->special = tk_realloc(e->special, c * sizeof *e->special);
    e->attention = tk_realloc(e->attention, c * sizeof *e->attention);
    e->tok_off = tk_realloc(e->tok_off, c * sizeof *e->tok_off);
    e->tok_len = tk_realloc(e->tok_len, c * sizeof *e->tok_len);
    e->cap = c;
}

void tk_enc_push(tk_encoding *e, int32_t id, const char *tok, size_t tok_len, int32_t start, int32_t end,
                 int32_t word, int32_t type_id, uint8_t special)
{
    reserve(e, e->n + 1);
    TK_GROW(e->text, e->text_cap, e->text_len + tok_len + 1);
    memcpy(e->text + e->text_len, tok, tok_len);
    size_t i = e->n++;
    e->ids[i] = id; e->type_ids[i] = type_id; e->word_ids[i] = word;
    e->start[i] = start; e->end[i] = end; e->special[i] = special; e->attention[i] = 1;
    e->tok_off[i] = (uint32_t)e->text_len; e->tok_len[i] = (uint32_t)tok_len;
    e->text_len += tok_len;
}

/* Keeps max_len tokens: the first ones (right truncation) or the last ones (left). */
void tk_enc_truncate(tk_encoding *e, size_t max_len, bool left)
{
    if (e->n <= max_len) return;
    if (left) {
        size_t drop = e->n - max_len;
#define SHIFT(a) memmove(e->a, e->a + drop, max_len * sizeof *e->a)
        SHIFT(ids); SHIFT(type_ids); SHIFT(word_ids); SHIFT(start); SHIFT(end);
        SHIFT(special); SHIFT(attention); SHIFT(tok_off); SHIFT(tok_len);
#undef SHIFT
    }
    e->n = max_len;
}

void tk_enc_append(tk_encoding *dst, const tk_encoding *src)
{
    for (size_t i = 0; i < src->n; i++) {
        tk_enc_push(dst, src->ids[i], src->text + src->tok_off[i], src->tok_len[i], src->start[i], src->end[i],
                    src->word_ids[i], src->type_ids[i], src->special[i]);
        dst->attention[dst->n - 1] = src->attention[i];
    }
}
