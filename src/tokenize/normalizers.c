/* Normalizers: each rewrites a normalized string, keeping alignments as HF does. */
#include "tokenize/tokenizer.h"
#include "tokenize/uchar.h"
#include "core/error.h"
#include "core/json.h"
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- transforms */

static void bert_normalize(const normalizer *n, nstr *s)
{
    if (n->clean_text) {
        nbuild b; nb_begin(&b, s);
        for (size_t i = 0; i < s->n; i++) {
            uint32_t c = s->c[i];
            if (c == 0 || c == 0xFFFD || uc_is_bert_control(c)) { nb_skip(&b, 1); continue; }
            nb_keep(&b, uc_is_whitespace(c) ? ' ' : c);
        }
        nb_finish(&b, s);
    }
    if (n->handle_chinese) {
        bool any = false;
        for (size_t i = 0; i < s->n && !any; i++) any = uc_is_chinese(s->c[i]);
        if (any) {
            nbuild b; nb_begin(&b, s);
            for (size_t i = 0; i < s->n; i++) {
                uint32_t c = s->c[i];
                if (uc_is_chinese(c)) { nb_keep(&b, ' '); nb_insert(&b, c); nb_insert(&b, ' '); }
                else nb_keep(&b, c);
            }
            nb_finish(&b, s);
        }
    }
    if (n->strip_accents) {
        nstr_unicode_normalize(s, false, false);
        nbuild b; nb_begin(&b, s);
        for (size_t i = 0; i < s->n; i++) {
            if (uc_is_mark_nonspacing(s->c[i])) nb_skip(&b, 1);
            else nb_keep(&b, s->c[i]);
        }
        nb_finish(&b, s);
    }
    if (n->lowercase) {
        nbuild b; nb_begin(&b, s);
        uint32_t low[3];
        for (size_t i = 0; i < s->n; i++) {
            int k = uc_lower(s->c[i], low);
            nb_keep(&b, low[0]);
            for (int x = 1; x < k; x++) nb_insert(&b, low[x]);
        }
        nb_finish(&b, s);
    }
}

static void lowercase(nstr *s)
{
    nbuild b; nb_begin(&b, s);
    uint32_t low[3];
    for (size_t i = 0; i < s->n; i++) {
        int k = uc_lower(s->c[i], low);
        nb_keep(&b, low[0]);
        for (int x = 1; x < k; x++) nb_insert(&b, low[x]);
    }
    nb_finish(&b, s);
}

static void strip(const normalizer *n, nstr *s)
{
    size_t a = 0, e = s->n;
    if (n->strip_left) while (a < e && uc_is_whitespace(s->c[a])) a++;
    if (n->strip_right) while (e > a && uc_is_whitespace(s->c[e - 1])) e--;
    if (a == 0 && e == s->n) return;
    nbuild b; nb_begin(&b, s);
    nb_skip(&b, a);
    for (size_t i = a; i < e; i++) nb_keep(&b, s->c[i]);
    nb_finish(&b, s);
}

static void strip_accents(nstr *s)
{
    nbuild b; nb_begin(&b, s);
    for (size_t i = 0; i < s->n; i++) {
        if (uc_is_mark(s->c[i])) nb_skip(&b, 1);
        else nb_keep(&b, s->c[i]);
    }
    nb_finish(&b, s);
}

static void prepend(const normalizer *n, nstr *s)
{
    if (!s->n || !n->content_len) return;
    nbuild b; nb_begin(&b, s);
    nb_keep(&b, n->content[0]);
    for (size_t i = 1; i < n->content_len; i++) nb_insert(&b, n->content[i]);
    nb_insert(&b, s->c[0]);
    for (size_t i = 1; i < s->n; i++) nb_keep(&b, s->c[i]);
    nb_finish(&b, s);
}

typedef struct span_list { match_span *v; size_t n, cap; } span_list;
static void collect_match(size_t a, size_t e, void *ctx)
{
    span_list *l = ctx;
    TK_GROW(l->v, l->cap, l->n + 1);
    l->v[l->n++] = (match_span){a, e, true};
}

