/* Masked-language-modelling data: raw text packed into fixed-length rows (<s> tokens... </s>,
 * consecutive lines concatenated as in Hugging Face's group_texts), and dynamic masking per batch
 * (15% of the ordinary tokens, or of the words with whole-word masking; of the chosen tokens 80%
 * <mask>, 10% a random token, 10% unchanged). */
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

/* Reads text files (plain or .xz) into rows of `row_len` tokens (bos + row_len-2 + eos); at most
 * max_rows rows (0 = all), shared evenly by the files (what one leaves unused goes to the next).
 * Rows are encoded_set examples without labels. Token ids must lie below sp->vocab. */
adapt_status mlm_pack_files(adapt_tokenizer *tok, const char *const *paths, int n_paths, int row_len, size_t max_rows,
                            const mlm_special *sp, encoded_set *out);

/* Masks a batch in place: labels[i] = original id at masked positions, -100 elsewhere. Returns
 * the number of masked positions. */
size_t mlm_mask_batch(batch *b, const mlm_special *sp, double probability, uint64_t *rng);

/* Whole-word masking: word_start[id] (one byte per id of the model vocabulary) is 1 when token
 * `id` begins a word. The rule comes from the vocabulary's marker, the one most of its tokens use:
 * byte-level BPE tokens starting with "Ġ" (U+0120) or SentencePiece pieces starting with "▁"
 * (U+2581) begin a word; WordPiece tokens starting with "##" continue one. Fails when the
 * vocabulary has none of these markers. */
adapt_status mlm_word_starts(const adapt_tokenizer *tok, int32_t vocab, uint8_t **word_start);

/* Masks a batch by whole words, as Hugging Face's DataCollatorForWholeWordMask: in each row a word
 * is a word-start token and the tokens continuing it (the token after <s>, </s> or padding always
 * starts one); words are taken in random order until round(probability x the row's tokens) tokens
 * are covered, skipping words that would overshoot; every token of a chosen word is masked, each
 * then 80% <mask> / 10% random / 10% unchanged. Labels as mlm_mask_batch; *n_masked receives the
 * number of masked positions. */
adapt_status mlm_mask_batch_words(batch *b, const mlm_special *sp, const uint8_t *word_start, double probability, uint64_t *rng,
                                  size_t *n_masked);

/* Shared by both maskings: <s>, </s> and padding are never masked. */
static inline bool mlm_is_special(const mlm_special *sp, int32_t id) { return id == sp->bos || id == sp->eos || id == sp->pad; }
/* Makes position i a prediction: the label takes the id, the input becomes <mask> (80%), a random
 * ordinary token (10%) or stays (10%). */
void mlm_corrupt(batch *b, size_t i, const mlm_special *sp, uint64_t *rng);

#endif
