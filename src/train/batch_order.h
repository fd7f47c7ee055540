/* The order in which an epoch visits the training examples. With one source it is a shuffle. With
 * several (one per --train file, each trained under its own composition) every batch holds one
 * source's examples: each source's shuffled examples are cut into full batches, and the batches
 * of all sources are interleaved in proportion to the sources' sizes, so that a language's data
 * passes through its own language adapter and no source comes in a lump. */
#ifndef ADAPT_TRAIN_BATCH_ORDER_H
#define ADAPT_TRAIN_BATCH_ORDER_H
#include "adapt.h"
#include <stddef.h>
#include <stdint.h>

/* How many of the n examples an epoch visits: n for one source (source_of NULL), else each
 * source's full batches of B (the rest sit at the end of the order, out of this epoch). */
size_t epoch_positions(const uint8_t *source_of, size_t n, int n_sources, int B);

/* Fills order with a permutation of 0..n-1 drawn from rng (the same draws for one source as for
 * several, so a run's stream does not depend on how its data is split). */
adapt_status epoch_order(size_t *order, size_t n, const uint8_t *source_of, int n_sources, int B, uint64_t *rng);

#endif
