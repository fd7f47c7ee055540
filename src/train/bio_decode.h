/* Tags of one sentence from its words' label logits, as a valid IOB2 sequence: the most probable
 * sequence (sum of the words' log-softmax) in which I-X only follows B-X or I-X. Per-word argmax
 * can emit "O I-LOC", which seqeval reads as an entity of its own; the constrained choice decides
 * between "B-LOC I-LOC" and "O O" by the probabilities instead. Labels that are not an IOB2 set
 * (an I-X without its B-X, or a name other than O / B-X / I-X) are decoded by argmax. */
#ifndef ADAPT_TRAIN_BIO_DECODE_H
#define ADAPT_TRAIN_BIO_DECODE_H
#include "adapt.h"
#include <stdint.h>

/* rows[w]: the C logits of word w, or NULL for a word without a token (cut off by the length
 * limit), which is tagged O (label 0 when there is no O). */
adapt_status bio_decode(const char *const *labels, int C, const float *const *rows, int n_words, int32_t *tags);

#endif
