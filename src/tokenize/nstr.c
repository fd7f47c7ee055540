/* Normalized strings with alignments, and UTF-8 helpers. */
#include "tokenize/nstr.h"
#include "tokenize/tokenizer.h"
#include <stdlib.h>
#include <string.h>

void nstr_init(nstr *s, int32_t base) { memset(s, 0, sizeof *s); s->base = base; }

void nstr_free(nstr *s) { free(s->c); free(s->a); memset(s, 0, sizeof *s); }

void nstr_reserve(nstr *s, size_t n)
{
    if (n <= s->cap) return;
    size_t cap = s->cap ? s->cap * 2 : 16;
    while (cap < n) cap *= 2;
    s->c = tk_realloc(s->c, cap * sizeof *s->c);
    s->a = tk_realloc(s->a, 2 * cap * sizeof *s->a);
    s->cap = cap;
}

void nstr_slice(const nstr *s, size_t from, size_t to, nstr *out)
{
    nstr_init(out, from < s->n ? s->a[2 * from] : (s->n ? s->a[2 * s->n - 1] : s->base));
    nstr_reserve(out, to - from);
    memcpy(out->c, s->c + from, (to - from) * sizeof *s->c);
    memcpy(out->a, s->a + 2 * from, 2 * (to - from) * sizeof *s->a);
    out->n = to - from;
}

void nstr_span(const nstr *s, size_t from, size_t to, int32_t *start, int32_t *end)
{
    if (from >= to || to > s->n) { *start = *end = s->base; return; }
    *start = s->a[2 * from];
    *end = s->a[2 * (to - 1) + 1];
}

size_t nstr_utf8(const nstr *s, char **buf, size_t *cap, uint32_t **char_at, size_t *at_cap)
{
    TK_GROW(*buf, *cap, 4 * s->n + 1);
    TK_GROW(*char_at, *at_cap, s->n + 1);
    size_t len = 0;
    for (size_t i = 0; i < s->n; i++) {
        (*char_at)[i] = (uint32_t)len;
        uint32_t c = s->c[i];
        if (c < 0x80) (*buf)[len++] = (char)c;
        else len += utf8_encode(c, *buf + len);
    }
    (*char_at)[s->n] = (uint32_t)len;
    (*buf)[len] = 0;
    return len;
}

void nb_begin(nbuild *b, const nstr *in)
{
    nstr_init(&b->out, in->base);
    nstr_reserve(&b->out, in->n + 4);
    b->in = in;
    b->pos = 0;
}

void nb_finish(nbuild *b, nstr *in)
{
    nstr_free(in);
    *in = b->out;
}

size_t utf8_encode(uint32_t c, char *o)
{
    unsigned char *u = (unsigned char *)o;
    if (c < 0x80) { u[0] = (unsigned char)c; return 1; }
    if (c < 0x800) { u[0] = (unsigned char)(0xC0 | (c >> 6)); u[1] = (unsigned char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (c >> 12)); u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (c & 0x3F)); return 3;
    }
    u[0] = (unsigned char)(0xF0 | (c >> 18)); u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F)); u[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

uint32_t utf8_next(const char *s, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s + *i;
    if (u[0] < 0x80) { (*i)++; return u[0]; }
    if (u[0] < 0xE0) { *i += 2; return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F); }
    if (u[0] < 0xF0) { *i += 3; return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F); }
    *i += 4;
    return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) | ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
}

/* Unicode 3.9 "maximal subpart" decoding: a lead byte followed by a valid but incomplete
 * continuation is replaced as a whole; any other bad byte is replaced alone. */
size_t utf8_decode_lossy(const char *str, size_t len, uint32_t *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, n = 0;
    while (i < len) {
        unsigned char b = s[i];
        if (b < 0x80) { out[n++] = b; i++; continue; }
        int need; uint32_t c; unsigned char lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) { need = 1; c = b & 0x1F; }
        else if (b >= 0xE0 && b <= 0xEF) {
            need = 2; c = b & 0x0F;
            if (b == 0xE0) lo = 0xA0;
            if (b == 0xED) hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3; c = b & 0x07;
            if (b == 0xF0) lo = 0x90;
            if (b == 0xF4) hi = 0x8F;
        } else { out[n++] = 0xFFFD; i++; continue; }
        size_t j = i + 1;
        int k = 0;
        for (; k < need; k++, j++) {
            if (j >= len) break;
            unsigned char cb = s[j];
            unsigned char l = k == 0 ? lo : 0x80, h = k == 0 ? hi : 0xBF;
            if (cb < l || cb > h) break;
            c = (c << 6) | (cb & 0x3F);
        }
        if (k == need) { out[n++] = c; i = j; }
        else { out[n++] = 0xFFFD; i = j; }
    }
    return n;
}
