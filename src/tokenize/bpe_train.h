/* The BPE merge learner shared by the byte-level BPE and WordPiece trainers. */
#ifndef ADAPT_TOKENIZE_BPE_TRAIN_H
#define ADAPT_TOKENIZE_BPE_TRAIN_H
#include <stddef.h>
#include <stdint.h>
#include "tokenize/strmap.h"

typedef struct bpe_learner {
    /* symbols: index = symbol id; strings malloc'd */
    char **sym; size_t n_sym, cap_sym;
    strmap sym_index;
    /* words: symbol sequences with counts */
    int32_t **word; int32_t *wlen; int64_t *wcount; size_t n_words, cap_words;
    /* learned merges (pairs of symbol ids), in order */
    int32_t (*merges)[2]; size_t n_merges, cap_merges;
    const char *strip_prefix; /* removed from the right part when merging ("##" for WordPiece) */
} bpe_learner;

/* Symbol id of s (added if new). */
int32_t bpe_learner_symbol(bpe_learner *l, const char *s, size_t len);
void bpe_learner_add_word(bpe_learner *l, const int32_t *syms, int32_t n, int64_t count);
/* Learns merges until n_sym + n_reserved reaches vocab_size or no pair has min_frequency. */
void bpe_learner_run(bpe_learner *l, size_t vocab_size, size_t n_reserved, int64_t min_frequency);
void bpe_learner_free(bpe_learner *l);
#endif
