/* Masked-language-modelling data: raw text packed into fixed-length rows (<s> tokens... </s>,
 * consecutive lines concatenated as in Hugging Face's group_texts), and dynamic masking per batch
 * (15% of the ordinary tokens; of those 80% <mask>, 10% a random token, 10% unchanged). */
#ifndef ADAPT_TRAIN_MLM_DATA_H
#define ADAPT_TRAIN_MLM_DATA_H
#include "train/examples.h"

typedef struct mlm_special {
    int32_t bos, eos, pad, mask;
    int32_t vocab;          /* random replacements are drawn from [first_regular, vocab) */
    int32_t first_regular;
} mlm_special;

/* Finds <s>/</s>/<pad>/<mask> (or [CLS]/[SEP]/[PAD]/[MASK]) in the tokenizer. */
adapt_status mlm_special_ids(const adapt_tokenizer *tok, int32_t model_vocab, mlm_special *out);

/* Reads text files (plain or .xz) into rows of `row_len` tokens (bos + row_len-2 + eos); stops
 * after max_rows rows (0 = all). Rows are encoded_set examples without labels. */
adapt_status mlm_pack_files(adapt_tokenizer *tok, const char *const *paths, int n_paths, int row_len, size_t max_rows,
                            const mlm_special *sp, encoded_set *out);

/* Masks a batch in place: labels[i] = original id at masked positions, -100 elsewhere. Returns
 * the number of masked positions. */
size_t mlm_mask_batch(batch *b, const mlm_special *sp, double probability, uint64_t *rng);

#endif
