/* Regular expressions through PCRE2 (UTF + Unicode properties), as HF uses Oniguruma. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenize/tokenizer.h"
#include "core/error.h"
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

struct tk_regex {
    pcre2_code *code;
};

adapt_status tk_regex_compile(const char *pattern, bool literal, const char *what, tk_regex **out)
{
    *out = NULL;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0);
    int err; PCRE2_SIZE at;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &err, &at, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: bad regular expression \"%s\" at %zu: %s", what, pattern, (size_t)at, (char *)msg);
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* best effort: falls back to the interpreter */
    tk_regex *r = tk_alloc(sizeof *r);
    r->code = code;
    *out = r;
    return ADAPT_OK;
}

void tk_regex_free(tk_regex *r)
{
    if (!r) return;
    pcre2_code_free(r->code);
    free(r);
}

void tk_regex_each(const tk_regex *r, const char *s, size_t len, tk_match_fn fn, void *ctx)
{
    /* Match data per call keeps one tokenizer usable from several threads. */
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(r->code, NULL);
    if (!md) return;
    size_t pos = 0;
    while (pos <= len) {
        int rc = pcre2_match(r->code, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t a = ov[0], b = ov[1];
        fn(a, b, ctx);
        if (b > a) pos = b;
        else {
            /* empty match: step over one char, as Rust's find_iter does */
            if (b >= len) break;
            pos = b + 1;
            while (pos < len && ((unsigned char)s[pos] & 0xC0) == 0x80) pos++;
        }
    }
    pcre2_match_data_free(md);
}
