/* A process's share of a data-parallel step (train/data_parallel.h): its rows of the batch, the
 * weight its mean loss carries, and the sum of every process's gradients. */
#ifndef ADAPT_TRAIN_BATCH_SHARE_H
#define ADAPT_TRAIN_BATCH_SHARE_H
#include "core/store.h"
#include "train/examples.h"

/* Rows [lo, hi) of b (hi - lo of process `rank` among `size`, as even as can be), a view into
 * b's buffers: same T, nothing to free. */
batch batch_share(const batch *b, int rank, int size);
/* The rows or tokens that carry a label (regression: every row); losses are means over them. */
long batch_labelled(const batch *b, bool regression);
/* A gradient sum of the trainable tensors of s over all processes, through one buffer that is
 * kept in *scratch (grown as needed; the caller frees it). */
adapt_status gradients_sum(param_store *s, float **scratch, size_t *scratch_n);

#endif
