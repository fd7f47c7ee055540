/* Decoders: token strings back to text (HF decode_chain semantics, then concatenation). */
#include "tokenize/tokenizer.h"
#include "core/error.h"
#include "core/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf { char *p; size_t n, cap; } sbuf;
static void sb_add(sbuf *b, const char *s, size_t n)
{
    TK_GROW(b->p, b->cap, b->n + n + 1);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
static char *sb_take(sbuf *b) { if (!b->p) sb_add(b, "", 0); return b->p; }

static bool starts_with(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

/* Replaces every occurrence of `from` in s by `to` (new string). */
static char *replace_all(const char *s, const char *from, const char *to)
{
    sbuf b = {0};
    size_t fl = strlen(from);
    while (*s) {
        if (fl && starts_with(s, from)) { sb_str(&b, to); s += fl; }
        else sb_add(&b, s++, 1);
    }
    return sb_take(&b);
}

/* WordPiece cleanup: spaces before punctuation and English contractions. */
static char *cleanup(char *s)
{
    static const char *pairs[][2] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char *r = replace_all(s, pairs[i][0], pairs[i][1]);
        free(s);
        s = r;
    }
    return s;
}

typedef struct rep_ctx { sbuf *b; const char *s; size_t last; const char *content; } rep_ctx;
static void on_rep(size_t a, size_t e, void *p)
{
    rep_ctx *r = p;
    sb_add(r->b, r->s + r->last, a - r->last);
    sb_str(r->b, r->content);
    r->last = e;
}

/* One step of the chain: tokens in, tokens out (in place; strings are malloc'd). */
static void chain(const decoder *d, char **t, size_t *n)
{
    switch (d->kind) {
    case DEC_WORDPIECE:
        for (size_t i = 0; i < *n; i++) {
            char *s;
            if (i && starts_with(t[i], d->prefix)) s = tk_strdup(t[i] + strlen(d->prefix));
            else if (i) { sbuf b = {0}; sb_str(&b, " "); sb_str(&b, t[i]); s = sb_take(&b); }
            else s = tk_strdup(t[i]);
            if (d->cleanup) s = cleanup(s);
            free(t[i]); t[i] = s;
        }
        return;
    case DEC_METASPACE:
        for (size_t i = 0; i < *n; i++) {
            char rep[5] = {0};
            utf8_encode(d->replacement, rep);
            char *s = replace_all(t[i], rep, " ");
            if (i == 0 && d->prepend != PREPEND_NEVER && s[0] == ' ') memmove(s, s + 1, strlen(s));
            free(t[i]); t[i] = s;
        }
        return;
    case DEC_BYTELEVEL: {
        /* all tokens joined, mapped back to bytes, then decoded lossily */
        sbuf bytes = {0};
        for (size_t i = 0; i < *n; i++) {
            const char *s = t[i];
            for (size_t k = 0; s[k];) {
                size_t k0 = k;
                uint32_t c = utf8_next(s, &k);
                int b = bytelevel_char_to_byte(c);
                if (b >= 0) { char ch = (char)b; sb_add(&bytes, &ch, 1); }
                else sb_add(&bytes, s + k0, k - k0);
            }
            free(t[i]);
        }
        uint32_t *cps = tk_alloc((bytes.n + 1) * sizeof *cps);
        size_t nc = utf8_decode_lossy(bytes.p ? bytes.p : "", bytes.n, cps);
        sbuf out = {0};
        for (size_t i = 0; i < nc; i++) { char u[4]; sb_add(&out, u, utf8_encode(cps[i], u)); }
        free(cps); free(bytes.p);
        t[0] = sb_take(&out); *n = 1;
        return;
    }
    case DEC_BPE:
        for (size_t i = 0; i < *n; i++) {
            char *s = replace_all(t[i], d->prefix, i + 1 == *n ? "" : " ");
            free(t[i]); t[i] = s;
        }
        return;
    case DEC_REPLACE:
        for (size_t i = 0; i < *n; i++) {
            sbuf b = {0};
            rep_ctx r = {&b, t[i], 0, d->content};
            tk_regex_each(d->pattern, t[i], strlen(t[i]), on_rep, &r);
            sb_str(&b, t[i] + r.last);
            free(t[i]); t[i] = sb_take(&b);
        }
        return;
    case DEC_BYTE_FALLBACK: {
        /* runs of <0xXX> tokens become bytes, decoded as UTF-8 or one U+FFFD per byte if invalid */
        size_t w = 0;
        for (size_t i = 0; i < *n;) {
            unsigned int v;
            if (strlen(t[i]) == 6 && sscanf(t[i], "<0x%2X>", &v) == 1) {
                sbuf b = {0};
                size_t j = i;
                while (j < *n && strlen(t[j]) == 6 && sscanf(t[j], "<0x%2X>", &v) == 1) { char c = (char)v; sb_add(&b, &c, 1); free(t[j]); j++; }
                uint32_t *cps = tk_alloc((b.n + 1) * sizeof *cps);
                size_t nc = utf8_decode_lossy(b.p, b.n, cps);
                bool bad = false;
                for (size_t k = 0; k < nc; k++) bad |= cps[k] == 0xFFFD;
                sbuf o = {0};
                if (bad) for (size_t k = 0; k < b.n; k++) sb_str(&o, "\xEF\xBF\xBD");
                else for (size_t k = 0; k < nc; k++) { char u[4]; sb_add(&o, u, utf8_encode(cps[k], u)); }
                free(cps); free(b.p);
                t[w++] = sb_take(&o);
                i = j;
            } else t[w++] = t[i++];
        }
        *n = w;
        return;
    }
    case DEC_FUSE: {
        sbuf b = {0};
        for (size_t i = 0; i < *n; i++) { sb_str(&b, t[i]); free(t[i]); }
        t[0] = sb_take(&b); *n = 1;
        return;
    }
    case DEC_STRIP:
        for (size_t i = 0; i < *n; i++) {
            size_t len = strlen(t[i]), a = 0, e = len;
            char ch[5] = {0}; size_t cl = utf8_encode(d->strip_char, ch);
            for (long k = 0; k < d->strip_start && a + cl <= e && !memcmp(t[i] + a, ch, cl); k++) a += cl;
            for (long k = 0; k < d->strip_stop && e >= a + cl && !memcmp(t[i] + e - cl, ch, cl); k++) e -= cl;
            memmove(t[i], t[i] + a, e - a);
            t[i][e - a] = 0;
        }
        return;
    case DEC_CTC: {
        size_t w = 0;
        for (size_t i = 0; i < *n; i++) {
            if ((w && !strcmp(t[w - 1], t[i])) ) { free(t[i]); continue; }
            t[w++] = t[i];
        }
        size_t k = 0;
        for (size_t i = 0; i < w; i++) {
            if (!strcmp(t[i], d->pad_token)) { free(t[i]); continue; }
            char *s = replace_all(t[i], d->word_delimiter, " ");
            if (d->cleanup) s = cleanup(s);
            free(t[i]); t[k++] = s;
        }
        *n = k;
        return;
    }
    case DEC_SEQUENCE:
        for (size_t i = 0; i < d->n_children; i++) chain(d->children[i], t, n);
        return;
    }
}

char *decoder_decode(const decoder *d, char **tokens, size_t n)
{
    char **t = tk_alloc((n ? n : 1) * sizeof *t);
    for (size_t i = 0; i < n; i++) t[i] = tk_strdup(tokens[i]);
    sbuf out = {0};
    if (d && n) chain(d, t, &n);
    for (size_t i = 0; i < n; i++) {
        if (!d && i) sb_str(&out, " ");
        sb_str(&out, t[i]);
        free(t[i]);
    }
    free(t);
    return sb_take(&out);
}

/* ---------------------------------------------------------------- loading */

void decoder_free(decoder *d)
{
    if (!d) return;
    free(d->prefix); free(d->content); free(d->pad_token); free(d->word_delimiter);
    tk_regex_free(d->pattern);
    for (size_t i = 0; i < d->n_children; i++) decoder_free(d->children[i]);
    free(d->children);
    free(d);
}


static adapt_status str_field(const cJSON *j, const char *key, const char *what, const char *dflt, char **out)
{
    const char *s = dflt;
    TRY(json_get_str_opt(j, key, what, &s));
    *out = tk_strdup(s);
    return ADAPT_OK;
}

static adapt_status load_dec(decoder *d, const cJSON *j, const char *what, int depth)
{
    switch (d->kind) {
    case DEC_WORDPIECE:
        d->cleanup = true;
        TRY(json_get_bool_opt(j, "cleanup", what, &d->cleanup));
        return str_field(j, "prefix", what, "##", &d->prefix);
    case DEC_METASPACE:
        d->replacement = 0x2581;
        TRY(tk_get_char(j, "replacement", what, &d->replacement));
        return tk_prepend_scheme(j, what, &d->prepend);
    case DEC_BPE: return str_field(j, "suffix", what, "</w>", &d->prefix);
    case DEC_REPLACE: {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
        if (!pat) return adapt_fail(ADAPT_ERR_FORMAT, "%s: Replace decoder without \"pattern\"", what);
        TRY(str_field(j, "content", what, "", &d->content));
        return tk_pattern_from_json(pat, what, &d->pattern);
    }
    case DEC_STRIP: {
        long long a = 0, b = 0;
        d->strip_char = ' ';
        TRY(tk_get_char(j, "content", what, &d->strip_char));
        TRY(json_get_int_opt(j, "start", 0, 1 << 20, what, &a));
        TRY(json_get_int_opt(j, "stop", 0, 1 << 20, what, &b));
        d->strip_start = (long)a; d->strip_stop = (long)b;
        return ADAPT_OK;
    }
    case DEC_CTC:
        d->cleanup = true;
        TRY(json_get_bool_opt(j, "cleanup", what, &d->cleanup));
        TRY(str_field(j, "pad_token", what, "<pad>", &d->pad_token));
        return str_field(j, "word_delimiter_token", what, "|", &d->word_delimiter);
    case DEC_SEQUENCE: {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "decoders");
        if (!cJSON_IsArray(list)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: Sequence decoder needs \"decoders\"", what);
        size_t cnt = (size_t)cJSON_GetArraySize(list);
        d->children = tk_alloc((cnt ? cnt : 1) * sizeof *d->children);
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            decoder *c;
            TRY(decoder_from_json(it, what, depth + 1, &c));
            if (c) d->children[d->n_children++] = c;
        }
        return ADAPT_OK;
    }
    default: return ADAPT_OK;
    }
}

