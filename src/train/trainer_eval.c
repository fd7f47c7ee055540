/* Dev-set evaluation during training: entity F1 (IOB2-decoded, long sentences tagged in
 * windows as predict does), accuracy / MCC / F1 / Pearson, or the MLM loss; in a data-parallel
 * run each process evaluates its share. */
#include "adapters/fusion_train.h"
#include "core/error.h"
#include "train/bio_decode.h"
#include "train/data_parallel.h"
#include "train/metrics.h"
#include "train/tagger.h"
#include "train/trainer_run.h"
#include <stdlib.h>
#include <string.h>

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

/* Dev evaluation in a data-parallel run: each process takes every N-th batch and fills in the
 * outputs of its examples, zeros elsewhere; one sum then gives every process all the outputs
 * (each came from one process), and the metric is computed alike everywhere. AdapterFusion's
 * temperature falls with every forward (BertFusion.forward), so a batch evaluated elsewhere
 * lowers it here too: every process keeps the one-process schedule. */
static bool evaluates_batch(size_t batch_index) { return batch_index % (size_t)dp_size() == (size_t)dp_rank(); }

/* MLM dev loss with the same masks every time (a fixed seed), so evaluations compare. */
static adapt_status evaluate_mlm(run *r, double *metric, double *mean_loss)
{
    uint64_t rng = 1234567;
    double sums[2] = {0, 0}; /* loss, batches */
    size_t order[32];
    for (size_t start = 0, k = 0; start < r->dev.n; start += 32, k++) {
        int n = (int)(r->dev.n - start < 32 ? r->dev.n - start : 32);
        for (int i = 0; i < n; i++) order[i] = start + (size_t)i;
        batch b;
        TRY(batch_build(&r->dev, order, n, r->pad_id, &b));
        double loss = 0;
        bool ours = evaluates_batch(k);
        adapt_status s = trainer_mask_batch(r, &b, &rng); /* every batch: the masks of the next depend on it */
        if (!s && ours) s = trainer_forward_loss(r, &b, false, 1.0, &loss, NULL);
        else if (!s) setup_fusion_step_temperature(r->m); /* as the forward that evaluates it elsewhere does */
        batch_free(&b);
        TRY(s);
        if (ours) sums[0] += loss, sums[1] += 1;
    }
    TRY(dp_sum_doubles(sums, 2));
    *mean_loss = sums[1] > 0 ? sums[0] / sums[1] : 0;
    *metric = -*mean_loss; /* higher is better for checkpoint selection */
    return ADAPT_OK;
}

/* Every example's outputs, in one array of doubles that the processes sum: the class or the
 * regression prediction (one per example), or the tag of each word (tagging; from word_at). */
typedef struct dev_outputs {
    double *values;
    size_t *word_at, n;
} dev_outputs;

static adapt_status dev_outputs_init(dev_outputs *o, const encoded_set *s)
{
    o->word_at = malloc((s->n + 1) * sizeof *o->word_at);
    if (!o->word_at) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    o->n = 0;
    for (size_t i = 0; i < s->n; i++) {
        o->word_at[i] = o->n;
        o->n += s->tagging ? (size_t)s->ex[i].n_words : 1;
    }
    o->word_at[s->n] = o->n;
    o->values = calloc(o->n + 1, sizeof *o->values);
    return o->values ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
}

static void dev_outputs_set_tags(dev_outputs *o, size_t example, const int32_t *tags)
{
    for (size_t w = o->word_at[example]; w < o->word_at[example + 1]; w++) o->values[w] = tags[w - o->word_at[example]];
}

/* Tagging: entity F1 of the decoded tags against the gold ones. */
static adapt_status entity_f1(const run *r, const dev_outputs *o, int32_t *tags, double *f1)
{
    const dataset *ds = &r->dev_ds;
    ner_eval ev;
    ner_eval_init(&ev, NER_MODE_DEFAULT);
    adapt_status st = ADAPT_OK;
    for (size_t i = 0; !st && i < r->dev.n; i++) {
        size_t words = o->word_at[i + 1] - o->word_at[i];
        for (size_t w = 0; w < words; w++) tags[w] = (int32_t)o->values[o->word_at[i] + w];
        st = ner_eval_add_ids(&ev, ds->examples[i].tag_ids, tags, words, (const char *const *)ds->labels.names, ds->labels.n);
    }
    if (!st) *f1 = 100 * ner_eval_scores(&ev).f1;
    ner_eval_free(&ev);
    return st;
}

