#include "data/jsonl.h"
#include "data/text_reader.h"
#include "core/error.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Context for messages: "path:line". */
typedef struct rec_ctx {
    dataset *ds;
    const jsonl_options *opt;
    size_t line;
} rec_ctx;

static adapt_status copy_string(rec_ctx *c, const cJSON *v, const char *key, const char **out)
{
    if (!cJSON_IsString(v))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: \"%s\" must be a string", c->ds->path, c->line, key);
    size_t len = strlen(v->valuestring), bad;
    if (!utf8_is_valid(v->valuestring, len, &bad))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: \"%s\" is not valid UTF-8", c->ds->path, c->line, key);
    *out = dataset_strndup(c->ds, v->valuestring, len);
    if (!*out) return adapt_fail(ADAPT_ERR_NOMEM, "%s:%zu: out of memory", c->ds->path, c->line);
    return ADAPT_OK;
}

static adapt_status read_label(rec_ctx *c, const cJSON *obj, data_example *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "label");
    if (!v || cJSON_IsNull(v)) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: missing \"label\"", c->ds->path, c->line);
    if (c->ds->kind == DATASET_REGRESSION) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: \"label\" must be a finite number for regression", c->ds->path, c->line);
        e->target = v->valuedouble;
        return ADAPT_OK;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!isfinite(d) || d != floor(d) || fabs(d) > 1e15)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: numeric \"label\" must be an integer (use regression for real targets)", c->ds->path, c->line);
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)d);
        e->label_name = dataset_strndup(c->ds, buf, strlen(buf));
        if (!e->label_name) return adapt_fail(ADAPT_ERR_NOMEM, "%s:%zu: out of memory", c->ds->path, c->line);
        return ADAPT_OK;
    }
    TRY(copy_string(c, v, "label", &e->label_name));
    size_t n = strlen(e->label_name);
    if (n == 0 || n > DATA_MAX_LABEL_BYTES)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: \"label\" is empty or longer than %zu bytes", c->ds->path, c->line, DATA_MAX_LABEL_BYTES);
    return ADAPT_OK;
}

static adapt_status read_sentence_record(rec_ctx *c, const cJSON *obj, data_example *e)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(obj, "text");
    if (!text) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: missing \"text\"", c->ds->path, c->line);
    TRY(copy_string(c, text, "text", &e->text));
    const cJSON *pair = cJSON_GetObjectItemCaseSensitive(obj, "text_pair");
    if (pair && !cJSON_IsNull(pair)) TRY(copy_string(c, pair, "text_pair", &e->text_pair));
    if (c->opt->unlabeled) return ADAPT_OK;
    return read_label(c, obj, e);
}

static adapt_status read_string_array(rec_ctx *c, const cJSON *arr, const char *key, size_t n, const char ***out)
{
    const char **items = dataset_alloc(c->ds, (n ? n : 1) * sizeof *items);
    if (!items) return adapt_fail(ADAPT_ERR_NOMEM, "%s:%zu: out of memory", c->ds->path, c->line);
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        char what[64];
        snprintf(what, sizeof what, "%s[%zu]", key, i);
        TRY(copy_string(c, it, what, &items[i]));
        i++;
    }
    *out = items;
    return ADAPT_OK;
}

static adapt_status read_tagging_record(rec_ctx *c, const cJSON *obj, data_example *e)
{
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(obj, "tokens");
    if (!cJSON_IsArray(tokens)) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: \"tokens\" must be an array of strings", c->ds->path, c->line);
    size_t n = (size_t)cJSON_GetArraySize(tokens);
    if (n == 0) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: \"tokens\" is empty", c->ds->path, c->line);
    if (n > DATA_MAX_SENTENCE_WORDS) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: more than %zu tokens", c->ds->path, c->line, DATA_MAX_SENTENCE_WORDS);
    const char **words;
    TRY(read_string_array(c, tokens, "tokens", n, &words));
    for (size_t i = 0; i < n; i++)
        if (!words[i][0]) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: tokens[%zu] is empty", c->ds->path, c->line, i);
    e->tokens = words;
    e->n_tokens = n;
    if (c->opt->unlabeled) return ADAPT_OK;
    const char *key = "tags";
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!tags) tags = cJSON_GetObjectItemCaseSensitive(obj, key = "ner_tags");
    if (!cJSON_IsArray(tags)) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: \"tags\" must be an array of strings", c->ds->path, c->line);
    if ((size_t)cJSON_GetArraySize(tags) != n)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: %zu tokens but %d %s", c->ds->path, c->line, n, cJSON_GetArraySize(tags), key);
    const char **names;
    TRY(read_string_array(c, tags, key, n, &names));
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if (len == 0 || len > DATA_MAX_LABEL_BYTES)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: %s[%zu] is empty or longer than %zu bytes", c->ds->path, c->line, key, i, DATA_MAX_LABEL_BYTES);
        if (c->opt->scheme != CONLL_PLAIN && !iob_tag_is_valid(names[i]))
            return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: tag \"%s\" has an unknown IOB prefix (expected O, B-TYPE or I-TYPE)", c->ds->path, c->line, names[i]);
    }
    if (c->opt->scheme == CONLL_IOB1) TRY(iob1_to_iob2(c->ds, names, n));
    int32_t *ids = dataset_alloc(c->ds, n * sizeof *ids);
    if (!ids) return adapt_fail(ADAPT_ERR_NOMEM, "%s:%zu: out of memory", c->ds->path, c->line);
    for (size_t i = 0; i < n; i++) ids[i] = -1;
    e->tags = names;
    e->tag_ids = ids;
    return ADAPT_OK;
}

