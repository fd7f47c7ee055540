#include "train/predict.h"
#include "core/error.h"
#include "core/fileio.h"
#include "train/evaluate.h"
#include "train/record_setups.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool jsonl_name(const char *path)
{
    size_t n = strlen(path);
    return n >= 6 && !strcasecmp(path + n - 6, ".jsonl");
}

/* One JSON object per line (cJSON escapes the strings). */
static adapt_status put_record(FILE *fp, cJSON *rec)
{
    char *text = rec ? cJSON_PrintUnformatted(rec) : NULL;
    cJSON_Delete(rec);
    if (!text) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    fprintf(fp, "%s\n", text);
    free(text);
    return ADAPT_OK;
}

/* The sentence's words as the input wrote them (with its language prefix, if it had one). */
static cJSON *input_words(const dataset *ds, const data_example *e)
{
    if (!ds->word_prefix[0]) return cJSON_CreateStringArray(e->tokens, (int)e->n_tokens);
    cJSON *arr = cJSON_CreateArray();
    size_t plen = strlen(ds->word_prefix);
    for (size_t w = 0; arr && w < e->n_tokens; w++) {
        size_t len = strlen(e->tokens[w]);
        char *word = malloc(plen + len + 1);
        cJSON *item = NULL;
        if (word) {
            memcpy(word, ds->word_prefix, plen);
            memcpy(word + plen, e->tokens[w], len + 1);
            item = cJSON_CreateString(word);
            free(word);
        }
        if (!item || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* The input's lines from `line` up to `until` that were not words: blank, or -DOCSTART- (its tag
 * O). Returns `until`. */
static size_t write_separators(FILE *fp, const dataset *ds, size_t line, size_t until, size_t *docstart)
{
    for (; line < until; line++) {
        while (*docstart < ds->n_docstart && ds->docstart_lines[*docstart] < line) ++*docstart;
        bool is_docstart = *docstart < ds->n_docstart && ds->docstart_lines[*docstart] == line;
        fputs(is_docstart ? "-DOCSTART-\tO\n" : "\n", fp);
    }
    return until;
}

static adapt_status write_tags(FILE *fp, const dataset *ds, int32_t *const *tags, float *const *scores, const tagger *t, bool jsonl)
{
    size_t longest = 1;
    for (size_t i = 0; i < ds->n; i++)
        if (ds->examples[i].n_tokens > longest) longest = ds->examples[i].n_tokens;
    const char **names = malloc(longest * sizeof *names); /* one sentence's tag names */
    if (!names) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_status s = ADAPT_OK;
    size_t line = 1, docstart = 0; /* the input line the next output line stands for */
    for (size_t i = 0; !s && i < ds->n; i++) {
        const data_example *e = &ds->examples[i];
        for (size_t w = 0; w < e->n_tokens; w++) names[w] = t->labels[tags[i][w]];
        if (!jsonl) {
            if (ds->n_lines) line = write_separators(fp, ds, line, e->line, &docstart);
            for (size_t w = 0; w < e->n_tokens; w++) {
                if (scores) fprintf(fp, "%s%s\t%s\t%.4f\n", ds->word_prefix, e->tokens[w], names[w], (double)scores[i][w]);
                else fprintf(fp, "%s%s\t%s\n", ds->word_prefix, e->tokens[w], names[w]);
            }
            line += e->n_tokens;
            if (!ds->n_lines) fprintf(fp, "\n");
            continue;
        }
        cJSON *rec = cJSON_CreateObject();
        if (rec) {
            cJSON_AddItemToObject(rec, "tokens", input_words(ds, e));
            cJSON_AddItemToObject(rec, "tags", cJSON_CreateStringArray(names, (int)e->n_tokens));
            if (scores) cJSON_AddItemToObject(rec, "scores", cJSON_CreateFloatArray(scores[i], (int)e->n_tokens));
            if (e->setup) cJSON_AddStringToObject(rec, "setup", e->setup);
            if (e->lora) cJSON_AddStringToObject(rec, "lora", e->lora);
        }
        s = put_record(fp, rec);
    }
    if (!s && !jsonl && ds->n_lines) write_separators(fp, ds, line, ds->n_lines + 1, &docstart);
    free(names);
    return s;
}

static adapt_status write_sequence(FILE *fp, const dataset *ds, const float *outs, const tagger *t, bool jsonl)
{
    int C = t->h.num_labels;
    bool regression = head_is_regression(&t->h);
    if (!jsonl) fprintf(fp, "index\tprediction\n");
    for (size_t i = 0; i < ds->n; i++) {
        const float *o = outs + i * (size_t)C;
        int best = 0;
        for (int k = 1; k < C; k++)
            if (o[k] > o[best]) best = k;
        if (!jsonl) {
            if (regression) fprintf(fp, "%zu\t%.9g\n", i, (double)o[0]);
            else fprintf(fp, "%zu\t%s\n", i, t->labels[best]);
            continue;
        }
        const data_example *e = &ds->examples[i];
        cJSON *rec = cJSON_CreateObject();
        if (rec) {
            cJSON_AddStringToObject(rec, "text", e->text);
            if (e->text_pair) cJSON_AddStringToObject(rec, "text_pair", e->text_pair);
            if (regression) cJSON_AddNumberToObject(rec, "label", (double)o[0]);
            else cJSON_AddStringToObject(rec, "label", t->labels[best]);
            if (e->setup) cJSON_AddStringToObject(rec, "setup", e->setup);
            if (e->lora) cJSON_AddStringToObject(rec, "lora", e->lora);
        }
        TRY(put_record(fp, rec));
    }
    return ADAPT_OK;
}

/* Every example's words, tags and scores arrays; a group of them is tagged at a time. */
typedef struct tag_arrays {
    const char *const **words;
    size_t *n_words;
    int32_t **tags;
    float **scores;
} tag_arrays;

static adapt_status tag_group(tagger *t, const size_t *examples, size_t n, void *ctx)
{
    const tag_arrays *all = ctx;
    tag_arrays g = {calloc(n + 1, sizeof *g.words), calloc(n + 1, sizeof *g.n_words), calloc(n + 1, sizeof *g.tags),
                    all->scores ? calloc(n + 1, sizeof *g.scores) : NULL};
    adapt_status s = g.words && g.n_words && g.tags && (g.scores || !all->scores) ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t k = 0; !s && k < n; k++) {
        g.words[k] = all->words[examples[k]];
        g.n_words[k] = all->n_words[examples[k]];
        g.tags[k] = all->tags[examples[k]];
        if (g.scores) g.scores[k] = all->scores[examples[k]];
    }
    if (!s) s = tagger_tag(t, n, g.words, g.n_words, g.tags, g.scores);
    free(g.words);
    free(g.n_words);
    free(g.tags);
    free(g.scores);
    return s;
}

static adapt_status predict_tags(tagger *t, const dataset *ds, FILE *fp, bool jsonl, bool want_scores)
{
    int32_t **tags = calloc(ds->n + 1, sizeof *tags);
    float **scores = want_scores ? calloc(ds->n + 1, sizeof *scores) : NULL;
    const char *const **words = calloc(ds->n + 1, sizeof *words);
    size_t *n_words = calloc(ds->n + 1, sizeof *n_words);
    adapt_status s = tags && words && n_words && (scores || !want_scores) ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < ds->n; i++) {
        words[i] = ds->examples[i].tokens;
        n_words[i] = ds->examples[i].n_tokens;
        if (!(tags[i] = calloc(n_words[i] + 1, sizeof(int32_t)))) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        if (scores && !(scores[i] = calloc(n_words[i] + 1, sizeof(float)))) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    tag_arrays all = {words, n_words, tags, scores};
    if (!s) s = for_each_record_setup(t, ds, tag_group, &all);
    if (!s) s = write_tags(fp, ds, tags, scores, t, jsonl);
    for (size_t i = 0; tags && i < ds->n; i++) free(tags[i]);
    for (size_t i = 0; scores && i < ds->n; i++) free(scores[i]);
    free(tags);
    free(scores);
    free(words);
    free(n_words);
    return s;
}

typedef struct sequence_outputs {
    const encoded_set *enc;
    float *outs;               /* [examples, labels] */
} sequence_outputs;

static adapt_status sequence_group(tagger *t, const size_t *examples, size_t n, void *ctx)
{
    const sequence_outputs *all = ctx;
    size_t C = (size_t)t->h.num_labels;
    encoded_set view = *all->enc; /* the group's examples (copied headers; the arrays stay the set's) */
    view.ex = malloc((n + 1) * sizeof *view.ex);
    view.n = n;
    float *outs = malloc((n + 1) * C * sizeof *outs);
    adapt_status s = view.ex && outs ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t k = 0; !s && k < n; k++) view.ex[k] = all->enc->ex[examples[k]];
    if (!s) s = sequence_head_outputs(t, &view, outs);
    for (size_t k = 0; !s && k < n; k++) memcpy(all->outs + examples[k] * C, outs + k * C, C * sizeof *outs);
    free(view.ex);
    free(outs);
    return s;
}

