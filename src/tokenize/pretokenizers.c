/* Pre-tokenizers: split pieces into words, as HF does. */
#include "tokenize/tokenizer.h"
#include "tokenize/uchar.h"
#include "core/error.h"
#include "core/json.h"
#include <stdlib.h>
#include <string.h>

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef struct spans { match_span *v; size_t n, cap; } spans;
static void span_push(spans *l, size_t a, size_t e, bool m)
{
    TK_GROW(l->v, l->cap, l->n + 1);
    l->v[l->n++] = (match_span){a, e, m};
}

typedef bool (*char_pred)(uint32_t c, const void *ctx);

/* HF's Pattern for char predicates: every matching char is one match. */
static void pred_spans(const nstr *s, char_pred pred, const void *ctx, spans *out)
{
    size_t last = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!pred(s->c[i], ctx)) continue;
        if (last < i) span_push(out, last, i, false);
        span_push(out, i, i + 1, true);
        last = i + 1;
    }
    if (last < s->n) span_push(out, last, s->n, false);
}

typedef struct regex_ctx { spans *out; size_t last; const uint32_t *char_at; size_t n; } regex_ctx;
static size_t byte_to_char(const uint32_t *char_at, size_t n, size_t b)
{
    size_t lo = 0, hi = n;
    while (lo < hi) { size_t mid = (lo + hi) / 2; if (char_at[mid] < b) lo = mid + 1; else hi = mid; }
    return lo;
}
static void on_regex_match(size_t a, size_t e, void *p)
{
    regex_ctx *r = p;
    size_t ca = byte_to_char(r->char_at, r->n, a), ce = byte_to_char(r->char_at, r->n, e);
    if (r->last != ca) span_push(r->out, r->last, ca, false);
    span_push(r->out, ca, ce, true);
    r->last = ce;
}

static void regex_spans(const nstr *s, const tk_regex *re, spans *out)
{
    char *buf = NULL; size_t cap = 0; uint32_t *at = NULL; size_t at_cap = 0;
    size_t len = nstr_utf8(s, &buf, &cap, &at, &at_cap);
    regex_ctx r = {out, 0, at, s->n};
    tk_regex_each(re, buf, len, on_regex_match, &r);
    if (r.last != s->n) span_push(out, r.last, s->n, false);
    free(buf); free(at);
}

static bool is_ws(uint32_t c, const void *x) { (void)x; return uc_is_whitespace(c); }
static bool is_punc(uint32_t c, const void *x) { (void)x; return uc_is_punctuation(c); }
static bool is_num(uint32_t c, const void *x) { (void)x; return uc_is_digit(c); }
static bool is_char(uint32_t c, const void *x) { return c == *(const uint32_t *)x; }

static void split_pred(nstr *s, char_pred pred, const void *ctx, split_behavior b, piece_list *out)
{
    spans sp = {0};
    pred_spans(s, pred, ctx, &sp);
    split_by_spans(s, sp.v, sp.n, b, out);
    free(sp.v);
}

static void split_regex(nstr *s, const tk_regex *re, bool invert, split_behavior b, piece_list *out)
{
    spans sp = {0};
    regex_spans(s, re, &sp);
    if (invert) for (size_t i = 0; i < sp.n; i++) sp.v[i].is_match = !sp.v[i].is_match;
    split_by_spans(s, sp.v, sp.n, b, out);
    free(sp.v);
}

/* ---------------------------------------------------------------- byte level */
static uint32_t byte_char[256];
static int16_t char_byte[512];
static void bytelevel_init(void)
{
    static _Atomic int done = 0;
    if (done) return;
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        byte_char[b] = printable ? (uint32_t)b : next++;
    }
    for (int i = 0; i < 512; i++) char_byte[i] = -1;
    for (int b = 0; b < 256; b++) char_byte[byte_char[b]] = (int16_t)b;
    done = 1;
}
const uint32_t *bytelevel_byte_to_char(void) { bytelevel_init(); return byte_char; }
int bytelevel_char_to_byte(uint32_t c) { bytelevel_init(); return c < 512 ? char_byte[c] : -1; }

/* Each char becomes the chars of its UTF-8 bytes, all aligned with it. */
static void to_byte_chars(nstr *s)
{
    bytelevel_init();
    nbuild b; nb_begin(&b, s);
    char u[4];
    for (size_t i = 0; i < s->n; i++) {
        size_t k = utf8_encode(s->c[i], u);
        nb_keep(&b, byte_char[(unsigned char)u[0]]);
        for (size_t x = 1; x < k; x++) nb_insert(&b, byte_char[(unsigned char)u[x]]);
    }
    nb_finish(&b, s);
}

/* HF NormalizedString::prepend: the new chars all take the first char's alignment. */
static void prepend(nstr *s, const uint32_t *p, size_t np)
{
    if (!s->n || !np) return;
    nbuild b; nb_begin(&b, s);
    nb_keep(&b, p[0]);
    for (size_t i = 1; i < np; i++) nb_insert(&b, p[i]);
    nb_insert(&b, s->c[0]);
    for (size_t i = 1; i < s->n; i++) nb_keep(&b, s->c[i]);
    nb_finish(&b, s);
}

