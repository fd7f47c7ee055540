#include "train/evaluate.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

adapt_status eval_tagging_file(tagger *t, const char *path, data_format format, ner_mode mode, size_t max_examples, eval_result *out)
{
    memset(out, 0, sizeof *out);
    if (t->h.kind != HEAD_TAGGING && t->h.kind != HEAD_TOKEN_CLASSIFIER)
        return adapt_fail(ADAPT_ERR_ARG, "%s: the head \"%s\" is not a tagging head", path, t->h.name);
    dataset ds;
    task_data_options opt = {.format = format, .labels = (const char *const *)t->labels, .n_labels = (size_t)t->n_labels};
    adapt_status s = task_data_read(path, &opt, &ds);
    if (!s && max_examples && max_examples < ds.n) ds.n = max_examples;
    size_t n = s ? 0 : ds.n;
    int32_t **tags = s ? NULL : calloc(n + 1, sizeof *tags);
    const char *const **words = s ? NULL : calloc(n + 1, sizeof *words);
    size_t *n_words = s ? NULL : calloc(n + 1, sizeof *n_words);
    if (!s && (!tags || !words || !n_words)) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < n; i++) {
        words[i] = ds.examples[i].tokens;
        n_words[i] = ds.examples[i].n_tokens;
        if (!(tags[i] = calloc(n_words[i] + 1, sizeof(int32_t)))) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    if (!s) s = tagger_tag(t, n, words, n_words, tags, NULL);
    ner_eval ev;
    ner_eval_init(&ev, mode);
    for (size_t i = 0; !s && i < n; i++)
        s = ner_eval_add_ids(&ev, ds.examples[i].tag_ids, tags[i], n_words[i], (const char *const *)t->labels, (size_t)t->n_labels);
    if (!s) {
        out->metric_name = "entity_f1";
        out->entity = ner_eval_scores(&ev);
        out->token_accuracy = ner_eval_accuracy(&ev);
        out->metric = 100 * out->entity.f1;
        out->n_examples = n;
    }
    ner_eval_free(&ev);
    for (size_t i = 0; tags && i < n; i++) free(tags[i]);
    free(tags);
    free(words);
    free(n_words);
    dataset_free(&ds);
    return s;
}

adapt_status sequence_head_outputs(tagger *t, const encoded_set *enc, float *out)
{
    if (t->h.kind != HEAD_CLASSIFICATION) return adapt_fail(ADAPT_ERR_ARG, "the head \"%s\" is not a classification or regression head", t->h.name);
    int C = t->h.num_labels, Bmax = t->batch_size;
    size_t *order = malloc((size_t)Bmax * sizeof(size_t));
    adapt_status s = order ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t start = 0; !s && start < enc->n; start += (size_t)Bmax) {
        int B = (int)(enc->n - start < (size_t)Bmax ? enc->n - start : (size_t)Bmax);
        for (int i = 0; i < B; i++) order[i] = start + (size_t)i;
        batch b;
        s = batch_build(enc, order, B, t->m->cfg.pad_id, &b);
        if (s) break;
        t->m->training = false;
        s = model_forward_inference(t->m, b.B, b.T, b.ids, b.mask, b.type_ids);
        float *logits = s ? NULL : arena_floats(&t->m->acts, (size_t)B * C);
        if (!s && !logits) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        if (!s) s = head_forward(t->m, &t->h, logits);
        if (!s) memcpy(out + start * (size_t)C, logits, (size_t)B * C * sizeof(float));
        batch_free(&b);
    }
    free(order);
    return s;
}

adapt_status classify_encoded(tagger *t, const encoded_set *enc, int32_t *pred)
{
    int C = t->h.num_labels;
    float *outs = malloc((enc->n ? enc->n : 1) * (size_t)C * sizeof(float));
    adapt_status s = outs ? sequence_head_outputs(t, enc, outs) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < enc->n; i++) pred[i] = argmax(outs + i * (size_t)C, C);
    free(outs);
    return s;
}

/* The labelled file as encoded examples (at most max_examples; 0: all). */
static adapt_status read_encoded(tagger *t, const char *path, const task_data_options *opt, size_t max_examples, dataset *ds,
                                 encoded_set *enc)
{
    memset(enc, 0, sizeof *enc);
    TRY(task_data_read(path, opt, ds));
    if (max_examples && max_examples < ds->n) ds->n = max_examples;
    if (ds->n == 0) return adapt_fail(ADAPT_ERR_FORMAT, "%s: no examples", path);
    return encode_dataset(t->tok, ds, t->max_len, enc);
}