static adapt_status predict_sequences(tagger *t, const dataset *ds, FILE *fp, bool jsonl)
{
    encoded_set enc;
    adapt_status s = encode_dataset(t->tok, ds, t->max_len, &enc);
    float *outs = s ? NULL : malloc((ds->n + 1) * (size_t)t->h.num_labels * sizeof(float));
    if (!s && !outs) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    sequence_outputs all = {&enc, outs};
    if (!s) s = for_each_record_setup(t, ds, sequence_group, &all);
    if (!s) s = write_sequence(fp, ds, outs, t, jsonl);
    free(outs);
    encoded_set_free(&enc);
    return s;
}

adapt_status predict_file(tagger *t, const predict_options *o)
{
    bool tagging = t->h.kind == HEAD_TAGGING || t->h.kind == HEAD_TOKEN_CLASSIFIER;
    task_data_options to = {.glue = tagging ? NULL : o->task ? o->task : glue_task_find("tsv"), .format = o->format, .unlabeled = true};
    dataset ds;
    adapt_status s = task_data_read(o->input, &to, &ds);
    atomic_file af = {0};
    if (!s) s = atomic_file_begin(&af, o->output);
    bool jsonl = jsonl_name(o->output);
    if (!s && o->input_looks_like_text) *o->input_looks_like_text = ds.conll_rows > 0 && 2 * ds.conll_wide_rows > ds.conll_rows;
    if (!s) s = tagging ? predict_tags(t, &ds, af.fp, jsonl, o->scores) : predict_sequences(t, &ds, af.fp, jsonl);
    if (!s) s = atomic_file_commit(&af);
    else atomic_file_abort(&af); /* the previous output, if any, stays */
    dataset_free(&ds);
    return s;
}