static void metaspace(const pretokenizer *p, nstr *s, piece_list *out)
{
    bool any = false;
    for (size_t i = 0; i < s->n && !any; i++) any = s->c[i] == ' ';
    if (any) {
        nbuild b; nb_begin(&b, s);
        for (size_t i = 0; i < s->n; i++) {
            if (s->c[i] == ' ') { nb_skip(&b, 1); nb_insert(&b, p->replacement); }
            else nb_keep(&b, s->c[i]);
        }
        nb_finish(&b, s);
    }
    bool want = p->prepend == PREPEND_ALWAYS || (p->prepend == PREPEND_FIRST && s->n && s->a[0] == 0);
    if (want && s->n && s->c[0] != p->replacement) prepend(s, &p->replacement, 1);
    if (p->split) split_pred(s, is_char, &p->replacement, SPLIT_MERGED_NEXT, out);
    else if (s->n) { piece_list_push(out, s, -1); }
}

/* Splits one piece (taking ownership of *s) into out. */
static void pre_one(const pretokenizer *p, nstr *s, piece_list *out)
{
    switch (p->kind) {
    case PRE_BERT: {
        piece_list words = {0};
        split_pred(s, is_ws, NULL, SPLIT_REMOVED, &words);
        for (size_t i = 0; i < words.n; i++) split_pred(&words.v[i].s, is_punc, NULL, SPLIT_ISOLATED, out);
        piece_list_free(&words);
        break;
    }
    case PRE_WHITESPACE: split_regex(s, p->pattern, true, SPLIT_REMOVED, out); break;
    case PRE_WHITESPACE_SPLIT: split_pred(s, is_ws, NULL, SPLIT_REMOVED, out); break;
    case PRE_PUNCTUATION: split_pred(s, is_punc, NULL, p->behavior, out); break;
    case PRE_DIGITS: split_pred(s, is_num, NULL, p->individual_digits ? SPLIT_ISOLATED : SPLIT_CONTIGUOUS, out); break;
    case PRE_CHAR_DELIMITER: split_pred(s, is_char, &p->delimiter, SPLIT_REMOVED, out); break;
    case PRE_SPLIT: split_regex(s, p->pattern, p->invert, p->behavior, out); break;
    case PRE_METASPACE: metaspace(p, s, out); break;
    case PRE_BYTELEVEL: {
        static const uint32_t space = ' ';
        if (p->add_prefix_space && s->n && s->c[0] != ' ') prepend(s, &space, 1);
        size_t first = out->n;
        if (p->use_regex) split_regex(s, p->pattern, false, SPLIT_ISOLATED, out);
        else if (s->n) piece_list_push(out, s, -1);
        for (size_t i = first; i < out->n; i++) to_byte_chars(&out->v[i].s);
        break;
    }
    case PRE_SEQUENCE: case PRE_UNICODE_SCRIPTS: break;
    }
    nstr_free(s);
}

void pretokenizer_apply(const pretokenizer *p, piece_list *l)
{
    if (p->kind == PRE_SEQUENCE) {
        for (size_t i = 0; i < p->n_children; i++) pretokenizer_apply(p->children[i], l);
        return;
    }
    piece_list out = {0};
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].added_id >= 0) piece_list_push(&out, &l->v[i].s, l->v[i].added_id);
        else pre_one(p, &l->v[i].s, &out);
    }
    free(l->v);
    *l = out;
}

/* ---------------------------------------------------------------- loading */

void pretokenizer_free(pretokenizer *p)
{
    if (!p) return;
    tk_regex_free(p->pattern);
    for (size_t i = 0; i < p->n_children; i++) pretokenizer_free(p->children[i]);
    free(p->children);
    free(p);
}

adapt_status tk_get_char(const cJSON *j, const char *key, const char *what, uint32_t *out)
{
    const char *s = NULL;
    TRY(json_get_str_opt(j, key, what, &s));
    if (!s) return ADAPT_OK;
    size_t n;
    uint32_t *cps = tk_utf8_to_cps(s, &n);
    uint32_t c = n ? cps[0] : 0;
    free(cps);
    if (n != 1) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must be exactly one character", what, key);
    *out = c;
    return ADAPT_OK;
}

static adapt_status get_behavior(const cJSON *j, const char *what, split_behavior *b)
{
    const char *s = NULL;
    TRY(json_get_str_opt(j, "behavior", what, &s));
    if (!s) return ADAPT_OK;
    static const struct { const char *name; split_behavior b; } names[] = {
        {"Removed", SPLIT_REMOVED}, {"Isolated", SPLIT_ISOLATED}, {"MergedWithPrevious", SPLIT_MERGED_PREV},
        {"MergedWithNext", SPLIT_MERGED_NEXT}, {"Contiguous", SPLIT_CONTIGUOUS}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i].name, s)) { *b = names[i].b; return ADAPT_OK; }
    return adapt_fail(ADAPT_ERR_FORMAT, "%s: unknown split behavior \"%s\"", what, s);
}

