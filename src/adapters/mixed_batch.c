/* Multi-adapter batched inference (adapt.h, adapt_model_encode_mixed): every row of a batch under
 * its own composition, in one pass, so the base encoder's GEMMs run once over the whole batch.
 * The rows are regrouped so that each composition's rows are contiguous; at the embeddings and at
 * every adapter point each group then goes through its composition exactly as if that one were
 * active (adapter_setup's routes). Not a BatchSplit: AdapterHub's BatchSplit runs its first
 * adapter's pre-forward (LayerNorm(h + x)) over the whole batch before its children, so a Stack
 * child would not compute what the Stack computes alone, and it gives every row the first
 * adapter's invertible adapter. */
#include "adapters/setup.h"
#include "core/error.h"
#include "model/row_groups.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETUP_TEXT_MAX 4096

typedef struct row_group {
    char key[SETUP_TEXT_MAX];  /* the composition as the parser reads it: one spelling per meaning */
    comp_node *root;
} row_group;

/* The current message, prefixed with the row it is about. */
static adapt_status row_failure(adapt_status s, int b)
{
    char where[48];
    snprintf(where, sizeof where, "mixed batch, row %d", b);
    return adapt_fail_in(s, where);
}

/* Parses each row's composition into the distinct groups (group_of[b]; *n groups). */
static adapt_status group_rows(const adapt_model *m, int B, const char *const *texts, row_group *groups, int *n, int *group_of)
{
    for (int b = 0; b < B; b++) {
        if (!texts[b] || !*texts[b]) return adapt_fail(ADAPT_ERR_ARG, "mixed batch: row %d has no composition", b);
        comp_node *root;
        adapt_status s = comp_parse(texts[b], &root);
        if (s) return row_failure(s, b);
        char key[SETUP_TEXT_MAX];
        comp_format(root, key, sizeof key);
        if (!s && comp_parallel_channels(root) > 1) s = adapt_fail(ADAPT_ERR_ARG, "\"%s\" has a Parallel block", texts[b]);
        if (!s && strlen(key) >= sizeof key - 1) s = adapt_fail(ADAPT_ERR_ARG, "the composition is too long");
        if (!s) s = setup_check_composition(m, root);
        if (s) {
            comp_free(root);
            return row_failure(s, b);
        }
        int k = 0;
        while (k < *n && strcmp(groups[k].key, key)) k++;
        if (k == *n) {
            memcpy(groups[k].key, key, sizeof key);
            groups[k].root = root;
            (*n)++;
        } else {
            comp_free(root);
        }
        group_of[b] = k;
    }
    return ADAPT_OK;
}

/* One pass over the rows regrouped per composition, each group routed through its own. */
static adapt_status routed_pass(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask, const int32_t *type_ids,
                                const row_group *groups, int n, const int *group_of, float *hidden_out)
{
    int *rows = malloc((size_t)n * sizeof *rows);
    const comp_node **roots = malloc((size_t)n * sizeof *roots);
    if (!rows || !roots) {
        free(rows), free(roots);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < n; k++) roots[k] = groups[k].root;
    row_groups_count(B, group_of, n, rows);
    adapter_setup *s = m->setup;
    s->route_roots = roots;
    s->route_rows = rows;
    s->n_routes = n;
    adapt_status st = row_groups_forward(m, B, T, ids, mask, type_ids, group_of, n, hidden_out);
    s->route_roots = NULL;
    s->route_rows = NULL;
    s->n_routes = 0;
    free(rows), free(roots);
    return st;
}

adapt_status adapt_model_encode_mixed(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask,
                                      const int32_t *type_ids, const char *const *texts, float *hidden_out)
{
    if (!m || !ids || !texts || !hidden_out || B <= 0 || T <= 0)
        return adapt_fail(ADAPT_ERR_ARG, "adapt_model_encode_mixed: no model, ids, compositions or output, or an empty batch");
    adapter_setup *registry;
    TRY(model_setup(m, &registry));
    row_group *groups = malloc((size_t)B * sizeof *groups);
    int *group_of = malloc((size_t)B * sizeof *group_of), n = 0;
    adapt_status s = groups && group_of ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) s = group_rows(m, B, texts, groups, &n, group_of);
    if (!s) {
        comp_node *callers = registry->active; /* set aside: the routes replace it for this pass */
        registry->active = NULL;
        s = routed_pass(m, B, T, ids, mask, type_ids, groups, n, group_of, hidden_out);
        registry->active = callers;
    }
    for (int k = 0; k < n; k++) comp_free(groups[k].root);
    free(groups);
    free(group_of);
    return s;
}
