#include "train/evaluate.h"
#include "core/error.h"
#include "data/conll.h"
#include <stdlib.h>
#include <string.h>

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

adapt_status eval_tagging_file(tagger *t, const char *conll_path, ner_mode mode, size_t max_examples, eval_result *out)
{
    memset(out, 0, sizeof *out);
    if (t->h.kind != HEAD_TAGGING && t->h.kind != HEAD_TOKEN_CLASSIFIER)
        return adapt_fail(ADAPT_ERR_ARG, "%s: the head \"%s\" is not a tagging head", conll_path, t->h.name);
    dataset ds;
    conll_options opt = {.scheme = CONLL_IOB2, .labels = (const char *const *)t->labels, .n_labels = (size_t)t->n_labels};
    adapt_status s = conll_read(conll_path, &opt, &ds);
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
    if (!s) s = tagger_tag(t, n, words, n_words, tags);
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

adapt_status classify_encoded(tagger *t, const encoded_set *enc, int32_t *pred)
{
    if (t->h.kind != HEAD_CLASSIFICATION) return adapt_fail(ADAPT_ERR_ARG, "the head \"%s\" is not a classification head", t->h.name);
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
        for (int i = 0; !s && i < B; i++) pred[start + (size_t)i] = argmax(logits + (size_t)i * C, C);
        batch_free(&b);
    }
    free(order);
    return s;
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

adapt_status eval_classification_file(tagger *t, const glue_task *task, const char *path, size_t max_examples, eval_result *out)
{
    memset(out, 0, sizeof *out);
    if (t->h.kind != HEAD_CLASSIFICATION) return adapt_fail(ADAPT_ERR_ARG, "%s: the head \"%s\" is not a classification head", path, t->h.name);
    if (task->regression) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: %s is a regression task; adapt eval scores classification heads", path, task->display);
    dataset ds;
    glue_options opt = {.labels = (const char *const *)t->labels, .n_labels = (size_t)t->n_labels};
    adapt_status s = glue_read(path, task, &opt, &ds);
    if (!s && max_examples && max_examples < ds.n) ds.n = max_examples;
    if (!s && ds.n == 0) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: no examples", path);
    encoded_set enc = {0};
    if (!s) s = encode_dataset(t->tok, &ds, t->max_len, &enc);
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