adapt_status tk_prepend_scheme(const cJSON *j, const char *what, prepend_scheme *out)
{
    bool add_prefix = true;
    TRY(json_get_bool_opt(j, "add_prefix_space", what, &add_prefix));
    *out = add_prefix ? PREPEND_ALWAYS : PREPEND_NEVER;
    const char *s = NULL;
    TRY(json_get_str_opt(j, "prepend_scheme", what, &s));
    if (!s) return ADAPT_OK;
    if (!strcmp(s, "always")) *out = PREPEND_ALWAYS;
    else if (!strcmp(s, "first")) *out = PREPEND_FIRST;
    else if (!strcmp(s, "never")) *out = PREPEND_NEVER;
    else return adapt_fail(ADAPT_ERR_FORMAT, "%s: unknown prepend_scheme \"%s\"", what, s);
    return ADAPT_OK;
}

static adapt_status load_pre(pretokenizer *p, const cJSON *j, const char *what, int depth)
{
    switch (p->kind) {
    case PRE_METASPACE:
        p->replacement = 0x2581; p->split = true;
        TRY(tk_get_char(j, "replacement", what, &p->replacement));
        TRY(json_get_bool_opt(j, "split", what, &p->split));
        return tk_prepend_scheme(j, what, &p->prepend);
    case PRE_BYTELEVEL:
        p->add_prefix_space = true; p->use_regex = true;
        TRY(json_get_bool_opt(j, "add_prefix_space", what, &p->add_prefix_space));
        TRY(json_get_bool_opt(j, "use_regex", what, &p->use_regex));
        return tk_regex_compile(GPT2_PATTERN, false, what, &p->pattern);
    case PRE_WHITESPACE:
        return tk_regex_compile("\\w+|[^\\w\\s]+", false, what, &p->pattern);
    case PRE_PUNCTUATION:
        p->behavior = SPLIT_ISOLATED;
        return get_behavior(j, what, &p->behavior);
    case PRE_DIGITS:
        return json_get_bool_opt(j, "individual_digits", what, &p->individual_digits);
    case PRE_CHAR_DELIMITER:
        return tk_get_char(j, "delimiter", what, &p->delimiter);
    case PRE_SPLIT: {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
        if (!pat) return adapt_fail(ADAPT_ERR_FORMAT, "%s: Split pre-tokenizer without \"pattern\"", what);
        p->behavior = SPLIT_REMOVED;
        TRY(get_behavior(j, what, &p->behavior));
        TRY(json_get_bool_opt(j, "invert", what, &p->invert));
        return tk_pattern_from_json(pat, what, &p->pattern);
    }
    case PRE_SEQUENCE: {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers");
        if (!cJSON_IsArray(list)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: Sequence pre-tokenizer needs a \"pretokenizers\" array", what);
        size_t cnt = (size_t)cJSON_GetArraySize(list);
        p->children = tk_alloc((cnt ? cnt : 1) * sizeof *p->children);
        const cJSON *it;
        cJSON_ArrayForEach(it, list) {
            pretokenizer *c;
            TRY(pretokenizer_from_json(it, what, depth + 1, &c));
            if (c) p->children[p->n_children++] = c;
        }
        return ADAPT_OK;
    }
    default: return ADAPT_OK;
    }
}

adapt_status pretokenizer_from_json(const cJSON *j, const char *what, int depth, pretokenizer **out)
{
    *out = NULL;
    if (!j || cJSON_IsNull(j)) return ADAPT_OK;
    if (depth > TK_MAX_DEPTH) return adapt_fail(ADAPT_ERR_FORMAT, "%s: pre-tokenizers nested too deeply", what);
    if (!cJSON_IsObject(j)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: pre_tokenizer must be an object", what);
    const char *type;
    TRY(json_get_str(j, "type", what, &type));
    static const struct { const char *name; pre_kind kind; } names[] = {
        {"BertPreTokenizer", PRE_BERT}, {"Metaspace", PRE_METASPACE}, {"ByteLevel", PRE_BYTELEVEL},
        {"Whitespace", PRE_WHITESPACE}, {"WhitespaceSplit", PRE_WHITESPACE_SPLIT},
        {"Punctuation", PRE_PUNCTUATION}, {"Digits", PRE_DIGITS}, {"Split", PRE_SPLIT},
        {"Sequence", PRE_SEQUENCE}, {"CharDelimiterSplit", PRE_CHAR_DELIMITER}};
    size_t k = 0, nn = sizeof names / sizeof names[0];
    while (k < nn && strcmp(names[k].name, type)) k++;
    if (k == nn) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: unsupported pre-tokenizer type \"%s\"", what, type);
    pretokenizer *p = tk_alloc(sizeof *p);
    memset(p, 0, sizeof *p);
    p->kind = names[k].kind;
    adapt_status st = load_pre(p, j, what, depth);
    if (st) { pretokenizer_free(p); return st; }
    *out = p;
    return ADAPT_OK;
}