/* Index of the char that starts at byte b (char_at is sorted). */
static size_t char_index(const uint32_t *char_at, size_t n, size_t b)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { size_t mid = (lo + hi) / 2; if (char_at[mid] < b) lo = mid + 1; else hi = mid; }
    return lo;
}

/* Every match is removed and the content inserted after it: HF aligns the inserted chars with
 * the last removed char. */
static void replace(const normalizer *n, nstr *s)
{
    char *buf = NULL; size_t cap = 0; uint32_t *at = NULL; size_t at_cap = 0;
    size_t len = nstr_utf8(s, &buf, &cap, &at, &at_cap);
    span_list m = {0};
    tk_regex_each(n->pattern, buf, len, collect_match, &m);
    if (m.n) {
        nbuild b; nb_begin(&b, s);
        for (size_t k = 0; k < m.n; k++) {
            size_t a = char_index(at, s->n, m.v[k].start), e = char_index(at, s->n, m.v[k].end);
            while (b.pos < a) nb_keep(&b, s->c[b.pos]);
            nb_skip(&b, e - a);
            for (size_t x = 0; x < n->content_len; x++) nb_insert(&b, n->content[x]);
        }
        while (b.pos < s->n) nb_keep(&b, s->c[b.pos]);
        nb_finish(&b, s);
    }
    free(m.v); free(buf); free(at);
}

void normalizer_apply(const normalizer *n, nstr *s)
{
    switch (n->kind) {
    case NORM_BERT: bert_normalize(n, s); break;
    case NORM_PRECOMPILED: if (n->charsmap) precompiled_apply(n->charsmap, s); break;
    case NORM_REPLACE: replace(n, s); break;
    case NORM_STRIP: strip(n, s); break;
    case NORM_STRIP_ACCENTS: strip_accents(s); break;
    case NORM_LOWERCASE: lowercase(s); break;
    case NORM_NFC: nstr_unicode_normalize(s, false, true); break;
    case NORM_NFD: nstr_unicode_normalize(s, false, false); break;
    case NORM_NFKC: nstr_unicode_normalize(s, true, true); break;
    case NORM_NFKD: nstr_unicode_normalize(s, true, false); break;
    case NORM_PREPEND: prepend(n, s); break;
    case NORM_SEQUENCE:
        for (size_t i = 0; i < n->n_children; i++) normalizer_apply(n->children[i], s);
        break;
    }
}

/* ---------------------------------------------------------------- loading */

void normalizer_free(normalizer *n)
{
    if (!n) return;
    tk_regex_free(n->pattern);
    free(n->content);
    precompiled_free(n->charsmap);
    for (size_t i = 0; i < n->n_children; i++) normalizer_free(n->children[i]);
    free(n->children);
    free(n);
}

/* A UTF-8 string as code points (the caller frees). */
uint32_t *tk_utf8_to_cps(const char *s, size_t *n)
{
    size_t len = strlen(s);
    uint32_t *v = tk_alloc((len + 1) * sizeof *v);
    *n = utf8_decode_lossy(s, len, v);
    return v;
}

/* HF patterns: {"String": "..."} (literal) or {"Regex": "..."}. */
adapt_status tk_pattern_from_json(const cJSON *j, const char *what, tk_regex **out)
{
    const char *str = NULL, *re = NULL;
    if (cJSON_IsString(j)) str = j->valuestring; /* tolerated: a bare string is a literal */
    else if (cJSON_IsObject(j)) {
        TRY(json_get_str_opt(j, "String", what, &str));
        TRY(json_get_str_opt(j, "Regex", what, &re));
    }
    if (!str && !re) return adapt_fail(ADAPT_ERR_FORMAT, "%s: pattern must be {\"String\": ...} or {\"Regex\": ...}", what);
    return tk_regex_compile(re ? re : str, re == NULL, what, out);
}

