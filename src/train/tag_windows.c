/* Sentences longer than the tagger's max_len tokens: tagged in overlapping windows of words (the
 * model never sees more than max_len tokens at once), each word's logits taken from the window in
 * which it sits furthest from a cut edge, then one IOB2 decoding over the whole sentence. Before,
 * the words past the cut were tagged O. */
#include "core/error.h"
#include "train/bio_decode.h"
#include "train/examples.h"
#include "train/tagger.h"
#include <stdlib.h>
#include <string.h>

/* One window, words[0, n), encoded and run through the model and head: *enc (the caller frees it)
 * and *logits [T, C] in the model's activation arena (valid until its next forward). */
static adapt_status run_window(tagger *t, const char *const *words, size_t n, encoded_set *enc, float **logits)
{
    dataset ds;
    dataset_init(&ds, DATASET_TAGGING, "(input)");
    data_example *e = dataset_push(&ds);
    adapt_status s = e ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) {
        e->tokens = words;
        e->n_tokens = n;
        s = encode_dataset(t->tok, &ds, t->max_len, enc);
    }
    ds.n = 0; /* the words belong to the caller */
    dataset_free(&ds);
    size_t first = 0;
    batch b = {0};
    if (!s) s = batch_build(enc, &first, 1, t->m->cfg.pad_id, &b);
    if (!s) s = model_forward_inference(t->m, b.B, b.T, b.ids, b.mask, b.type_ids);
    *logits = s ? NULL : arena_floats(&t->m->acts, (size_t)b.T * t->n_labels);
    if (!s && !*logits) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) s = head_forward(t->m, &t->h, *logits);
    batch_free(&b);
    return s;
}

adapt_status tagger_tag_long(tagger *t, const char *const *words, size_t n, size_t fit, int32_t *tags, float *scores)
{
    int C = t->n_labels;
    float *word_logits = malloc((n ? n : 1) * (size_t)C * sizeof(float));
    const float **rows = calloc(n ? n : 1, sizeof *rows);
    size_t *margin = calloc(n ? n : 1, sizeof *margin); /* the chosen window's distance to a cut edge, + 1 */
    adapt_status s = word_logits && rows && margin ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    size_t width = fit ? fit : 1, start = 0;
    while (!s && start < n) {
        size_t end = start + width < n ? start + width : n;
        encoded_set enc = {0};
        float *logits = NULL;
        s = run_window(t, words + start, end - start, &enc, &logits);
        if (!s) {
            const encoded_example *x = &enc.ex[0];
            if (encoded_was_cut(x, t->max_len)) { /* longer words here: the window ends where they fit */
                size_t kept = encoded_words_kept(x);
                end = start + (kept ? kept : 1);
            }
            for (size_t w = start; w < end; w++) {
                int32_t tok = x->word_start[w - start];
                if (tok < 0) continue;
                size_t left = start == 0 ? n : w - start, right = end == n ? n : end - 1 - w;
                size_t m = (left < right ? left : right) + 1;
                if (m <= margin[w]) continue;
                margin[w] = m;
                memcpy(word_logits + w * (size_t)C, logits + (size_t)tok * C, (size_t)C * sizeof(float));
                rows[w] = word_logits + w * (size_t)C;
            }
        }
        encoded_set_free(&enc);
        if (end == n) break;
        size_t step = (end - start) / 2; /* half a window of overlap: every word but the ends gets context on both sides */
        start += step ? step : 1;
    }
    if (!s) s = bio_decode((const char *const *)t->labels, C, rows, (int)n, tags);
    for (size_t w = 0; !s && scores && w < n; w++) scores[w] = rows[w] ? tagger_label_probability(rows[w], C, tags[w]) : 1.0f;
    free(word_logits);
    free(rows);
    free(margin);
    return s;
}