static adapt_status read_record(rec_ctx *c, const char *line, size_t len, bool first)
{
    char what[64 + 4096];
    snprintf(what, sizeof what, "%s:%zu", c->ds->path, c->line);
    /* Parsed here rather than with json_parse() so that trailing text after the object is an
     * error too, not silently dropped. */
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    size_t at = end ? (size_t)(end - line) : 0;
    if (!obj) return adapt_fail(ADAPT_ERR_FORMAT, "%s: malformed JSON near byte %zu", what, at + 1);
    while (at < len && (line[at] == ' ' || line[at] == '\t')) at++;
    adapt_status st = ADAPT_OK;
    if (at < len) {
        st = adapt_fail(ADAPT_ERR_FORMAT, "%s: unexpected text after the JSON object at byte %zu", what, at + 1);
        goto done;
    }
    if (!cJSON_IsObject(obj)) {
        st = adapt_fail(ADAPT_ERR_FORMAT, "%s: record is not a JSON object", what);
        goto done;
    }
    bool tagging = cJSON_GetObjectItemCaseSensitive(obj, "tokens") != NULL;
    jsonl_records want = c->opt->expect;
    if (want != JSONL_ANY_RECORDS && tagging != (want == JSONL_TOKEN_RECORDS)) {
        st = adapt_fail(ADAPT_ERR_FORMAT, "%s: %s record, but %s needs %s records", what, tagging ? "a \"tokens\"" : "a \"text\"",
                        c->opt->expect_for ? c->opt->expect_for : "this file",
                        want == JSONL_TOKEN_RECORDS ? "\"tokens\" / \"tags\"" : "\"text\" / \"label\"");
        goto done;
    }
    if (first) {
        c->ds->kind = tagging ? DATASET_TAGGING : c->opt->regression ? DATASET_REGRESSION : DATASET_CLASSIFICATION;
    } else if (tagging != (c->ds->kind == DATASET_TAGGING)) {
        st = adapt_fail(ADAPT_ERR_FORMAT, "%s: %s record in a file of %s records", what,
                        tagging ? "a \"tokens\"" : "a \"text\"", tagging ? "\"text\"" : "\"tokens\"");
        goto done;
    }
    data_example *e = dataset_push(c->ds);
    if (!e) {
        st = ADAPT_ERR_NOMEM;
        goto done;
    }
    e->line = c->line;
    st = tagging ? read_tagging_record(c, obj, e) : read_sentence_record(c, obj, e);
    const cJSON *setup = cJSON_GetObjectItemCaseSensitive(obj, "setup");
    if (!st && c->opt->unlabeled && setup && !cJSON_IsNull(setup)) {
        st = copy_string(c, setup, "setup", &e->setup);
        if (!st && (!*e->setup || strlen(e->setup) > DATA_MAX_SETUP_BYTES))
            st = adapt_fail(ADAPT_ERR_FORMAT, "%s: \"setup\" is empty or longer than %d bytes", what, DATA_MAX_SETUP_BYTES);
    }
    const cJSON *lora = cJSON_GetObjectItemCaseSensitive(obj, "lora");
    if (!st && c->opt->unlabeled && lora && !cJSON_IsNull(lora)) {
        st = copy_string(c, lora, "lora", &e->lora);
        if (!st && (!*e->lora || strlen(e->lora) > DATA_MAX_LORA_BYTES))
            st = adapt_fail(ADAPT_ERR_FORMAT, "%s: \"lora\" is empty or longer than %d bytes", what, DATA_MAX_LORA_BYTES);
    }
done:
    cJSON_Delete(obj);
    return st;
}

adapt_status jsonl_read(const char *path, const jsonl_options *opt, dataset *out)
{
    static const jsonl_options defaults = {NULL, 0, false, false, CONLL_IOB2, JSONL_ANY_RECORDS, NULL};
    if (!opt) opt = &defaults;
    dataset_init(out, opt->regression ? DATASET_REGRESSION : DATASET_CLASSIFICATION, path);
    out->has_labels = !opt->unlabeled;
    out->iob = opt->scheme != CONLL_PLAIN;
    if (!out->path) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    text_reader *tr;
    TRY(text_reader_open(path, 0, &tr));
    rec_ctx c = {out, opt, 0};
    adapt_status st = ADAPT_OK;
    bool first = true;
    for (;;) {
        const char *line;
        size_t len;
        st = text_reader_next(tr, &line, &len);
        if (st != ADAPT_OK || !line) break;
        c.line = text_reader_line_number(tr);
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == len) continue;
        st = read_record(&c, line, len, first);
        if (st != ADAPT_OK) break;
        first = false;
    }
    text_reader_close(tr);
    TRY(st);
    return dataset_finish_labels(out, opt->labels, opt->n_labels);
}
