/* Mixed-LoRA batched inference (adapt.h, adapt_model_encode_mixed_lora; PEFT's adapter_names):
 * row b under LoRA names[b], or none, in one pass. The rows are regrouped per LoRA and every
 * LoRA branch adds each group's own B A x (model.h lora_route); the base GEMMs and the active
 * adapter composition run once over the whole batch. */
#include "adapters/lora.h"
#include "adapters/setup.h"
#include "core/error.h"
#include "model/row_groups.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static adapt_status group_rows(const adapt_model *m, int B, const char *const *names, const lora_state **groups, int *n,
                               int *group_of)
{
    for (int b = 0; b < B; b++) {
        const lora_state *s = NULL;
        if (names[b] && *names[b] && !(s = lora_find(m, names[b])))
            return adapt_fail(ADAPT_ERR_ARG, "mixed batch, row %d: no LoRA named \"%.80s\" is loaded", b, names[b]);
        const lora_state *other = s == m->lora ? NULL : lora_encoder_module(m, s) ? s : lora_encoder_module(m, m->lora) ? m->lora : NULL;
        if (other)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED,
                              "mixed batch, row %d: LoRA \"%s\" replaces the encoder's \"%s\" (modules_to_save), which "
                              "exists once: only rows of the active LoRA can use it", b, other->name, lora_encoder_module(m, other));
        int k = 0;
        while (k < *n && groups[k] != s) k++;
        if (k == *n) groups[(*n)++] = s;
        group_of[b] = k;
    }
    return ADAPT_OK;
}

adapt_status adapt_model_encode_mixed_lora(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask,
                                           const int32_t *type_ids, const char *const *names, float *hidden_out)
{
    if (!m || !ids || !names || !hidden_out || B <= 0 || T <= 0)
        return adapt_fail(ADAPT_ERR_ARG, "adapt_model_encode_mixed_lora: no model, ids, LoRA names or output, or an empty batch");
    if (m->lora && m->lora->merged)
        return adapt_fail(ADAPT_ERR_ARG, "LoRA \"%s\" is merged into the weights: unmerge it before a mixed-LoRA batch", m->lora->name);
    if (m->setup && !comp_rows_independent(m->setup->active))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "a mixed-LoRA batch regroups its rows, which a BatchSplit composition "
                          "gives to adapters by position and a Parallel one replicates: run them as separate batches");
    const lora_state **groups = malloc((size_t)B * sizeof *groups);
    int *group_of = malloc((size_t)B * sizeof *group_of), *rows = malloc((size_t)B * sizeof *rows), n = 0;
    adapt_status s = groups && group_of && rows ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) s = group_rows(m, B, names, groups, &n, group_of);
    if (!s) {
        row_groups_count(B, group_of, n, rows);
        m->lora_route = groups;
        m->lora_route_rows = rows;
        m->n_lora_routes = n;
        s = row_groups_forward(m, B, T, ids, mask, type_ids, group_of, n, hidden_out);
        m->lora_route = NULL;
        m->lora_route_rows = NULL;
        m->n_lora_routes = 0;
    }
    free(groups);
    free(group_of);
    free(rows);
    return s;
}
