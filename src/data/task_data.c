#include "data/task_data.h"
#include "core/error.h"
#include "data/conll.h"
#include "data/jsonl.h"
#include "data/plain_text.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

adapt_status data_format_parse(const char *name, data_format *out)
{
    static const char *const names[] = {"auto", "conll", "tsv", "jsonl", "text"};
    for (int i = 0; i < 5; i++)
        if (!strcasecmp(name, names[i])) {
            *out = (data_format)i;
            return ADAPT_OK;
        }
    return adapt_fail(ADAPT_ERR_ARG, "unknown data format \"%s\" (auto, conll, tsv, jsonl or text)", name);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

data_format data_format_resolve(const char *path, data_format given, bool tagging)
{
    if (given != DATA_FORMAT_AUTO) return given;
    if (ends_with(path, ".jsonl") || ends_with(path, ".jsonl.xz")) return DATA_FORMAT_JSONL;
    return tagging ? DATA_FORMAT_CONLL : DATA_FORMAT_TSV;
}

static adapt_status read_jsonl(const char *path, const task_data_options *o, dataset *out)
{
    char who[64];
    snprintf(who, sizeof who, "task %s", o->glue ? o->glue->display : "ner");
    jsonl_options jo = {.labels = o->labels, .n_labels = o->n_labels, .unlabeled = o->unlabeled, .scheme = CONLL_IOB2,
                        .expect = o->glue ? JSONL_TEXT_RECORDS : JSONL_TOKEN_RECORDS, .expect_for = who};
    if (o->glue) {
        jo.regression = o->glue->regression || o->regression;
        if (!jo.labels) jo.labels = o->glue->labels, jo.n_labels = o->glue->n_labels;
    }
    return jsonl_read(path, &jo, out);
}

adapt_status task_data_read(const char *path, const task_data_options *o, dataset *out)
{
    data_format f = data_format_resolve(path, o->format, !o->glue);
    dataset_init(out, o->glue ? DATASET_CLASSIFICATION : DATASET_TAGGING, NULL);
    if (o->regression && !(o->glue && (o->glue->regression || !strcmp(o->glue->name, "tsv"))))
        return adapt_fail(ADAPT_ERR_ARG, "%s: regression targets need task tsv (or a regression task such as stsb), not %s", path,
                          o->glue ? o->glue->display : "ner");
    if (f == DATA_FORMAT_JSONL) return read_jsonl(path, o, out);
    if (f == DATA_FORMAT_TEXT) {
        if (o->glue || !o->unlabeled)
            return adapt_fail(ADAPT_ERR_ARG, "%s: plain text (one sentence per line) is input for a tagging head's predictions only",
                              path);
        return plain_text_read(path, out);
    }
    if (!o->glue) {
        if (f != DATA_FORMAT_CONLL) return adapt_fail(ADAPT_ERR_ARG, "%s: task ner reads CoNLL or JSON Lines files, not TSV", path);
        conll_options co = {.scheme = o->unlabeled ? CONLL_PLAIN : CONLL_IOB2, .labels = o->labels, .n_labels = o->n_labels,
                            .tokens_only = o->unlabeled};
        return conll_read(path, &co, out);
    }
    if (f != DATA_FORMAT_TSV)
        return adapt_fail(ADAPT_ERR_ARG, "%s: task %s reads TSV or JSON Lines files, not CoNLL", path, o->glue->display);
    glue_options go = {.labels = o->labels, .n_labels = o->n_labels, .unlabeled = o->unlabeled, .regression = o->regression};
    return glue_read(path, o->glue, &go, out);
}
