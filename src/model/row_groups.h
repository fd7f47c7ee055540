/* Mixed batches (adapt_model_encode_mixed, adapt_model_encode_mixed_lora): the rows of a batch
 * regrouped so that each group's rows are contiguous (group 0's first, each in the caller's
 * order), one forward pass, then every row's hidden states back in the caller's place. */
#ifndef ADAPT_MODEL_ROW_GROUPS_H
#define ADAPT_MODEL_ROW_GROUPS_H
#include "model/model.h"

/* Runs model_forward_inference over the regrouped rows (group_of[b] in [0, n_groups)); whatever
 * routes the groups (the caller sets them before) sees group k's rows_per_group[k] rows in
 * order. hidden_out [B, T, hidden] in the caller's row order. */
adapt_status row_groups_forward(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask,
                                const int32_t *type_ids, const int *group_of, int n_groups, float *hidden_out);

/* rows_per_group[k]: how many rows group_of puts in group k. */
void row_groups_count(int B, const int *group_of, int n_groups, int *rows_per_group);

#endif