adapt_status trainer_evaluate(run *r, double *metric, double *mean_loss)
{
    if (r->mlm) return evaluate_mlm(r, metric, mean_loss);
    const encoded_set *s = &r->dev;
    const dataset *ds = &r->dev_ds;
    int C = r->h.num_labels, B = 64;
    dev_outputs out = {0};
    int32_t *gold = malloc(s->n * sizeof(int32_t) + 4), *pred = malloc(s->n * sizeof(int32_t) + 4);
    double *gold_v = malloc(s->n * sizeof(double) + 8); /* regression (its predictions: out.values) */
    size_t *order = malloc((size_t)B * sizeof(size_t));
    /* tagging: one sentence's words' logits and tags, decoded as predict and eval do (valid IOB2) */
    int most_words = s->tagging ? encoded_set_most_words(s) : 1;
    const float **rows = malloc((size_t)most_words * sizeof *rows);
    int32_t *wp = malloc((size_t)most_words * sizeof *wp);
    size_t *cut = calloc(s->n + 1, sizeof *cut), n_cut = 0; /* tagging: sentences the length limit cut, tagged after in windows */
    adapt_status st = gold && pred && gold_v && order && rows && wp && cut ? dev_outputs_init(&out, s)
                                                                          : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    double sums[2] = {0, 0}; /* loss, batches */
    for (size_t start = 0, k = 0; !st && start < s->n; start += (size_t)B, k++) {
        if (!evaluates_batch(k)) {
            setup_fusion_step_temperature(r->m); /* as the forward that evaluates it elsewhere does */
            continue;
        }
        int n = (int)(s->n - start < (size_t)B ? s->n - start : (size_t)B);
        for (int i = 0; i < n; i++) order[i] = start + (size_t)i;
        batch b;
        st = batch_build(s, order, n, r->pad_id, &b);
        double loss;
        float *logits;
        if (!st) st = trainer_forward_loss(r, &b, false, 1.0, &loss, &logits);
        sums[0] += st ? 0 : loss;
        sums[1] += 1;
        for (int i = 0; !st && i < n; i++) {
            size_t e = start + (size_t)i;
            const encoded_example *x = &s->ex[e];
            if (s->regression) out.values[e] = logits[i];
            else if (!s->tagging) out.values[e] = argmax(logits + (size_t)i * C, C);
            else if (encoded_was_cut(x, r->o->max_len)) cut[n_cut++] = e;
            else {
                encoded_word_rows(x, logits + (size_t)i * b.T * C, C, rows);
                st = bio_decode((const char *const *)r->train_ds.labels.names, C, rows, x->n_words, wp); /* the head's labels */
                if (!st) dev_outputs_set_tags(&out, e, wp);
            }
        }
        batch_free(&b);
    }
    /* as predict and eval tag them (train/tag_windows.c), so that the best dev F1 is what `adapt eval` reports */
    tagger view = {.m = r->m, .tok = r->tok, .h = r->h, .labels = r->train_ds.labels.names, .n_labels = C, .max_len = r->o->max_len, .batch_size = 1};
    for (size_t k = 0; !st && k < n_cut; k++) {
        const encoded_example *x = &s->ex[cut[k]];
        st = tagger_tag_long(&view, ds->examples[cut[k]].tokens, (size_t)x->n_words, encoded_words_kept(x), wp, NULL);
        if (!st) dev_outputs_set_tags(&out, cut[k], wp);
    }
    if (!st) st = dp_sum_doubles(out.values, out.n);
    if (!st) st = dp_sum_doubles(sums, 2);
    for (size_t i = 0; !st && !s->tagging && i < s->n; i++) /* sequence tasks: one output per example */
        gold[i] = s->ex[i].label, gold_v[i] = s->ex[i].target, pred[i] = (int32_t)out.values[i];
    if (!st) {
        if (s->tagging) st = entity_f1(r, &out, wp, metric);
        else if (s->regression) st = metric_pearson(gold_v, out.values, s->n, metric), *metric *= 100;
        else if (!strcmp(r->glue->metric, "mcc")) st = metric_matthews(gold, pred, s->n, C, metric), *metric *= 100;
        else if (!strcmp(r->glue->metric, "f1")) st = metric_binary_f1(gold, pred, s->n, 1, metric), *metric *= 100;
        else st = metric_accuracy(gold, pred, s->n, metric), *metric *= 100;
        *mean_loss = sums[1] > 0 ? sums[0] / sums[1] : 0;
    }
    free(out.values);
    free(out.word_at);
    free(gold);
    free(pred);
    free(gold_v);
    free(order);
    free(rows);
    free(wp);
    free(cut);
    return st;
}