static adapt_status scores(const glue_task *task, const int32_t *gold, const int32_t *pred, size_t n, int C, eval_result *out)
{
    TRY(metric_accuracy(gold, pred, n, &out->accuracy));
    TRY(metric_matthews(gold, pred, n, C, &out->mcc));
    TRY(metric_macro_f1(gold, pred, n, C, &out->macro_f1));
    if (C == 2) TRY(metric_binary_f1(gold, pred, n, 1, &out->f1));
    out->metric_name = task->metric;
    if (!strcmp(task->metric, "mcc")) out->metric = 100 * out->mcc;
    else if (!strcmp(task->metric, "f1")) out->metric = 100 * (C == 2 ? out->f1 : out->macro_f1);
    else out->metric = 100 * out->accuracy;
    out->n_examples = n;
    return ADAPT_OK;
}

adapt_status eval_classification_file(tagger *t, const glue_task *task, const char *path, data_format format, size_t max_examples,
                                      eval_result *out)
{
    memset(out, 0, sizeof *out);
    if (t->h.kind != HEAD_CLASSIFICATION || head_is_regression(&t->h))
        return adapt_fail(ADAPT_ERR_ARG, "%s: the head \"%s\" is not a classification head", path, t->h.name);
    if (task->regression)
        return adapt_fail(ADAPT_ERR_ARG, "%s: %s is a regression task, but the head \"%s\" has %d outputs (a regression head has one)",
                          path, task->display, t->h.name, t->h.num_labels);
    dataset ds;
    encoded_set enc;
    task_data_options opt = {.glue = task, .format = format, .labels = (const char *const *)t->labels, .n_labels = (size_t)t->n_labels};
    adapt_status s = read_encoded(t, path, &opt, max_examples, &ds, &enc);
    int32_t *gold = s ? NULL : malloc(enc.n * sizeof(int32_t)), *pred = s ? NULL : malloc(enc.n * sizeof(int32_t));
    if (!s && (!gold || !pred)) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < enc.n; i++) gold[i] = enc.ex[i].label;
    if (!s) s = classify_encoded(t, &enc, pred);
    if (!s) s = scores(task, gold, pred, enc.n, t->n_labels, out);
    free(gold);
    free(pred);
    encoded_set_free(&enc);
    dataset_free(&ds);
    return s;
}

adapt_status eval_regression_file(tagger *t, const glue_task *task, const char *path, data_format format, size_t max_examples,
                                  eval_result *out)
{
    memset(out, 0, sizeof *out);
    if (!head_is_regression(&t->h)) return adapt_fail(ADAPT_ERR_ARG, "%s: the head \"%s\" is not a regression head", path, t->h.name);
    if (!task->regression && strcmp(task->name, "tsv"))
        return adapt_fail(ADAPT_ERR_ARG, "%s: the head \"%s\" is a regression head, but %s is a classification task (use --task tsv "
                                         "or stsb)", path, t->h.name, task->display);
    dataset ds;
    encoded_set enc;
    task_data_options opt = {.glue = task, .format = format, .regression = true};
    adapt_status s = read_encoded(t, path, &opt, max_examples, &ds, &enc);
    size_t n = s ? 0 : enc.n;
    float *pred = s ? NULL : malloc(n * sizeof(float));
    double *gold_v = s ? NULL : malloc(n * sizeof(double)), *pred_v = s ? NULL : malloc(n * sizeof(double));
    if (!s && (!pred || !gold_v || !pred_v)) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) s = sequence_head_outputs(t, &enc, pred);
    for (size_t i = 0; !s && i < n; i++) {
        gold_v[i] = enc.ex[i].target;
        pred_v[i] = pred[i];
        out->mse += (pred_v[i] - gold_v[i]) * (pred_v[i] - gold_v[i]) / (double)n;
    }
    if (!s) s = metric_pearson(gold_v, pred_v, n, &out->pearson);
    if (!s) s = metric_spearman(gold_v, pred_v, n, &out->spearman);
    if (!s) {
        out->metric_name = "pearson";
        out->metric = 100 * out->pearson;
        out->n_examples = n;
    }
    free(pred);
    free(gold_v);
    free(pred_v);
    encoded_set_free(&enc);
    dataset_free(&ds);
    return s;
}