static const struct { const char *name; norm_kind kind; } norm_names[] = {
    {"BertNormalizer", NORM_BERT}, {"Precompiled", NORM_PRECOMPILED}, {"Replace", NORM_REPLACE},
    {"Strip", NORM_STRIP}, {"StripAccents", NORM_STRIP_ACCENTS}, {"Lowercase", NORM_LOWERCASE},
    {"NFC", NORM_NFC}, {"NFD", NORM_NFD}, {"NFKC", NORM_NFKC}, {"NFKD", NORM_NFKD},
    {"Prepend", NORM_PREPEND}, {"Sequence", NORM_SEQUENCE},
};


static adapt_status load_normalizer(normalizer *n, const cJSON *j, const char *what, int depth)
{
    switch (n->kind) {
    case NORM_BERT: {
        bool lc = true;
        n->clean_text = true; n->handle_chinese = true;
        TRY(json_get_bool_opt(j, "clean_text", what, &n->clean_text));
        TRY(json_get_bool_opt(j, "handle_chinese_chars", what, &n->handle_chinese));
        TRY(json_get_bool_opt(j, "lowercase", what, &lc));
        n->lowercase = lc;
        n->strip_accents = lc; /* strip_accents: null follows lowercase */
        TRY(json_get_bool_opt(j, "strip_accents", what, &n->strip_accents));
        return ADAPT_OK;
    }
    case NORM_PRECOMPILED: {
        const char *b64 = NULL;
        TRY(json_get_str_opt(j, "precompiled_charsmap", what, &b64));
        if (!b64 || !*b64) return ADAPT_OK; /* an empty charsmap normalizes nothing */
        unsigned char *blob; size_t len;
        TRY(base64_decode(b64, &blob, &len));
        adapt_status st = precompiled_parse(blob, len, what, &n->charsmap);
        free(blob);
        return st;
    }
    case NORM_REPLACE: {
        const char *content;
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
        if (!pat) return adapt_fail(ADAPT_ERR_FORMAT, "%s: Replace normalizer without \"pattern\"", what);
        TRY(json_get_str(j, "content", what, &content));
        TRY(tk_pattern_from_json(pat, what, &n->pattern));
        n->content = tk_utf8_to_cps(content, &n->content_len);
        return ADAPT_OK;
    }
    case NORM_STRIP:
        n->strip_left = n->strip_right = true;
        TRY(json_get_bool_opt(j, "strip_left", what, &n->strip_left));
        TRY(json_get_bool_opt(j, "strip_right", what, &n->strip_right));
        return ADAPT_OK;
    case NORM_PREPEND: {
        const char *p;
        TRY(json_get_str(j, "prepend", what, &p));
        n->content = tk_utf8_to_cps(p, &n->content_len);
        return ADAPT_OK;
    }
    case NORM_SEQUENCE: {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
        if (!cJSON_IsArray(list)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: Sequence normalizer needs a \"normalizers\" array", what);
        size_t cnt = (size_t)cJSON_GetArraySize(list);
        n->children = tk_alloc((cnt ? cnt : 1) * sizeof *n->children);
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            normalizer *c;
            TRY(normalizer_from_json(it, what, depth + 1, &c));
            if (c) n->children[n->n_children++] = c;
        }
        return ADAPT_OK;
    }
    default: return ADAPT_OK;
    }
}

adapt_status normalizer_from_json(const cJSON *j, const char *what, int depth, normalizer **out)
{
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return ADAPT_OK;
    if (depth > TK_MAX_DEPTH) return adapt_fail(ADAPT_ERR_FORMAT, "%s: normalizers nested too deeply", what);
    if (!cJSON_IsObject(j)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: normalizer must be an object", what);
    const char *type;
    TRY(json_get_str(j, "type", what, &type));
    normalizer *n = tk_alloc(sizeof *n);
    memset(n, 0, sizeof *n);
    size_t k = 0, nn = sizeof norm_names / sizeof norm_names[0];
    while (k < nn && strcmp(norm_names[k].name, type)) k++;
    if (k == nn) { free(n); return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: unknown normalizer type \"%s\"", what, type); }
    n->kind = norm_names[k].kind;
    adapt_status st = load_normalizer(n, j, what, depth);
    if (st) { normalizer_free(n); return st; }
    *out = n;
    return ADAPT_OK;
}
