#include "data/align.h"
#include "data/dataset.h"
#include "core/error.h"

static adapt_status check_word_id(int32_t w, size_t i, size_t n_words)
{
    if (w < -1 || (w >= 0 && (size_t)w >= n_words))
        return adapt_fail(ADAPT_ERR_ARG, "sub-token %zu has word id %d, outside [-1, %zu)", i, (int)w, n_words);
    return ADAPT_OK;
}

adapt_status align_labels_to_subtokens(const int32_t *word_ids, size_t n_sub,
                                       const int32_t *word_labels, size_t n_words,
                                       int32_t *labels_out)
{
    int32_t prev = -1;
    for (size_t i = 0; i < n_sub; i++) {
        int32_t w = word_ids[i];
        TRY(check_word_id(w, i, n_words));
        labels_out[i] = (w >= 0 && w != prev) ? word_labels[w] : DATA_IGNORE_INDEX;
        prev = w;
    }
    return ADAPT_OK;
}

adapt_status gather_word_predictions(const int32_t *word_ids, size_t n_sub, const int32_t *sub_preds,
                                     size_t n_words, int32_t missing, int32_t *word_preds)
{
    for (size_t w = 0; w < n_words; w++) word_preds[w] = missing;
    int32_t prev = -1;
    for (size_t i = 0; i < n_sub; i++) {
        int32_t w = word_ids[i];
        TRY(check_word_id(w, i, n_words));
        if (w >= 0 && w != prev) word_preds[w] = sub_preds[i];
        prev = w;
    }
    return ADAPT_OK;
}
