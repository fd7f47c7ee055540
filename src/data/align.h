/* Word-level labels <-> sub-token positions, as Hugging Face's run_ner does it: the first
 * sub-token of each word carries the word's label; the other sub-tokens of the word, special
 * tokens and padding get DATA_IGNORE_INDEX (-100) so the loss skips them. */
#ifndef ADAPT_DATA_ALIGN_H
#define ADAPT_DATA_ALIGN_H
#include "adapt.h"

/* word_ids[i]: index of the word sub-token i came from, or -1 for special tokens / padding.
 * A sub-token starts a word when its word id differs from the previous sub-token's.
 * labels_out[i] = word_labels[word_ids[i]] there, DATA_IGNORE_INDEX elsewhere.
 * A word id outside [-1, n_words) is an ADAPT_ERR_ARG. */
adapt_status align_labels_to_subtokens(const int32_t *word_ids, size_t n_sub,
                                       const int32_t *word_labels, size_t n_words,
                                       int32_t *labels_out);

/* The reverse, for prediction: word_preds[w] = sub_preds[i] of the first sub-token of word w;
 * words that have no sub-token (cut by truncation) get `missing`. */
adapt_status gather_word_predictions(const int32_t *word_ids, size_t n_sub, const int32_t *sub_preds,
                                     size_t n_words, int32_t missing, int32_t *word_preds);

#endif
