#include "train/tagger.h"
#include "adapters/setup.h"
#include "core/error.h"
#include "formats/adapterhub.h"
#include "train/bio_decode.h"
#include "train/examples.h"
#include "train/infer.h"
#include "train/progress.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

adapt_status tagger_open(const tagger_options *o, tagger *t)
{
    memset(t, 0, sizeof *t);
    t->max_len = o->max_len > 0 ? o->max_len : 128;
    t->batch_size = o->batch_size > 0 ? o->batch_size : 32;
    TRY(adapt_model_load_dtype(o->model_dir, o->weight_dtype, &t->m));
    /* Without --max-length, sentences are cut at 128 tokens or what the position table allows. */
    int limit = model_max_tokens(&t->m->cfg);
    if (o->max_len <= 0 && t->max_len > limit) t->max_len = limit;
    adapt_status s = model_check_max_tokens(&t->m->cfg, t->max_len);
    if (!s) s = adapt_tokenizer_load(o->tokenizer ? o->tokenizer : o->model_dir, &t->tok);
    char last_name[64] = "", last_dir[1024] = "";
    for (int i = 0; !s && i < o->n_adapters; i++) {
        char spec[1024];
        const char *name;
        infer_split_spec(o->adapters[i], spec, sizeof spec, &name); /* "DIR=NAME"; an existing path with '=' stays whole */
        s = adapterhub_load_adapter(t->m, spec, name, last_name, sizeof last_name);
        snprintf(last_dir, sizeof last_dir, "%s", spec);
    }
    char lora_dir[1024] = "";
    if (!s && o->n_loras) s = tagger_load_loras(o, t, lora_dir, sizeof lora_dir);
    if (!*last_dir) snprintf(last_dir, sizeof last_dir, "%s", lora_dir); /* the trainer saves the head beside the LoRA */
    const char *head_dir = o->head_dir ? o->head_dir : last_dir;
    if (!s && !*head_dir) s = adapt_fail(ADAPT_ERR_ARG, "no head: give a head folder or an adapter folder holding one");
    if (!s && !t->n_lora_heads) s = infer_load_head(head_dir, t);
    t->command_head = t->h;
    if (!s && (o->setup || *last_name)) s = setup_activate(t->m, o->setup ? o->setup : last_name);
    if (s) tagger_close(t);
    return s;
}

void tagger_close(tagger *t)
{
    for (int i = 0; t->labels && i < t->n_labels; i++) free(t->labels[i]);
    free(t->labels);
    adapt_tokenizer_free(t->tok);
    adapt_model_free(t->m);
    memset(t, 0, sizeof *t);
}

float tagger_label_probability(const float *v, int n, int k)
{
    float mx = v[0];
    for (int i = 1; i < n; i++) mx = v[i] > mx ? v[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)(v[i] - mx));
    return (float)(exp((double)(v[k] - mx)) / sum);
}

adapt_status tagger_tag(tagger *t, size_t n, const char *const *const *words, const size_t *n_words, int32_t **tags,
                        float **scores)
{
    if (t->h.kind != HEAD_TAGGING && t->h.kind != HEAD_TOKEN_CLASSIFIER)
        return adapt_fail(ADAPT_ERR_ARG, "the head \"%s\" is not a tagging head", t->h.name);
    /* The sentences as an unlabelled tagging dataset, encoded as training data is. */
    dataset ds;
    dataset_init(&ds, DATASET_TAGGING, "(input)");
    adapt_status s = ADAPT_OK;
    for (size_t i = 0; !s && i < n; i++) {
        data_example *e = dataset_push(&ds);
        if (!e) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        else {
            e->tokens = words[i];
            e->n_tokens = n_words[i];
        }
    }
    encoded_set enc = {0};
    if (!s) s = encode_dataset(t->tok, &ds, t->max_len, &enc);
    size_t *order = malloc((size_t)t->batch_size * sizeof(size_t));
    const float **rows = malloc((size_t)encoded_set_most_words(&enc) * sizeof *rows); /* a sentence's words' logits */
    size_t *cut = calloc(n + 1, sizeof *cut), n_cut = 0; /* sentences the length limit cut: windows after the batches */
    if (!s && (!order || !rows || !cut)) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    int C = t->n_labels;
    progress pr; /* a large file takes minutes: after 3 s, sentences done, rate and ETA on stderr */
    progress_init(&pr, (long)n, t->quiet);
    for (size_t start = 0; !s && start < n; start += (size_t)t->batch_size) {
        int B = (int)(n - start < (size_t)t->batch_size ? n - start : (size_t)t->batch_size);
        for (int i = 0; i < B; i++) order[i] = start + (size_t)i;
        batch b;
        s = batch_build(&enc, order, B, t->m->cfg.pad_id, &b);
        if (!s) s = model_forward_inference(t->m, b.B, b.T, b.ids, b.mask, b.type_ids);
        float *logits = s ? NULL : arena_floats(&t->m->acts, (size_t)b.B * b.T * C);
        if (!s && !logits) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        if (!s) s = head_forward(t->m, &t->h, logits);
        for (int i = 0; !s && i < B; i++) {
            const encoded_example *x = &enc.ex[start + (size_t)i];
            encoded_word_rows(x, logits + (size_t)i * b.T * C, C, rows);
            int32_t *out = tags[start + (size_t)i];
            s = bio_decode((const char *const *)t->labels, C, rows, x->n_words, out);
            for (int w = 0; !s && scores && w < x->n_words; w++)
                scores[start + (size_t)i][w] = rows[w] ? tagger_label_probability(rows[w], C, out[w]) : 1.0f;
            if (encoded_was_cut(x, t->max_len)) cut[n_cut++] = start + (size_t)i;
        }
        batch_free(&b);
        progress_items(&pr, (long)(start + (size_t)B), "sentences", 3.0);
    }
    progress_finish(&pr);
    for (size_t k = 0; !s && k < n_cut; k++) {
        size_t fit = encoded_words_kept(&enc.ex[cut[k]]);
        s = tagger_tag_long(t, words[cut[k]], n_words[cut[k]], fit, tags[cut[k]], scores ? scores[cut[k]] : NULL);
    }
    free(cut);
    free(order);
    free(rows);
    encoded_set_free(&enc);
    ds.n = 0; /* the words belong to the caller */
    dataset_free(&ds);
    return s;
}
