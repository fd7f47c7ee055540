#include "model/row_groups.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

void row_groups_count(int B, const int *group_of, int n_groups, int *rows_per_group)
{
    memset(rows_per_group, 0, (size_t)n_groups * sizeof *rows_per_group);
    for (int b = 0; b < B; b++) rows_per_group[group_of[b]]++;
}

adapt_status row_groups_forward(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask,
                                const int32_t *type_ids, const int *group_of, int n_groups, float *hidden_out)
{
    int *order = malloc((size_t)B * sizeof *order), R = 0;
    int32_t *buf = malloc((size_t)B * T * 3 * sizeof *buf);
    if (!order || !buf) {
        free(order), free(buf);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < n_groups; k++)
        for (int b = 0; b < B; b++)
            if (group_of[b] == k) order[R++] = b;
    int32_t *p_ids = buf, *p_mask = buf + (size_t)B * T, *p_type = buf + (size_t)2 * B * T;
    for (int r = 0; r < B; r++) {
        size_t from = (size_t)order[r] * T, to = (size_t)r * T;
        memcpy(p_ids + to, ids + from, (size_t)T * sizeof *ids);
        if (mask) memcpy(p_mask + to, mask + from, (size_t)T * sizeof *mask);
        if (type_ids) memcpy(p_type + to, type_ids + from, (size_t)T * sizeof *type_ids);
    }
    adapt_status st = model_forward_inference(m, B, T, p_ids, mask ? p_mask : NULL, type_ids ? p_type : NULL);
    size_t row_floats = (size_t)T * m->cfg.hidden;
    for (int r = 0; !st && r < B; r++)
        memcpy(hidden_out + (size_t)order[r] * row_floats, m->fw.hidden[m->cfg.layers] + (size_t)r * row_floats,
               row_floats * sizeof(float));
    free(order), free(buf);
    return st;
}
