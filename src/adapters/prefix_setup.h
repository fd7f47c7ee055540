/* Prefix tunings in a forward / backward pass: which ones each row of the batch runs (the active
 * composition's Stacks, BatchSplit's row blocks, Parallel's channels, a mixed batch's row groups),
 * their keys and values computed once per pass, each layer's rows for the attention, and the
 * gradients back to their weights. */
#ifndef ADAPT_ADAPTERS_PREFIX_SETUP_H
#define ADAPT_ADAPTERS_PREFIX_SETUP_H
#include "adapters/setup.h"
#include "model/layers.h"

#define PREFIX_MAX_ACTIVE 16 /* prefix tunings in one pass, and on one row */
#define PREFIX_MAX_GROUPS 16 /* distinct lists of them among the rows */

/* Rows that run the same prefix tunings (indices into the pass's defs, in composition order). */
typedef struct prefix_group {
    int n;
    int members[PREFIX_MAX_ACTIVE];
} prefix_group;

typedef struct prefix_pass {
    int n;
    const adapter_def *defs[PREFIX_MAX_ACTIVE];
    prefix_cache caches[PREFIX_MAX_ACTIVE];
    int n_groups;
    prefix_group groups[PREFIX_MAX_GROUPS];
    int *row_group;          /* [B]: the row's group, -1 without a prefix */
} prefix_pass;

/* Sets m->fw.prefix for this pass (NULL when the composition runs no prefix tuning). */
adapt_status prefix_pass_begin(adapt_model *m);
/* PEFT's prefixes count as past tokens for the position ids: each row's positions move by the
 * length of its PEFT-loaded prefixes (BERT every position, RoBERTa the non-padding ones), checked
 * against max_position_embeddings. Call after prefix_pass_begin, before the embeddings. */
adapt_status prefix_pass_shift_positions(adapt_model *m);
/* Layer l's prefix per row (*rows NULL: none in this layer), kept in the layer's cache for backward. */
adapt_status prefix_pass_layer(adapt_model *m, int l, const attention_prefix *const **rows);
/* Backward: layer l's prefixes as forward had them, with zeroed dk / dv where a trained prefix
 * tuning takes part; then their gradients into the modules' d_kv; at the end, the weights'. */
adapt_status prefix_pass_layer_backward(adapt_model *m, int l, const attention_prefix *const **rows);
void prefix_pass_layer_grads(adapt_model *m, int l);
adapt_status prefix_pass_backward(adapt_model *m);
/* The lowest layer a trained prefix reaches (-2: none is trained). */
int prefix_pass_lowest_trained_layer(const adapt_model *m);
bool prefix_pass_layer_trained(const adapt_model *m, int l);

#endif
