/* Datasets turned into model inputs: token ids per example and the labels aligned to them
 * (tagging: the first sub-token of each word carries the word's tag, the rest -100), then padded
 * batches. */
#ifndef ADAPT_TRAIN_EXAMPLES_H
#define ADAPT_TRAIN_EXAMPLES_H
#include "adapt.h"
#include "data/dataset.h"

typedef struct encoded_example {
    int32_t *ids, *type_ids;
    int32_t *labels;        /* tagging: per token (-100 = no label); NULL for sequence tasks */
    int32_t label;          /* sequence tasks: the class (-1 when unlabelled) */
    float target;           /* regression: the target value */
    int32_t *word_start;    /* tagging: first token of each word, -1 when truncation cut it */
    int len, n_words;
} encoded_example;

typedef struct encoded_set {
    encoded_example *ex;
    size_t n;
    bool tagging;
    bool regression;        /* sequence regression: targets instead of class labels */
    size_t n_tokens;        /* all tokens, for tokens/s */
} encoded_set;

/* Encodes a tagging, classification or regression dataset with the tokenizer (special tokens
 * added, truncated to max_len). */
adapt_status encode_dataset(adapt_tokenizer *tok, const dataset *ds, int max_len, encoded_set *out);
void encoded_set_free(encoded_set *s);
/* Moves src's examples to the end of dst (src is left empty). */
adapt_status encoded_set_append(encoded_set *dst, encoded_set *src);
/* Keeps the first n examples. */
void encoded_set_truncate(encoded_set *s, size_t n);
/* Tagging: the most words an example has (at least 1), to size buffers that hold one example's words. */
int encoded_set_most_words(const encoded_set *s);
/* Tagging: each word's row of logits (at its first token) in the example's [T, C] block, NULL for
 * a word truncation cut. */
void encoded_word_rows(const encoded_example *x, const float *example_logits, int C, const float **rows);
/* Tagging: the words before truncation's cut (1 + the last word that kept a token). */
size_t encoded_words_kept(const encoded_example *x);
/* Tagging: whether encoding at max_len tokens cut the example's last word off (train/tag_windows.c
 * then tags it in windows). */
bool encoded_was_cut(const encoded_example *x, int max_len);

typedef struct batch {
    int B, T;
    int32_t *ids, *mask, *type_ids;
    int64_t *labels;        /* [B*T] tagging / MLM, [B] classification (all -100 for regression) */
    float *targets;         /* [B] regression targets; NULL for the other tasks */
    int label_rows;
} batch;

/* Pads examples order[0..B) of the set into a batch (T = longest, ids padded with pad_id). */
adapt_status batch_build(const encoded_set *s, const size_t *order, int B, int32_t pad_id, batch *out);
void batch_free(batch *b);

#endif
