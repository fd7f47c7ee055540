/* Helpers shared by the tokenizer tests: reading encodings.jsonl records exactly (strings may hold
 * U+0000, which cJSON cannot keep, so strings are decoded here). Header-only: the Makefile links
 * each test with testutil only. fx_load returns the number of records. */
#ifndef ADAPT_TESTS_TOKENIZE_FIXTURE_H
#define ADAPT_TESTS_TOKENIZE_FIXTURE_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

typedef struct fx_str { char *p; size_t n; } fx_str;
typedef struct fx_record {
    fx_str text, pair; bool has_pair;
    size_t n;
    int32_t *ids, *type_ids, *word_ids, *special;
    int32_t (*offsets)[2];
    fx_str *tokens;
} fx_record;


static void put(fx_str *s, size_t *cap, const char *b, size_t n)
{
    if (s->n + n + 1 > *cap) { *cap = (s->n + n + 1) * 2; s->p = realloc(s->p, *cap); }
    memcpy(s->p + s->n, b, n); s->n += n; s->p[s->n] = 0;
}

static unsigned hex4(const char *p) { unsigned v = 0; for (int i = 0; i < 4; i++) { char c = p[i]; v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10); } return v; }

/* Decodes the JSON string starting at *pp (on the quote). */
static fx_str jstring(const char **pp)
{
    const char *p = *pp + 1;
    fx_str s = {0}; size_t cap = 0;
    put(&s, &cap, "", 0);
    while (*p != '"') {
        if (*p != '\\') { put(&s, &cap, p++, 1); continue; }
        p++;
        char c = *p++;
        static const char esc[] = "\"\\/bfnrt", out[] = "\"\\/\b\f\n\r\t";
        const char *simple = c != 'u' ? strchr(esc, c) : NULL;
        if (simple) { put(&s, &cap, &out[simple - esc], 1); continue; }
        unsigned v = hex4(p); p += 4;
        if (v >= 0xD800 && v <= 0xDBFF && p[0] == '\\' && p[1] == 'u') { v = 0x10000 + ((v - 0xD800) << 10) + (hex4(p + 2) - 0xDC00); p += 6; }
        char u[4]; size_t n;
        if (v < 0x80) { u[0] = (char)v; n = 1; }
        else if (v < 0x800) { u[0] = (char)(0xC0 | (v >> 6)); u[1] = (char)(0x80 | (v & 0x3F)); n = 2; }
        else if (v < 0x10000) { u[0] = (char)(0xE0 | (v >> 12)); u[1] = (char)(0x80 | ((v >> 6) & 0x3F)); u[2] = (char)(0x80 | (v & 0x3F)); n = 3; }
        else { u[0] = (char)(0xF0 | (v >> 18)); u[1] = (char)(0x80 | ((v >> 12) & 0x3F)); u[2] = (char)(0x80 | ((v >> 6) & 0x3F)); u[3] = (char)(0x80 | (v & 0x3F)); n = 4; }
        put(&s, &cap, u, n);
    }
    *pp = p + 1;
    return s;
}

static const char *after(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    assert_non_null(p);
    return p + strlen(key);
}

static size_t int_list(const char *p, int32_t **out)
{
    size_t n = 0, cap = 16;
    int32_t *v = malloc(cap * sizeof *v);
    while (*p != ']') {
        if (n == cap) { cap *= 2; v = realloc(v, cap * sizeof *v); }
        if (!strncmp(p, "null", 4)) { v[n++] = -1; p += 4; }
        else v[n++] = (int32_t)strtol(p, (char **)&p, 10);
        if (*p == ',') p++;
    }
    *out = v;
    return n;
}

static size_t fx_load(const char *name, fx_record **out)
{
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/tokenizers/%s/encodings.jsonl", name);
    FILE *fp = fopen(shared_path(rel), "r");
    assert_non_null(fp);
    fx_record *r = NULL;
    size_t n = 0;
    char *line = NULL; size_t cap = 0;
    while (getline(&line, &cap, fp) > 0) {
        r = realloc(r, (n + 1) * sizeof *r);
        fx_record *x = &r[n++];
        memset(x, 0, sizeof *x);
        const char *p = after(line, "{\"text\":");
        x->text = jstring(&p);
        if (!strncmp(p, ",\"text_pair\":", 13)) { p += 13; x->pair = jstring(&p); x->has_pair = true; }
        x->n = int_list(after(p, "\"ids\":["), &x->ids);
        p = after(p, "\"tokens\":[");
        x->tokens = calloc(x->n + 1, sizeof *x->tokens);
        for (size_t i = 0; i < x->n; i++) { x->tokens[i] = jstring(&p); if (*p == ',') p++; }
        p = after(p, "\"offsets\":[");
        x->offsets = calloc(x->n + 1, sizeof *x->offsets);
        for (size_t i = 0; i < x->n; i++) {
            p++; x->offsets[i][0] = (int32_t)strtol(p, (char **)&p, 10);
            p++; x->offsets[i][1] = (int32_t)strtol(p, (char **)&p, 10);
            p++; if (*p == ',') p++;
        }
        assert_int_equal(int_list(after(p, "\"type_ids\":["), &x->type_ids), x->n);
        assert_int_equal(int_list(after(p, "\"special_tokens_mask\":["), &x->special), x->n);
        assert_int_equal(int_list(after(p, "\"word_ids\":["), &x->word_ids), x->n);
    }
    free(line);
    fclose(fp);
    *out = r;
    return n;
}

static void fx_free(fx_record *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].text.p); free(r[i].pair.p);
        for (size_t k = 0; k < r[i].n; k++) free(r[i].tokens[k].p);
        free(r[i].tokens); free(r[i].ids); free(r[i].type_ids); free(r[i].word_ids); free(r[i].special); free(r[i].offsets);
    }
    free(r);
}

#endif
