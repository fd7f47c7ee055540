/* The public API's tagger (adapt.h): train/tagger.h behind an opaque handle. */
#include "adapters/setup.h"
#include "core/error.h"
#include "train/tagger.h"
#include <stdlib.h>

struct adapt_tagger {
    tagger t;
};

adapt_status adapt_tagger_open(const adapt_tagger_options *options, adapt_tagger **out)
{
    if (!out) return adapt_fail(ADAPT_ERR_ARG, "adapt_tagger_open: no output handle");
    *out = NULL;
    if (!options || !options->model_dir) return adapt_fail(ADAPT_ERR_ARG, "adapt_tagger_open: no model folder");
    if (options->n_adapters < 0 || options->n_adapters > TAGGER_MAX_ADAPTERS || (options->n_adapters && !options->adapters))
        return adapt_fail(ADAPT_ERR_ARG, "adapt_tagger_open: %d adapters (0 to %d, in `adapters`)", options->n_adapters,
                          TAGGER_MAX_ADAPTERS);
    tagger_options o = {.model_dir = options->model_dir, .tokenizer = options->tokenizer, .n_adapters = options->n_adapters,
                        .head_dir = options->head_dir, .loras = {options->lora_dir}, .n_loras = options->lora_dir != NULL,
                        .setup = options->setup, .max_len = options->max_length, .batch_size = options->batch_size};
    for (int i = 0; i < o.n_adapters; i++) {
        if (!options->adapters[i]) return adapt_fail(ADAPT_ERR_ARG, "adapt_tagger_open: adapter %d has no folder", i);
        o.adapters[i] = options->adapters[i];
    }
    adapt_tagger *tg = calloc(1, sizeof *tg);
    if (!tg) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_status s = tagger_open(&o, &tg->t);
    tg->t.quiet = !options->progress;
    if (!s && tg->t.h.kind != HEAD_TAGGING && tg->t.h.kind != HEAD_TOKEN_CLASSIFIER) {
        s = adapt_fail(ADAPT_ERR_ARG, "the head \"%s\" is not a tagging head", tg->t.h.name);
        tagger_close(&tg->t);
    }
    if (s) {
        free(tg);
        return s;
    }
    *out = tg;
    return ADAPT_OK;
}

void adapt_tagger_free(adapt_tagger *tg)
{
    if (!tg) return;
    tagger_close(&tg->t);
    free(tg);
}

adapt_model *adapt_tagger_model(adapt_tagger *tg) { return tg ? tg->t.m : NULL; }

int adapt_tagger_num_labels(const adapt_tagger *tg) { return tg ? tg->t.n_labels : 0; }

const char *adapt_tagger_label(const adapt_tagger *tg, int k)
{
    return tg && k >= 0 && k < tg->t.n_labels ? tg->t.labels[k] : NULL;
}

adapt_status adapt_tagger_tag(adapt_tagger *tg, size_t n, const char *const *const *words, const size_t *n_words, int32_t **tags,
                              float **scores)
{
    if (!tg || (n && (!words || !n_words || !tags))) return adapt_fail(ADAPT_ERR_ARG, "adapt_tagger_tag: no tagger, words or tags");
    for (size_t i = 0; i < n; i++)
        if ((n_words[i] && !words[i]) || !tags[i] || (scores && !scores[i]))
            return adapt_fail(ADAPT_ERR_ARG, "adapt_tagger_tag: sentence %zu has no words, tags or scores array", i);
    return tagger_tag(&tg->t, n, words, n_words, tags, scores);
}
