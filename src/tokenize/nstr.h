/* A normalized string: code points, each aligned to the range of original code points it came from.
 * Transformations go through nbuild, which reproduces the alignment rules of HF NormalizedString:
 * a kept/replacing char takes the alignment of the old char it replaces, an inserted char takes
 * the alignment of the last consumed old char (or an empty range at the start). */
#ifndef ADAPT_TOKENIZE_NSTR_H
#define ADAPT_TOKENIZE_NSTR_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct nstr {
    uint32_t *c;
    int32_t *a;      /* 2 per char: original [start, end) */
    size_t n, cap;
    int32_t base;    /* original offset of the start of this string (for inserts at position 0) */
} nstr;

void nstr_init(nstr *s, int32_t base);
void nstr_free(nstr *s);
void nstr_reserve(nstr *s, size_t n);
static inline void nstr_push(nstr *s, uint32_t c, int32_t a0, int32_t a1)
{
    if (s->n == s->cap) nstr_reserve(s, s->n + 1);
    s->c[s->n] = c; s->a[2 * s->n] = a0; s->a[2 * s->n + 1] = a1; s->n++;
}
/* Chars [from, to) of s as a new string. */
void nstr_slice(const nstr *s, size_t from, size_t to, nstr *out);
/* Original offsets of chars [from, to): first start .. last end. */
void nstr_span(const nstr *s, size_t from, size_t to, int32_t *start, int32_t *end);
/* UTF-8 of s into *buf (grown as needed); char_at[i] = byte offset of char i (n+1 entries). */
size_t nstr_utf8(const nstr *s, char **buf, size_t *cap, uint32_t **char_at, size_t *at_cap);

typedef struct nbuild {
    nstr out;
    const nstr *in;
    size_t pos;      /* next old char to consume */
} nbuild;
void nb_begin(nbuild *b, const nstr *in);
static inline void nb_keep(nbuild *b, uint32_t c) /* replaces the old char at pos */
{
    const nstr *in = b->in;
    nstr_push(&b->out, c, in->a[2 * b->pos], in->a[2 * b->pos + 1]);
    b->pos++;
}
static inline void nb_insert(nbuild *b, uint32_t c)
{
    if (b->pos == 0) nstr_push(&b->out, c, b->in->base, b->in->base);
    else nstr_push(&b->out, c, b->in->a[2 * (b->pos - 1)], b->in->a[2 * (b->pos - 1) + 1]);
}
static inline void nb_skip(nbuild *b, size_t k) { b->pos += k; }
/* Replaces *in (the string given to nb_begin) with the result. */
void nb_finish(nbuild *b, nstr *in);

/* ---- UTF-8 */
/* Decodes UTF-8 the way Rust's String::from_utf8_lossy does: each maximal ill-formed subpart
 * becomes one U+FFFD. Returns the number of code points written to out (capacity len). */
size_t utf8_decode_lossy(const char *s, size_t len, uint32_t *out);
size_t utf8_encode(uint32_t c, char *out); /* 1..4 bytes */
/* Decodes valid UTF-8 (as produced by utf8_encode). */
uint32_t utf8_next(const char *s, size_t *i);
#endif