adapt_status decoder_from_json(const cJSON *j, const char *what, int depth, decoder **out)
{
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return ADAPT_OK;
    if (depth > TK_MAX_DEPTH) return adapt_fail(ADAPT_ERR_FORMAT, "%s: decoders nested too deeply", what);
    if (!cJSON_IsObject(j)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: decoder must be an object", what);
    const char *type;
    TRY(json_get_str(j, "type", what, &type));
    static const struct { const char *name; dec_kind kind; } names[] = {
        {"WordPiece", DEC_WORDPIECE}, {"Metaspace", DEC_METASPACE}, {"ByteLevel", DEC_BYTELEVEL},
        {"BPEDecoder", DEC_BPE}, {"Replace", DEC_REPLACE}, {"ByteFallback", DEC_BYTE_FALLBACK},
        {"Fuse", DEC_FUSE}, {"Strip", DEC_STRIP}, {"Sequence", DEC_SEQUENCE}, {"CTC", DEC_CTC}};
    size_t k = 0, nn = sizeof names / sizeof names[0];
    while (k < nn && strcmp(names[k].name, type)) k++;
    if (k == nn) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: unsupported decoder type \"%s\"", what, type);
    decoder *d = tk_alloc(sizeof *d);
    memset(d, 0, sizeof *d);
    d->kind = names[k].kind;
    adapt_status st = load_dec(d, j, what, depth);
    if (st) { decoder_free(d); return st; }
    *out = d;
    return ADAPT_OK;
}
