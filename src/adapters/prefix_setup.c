#include "adapters/prefix_setup.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

void setup_prefix_tuning_prefix(const adapt_model *m, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s.prefix_tuning.prefix_tunings.%s.self_prefix", m->prefix, name);
}

static const char *const kind_names[] = {"Single", "Stack", "Fuse", "BatchSplit", "Average", "Parallel", "Split"};

/* As in AdapterHub, a prefix joins the keys of the rows its branch runs: Stack, BatchSplit and
 * Parallel say which rows those are; Fuse, Average and Split mix branches within a row. */
static adapt_status placement(const adapter_setup *s, const comp_node *n, const comp_node *parent, bool row_branch)
{
    if (n->kind == COMP_SINGLE) {
        const adapter_def *a = setup_find_adapter(s, n->name);
        if (a && a->has_prefix && !row_branch)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "setup: prefix tuning \"%s\" inside %s: prefix tunings run alone or in Stack, "
                                                     "BatchSplit and Parallel",
                              n->name, kind_names[parent->kind]);
        return ADAPT_OK;
    }
    bool rows = row_branch && (n->kind == COMP_STACK || n->kind == COMP_BATCHSPLIT || n->kind == COMP_PARALLEL);
    for (int i = 0; i < n->n; i++) TRY(placement(s, n->children[i], n, rows));
    return ADAPT_OK;
}

adapt_status setup_check_prefix_placement(const adapter_setup *s, const comp_node *root)
{
    return root ? placement(s, root, root, true) : ADAPT_OK;
}

/* Per-row lists while the composition is walked. */
typedef struct row_lists {
    int B;
    int *count;                     /* [B] */
    int (*member)[PREFIX_MAX_ACTIVE]; /* [B][PREFIX_MAX_ACTIVE] */
} row_lists;

static adapt_status intern(prefix_pass *p, const adapter_def *a, int *idx)
{
    for (int i = 0; i < p->n; i++)
        if (p->defs[i] == a) return *idx = i, ADAPT_OK;
    if (p->n == PREFIX_MAX_ACTIVE) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "setup: more than %d prefix tunings in a pass", PREFIX_MAX_ACTIVE);
    p->defs[p->n] = a;
    *idx = p->n++;
    return ADAPT_OK;
}

/* Rows [r0, r1) run node n (AdapterHub's row semantics of each block). */
static adapt_status assign(prefix_pass *p, const adapter_setup *s, const comp_node *n, int r0, int r1, row_lists *rl)
{
    if (r0 >= r1) return ADAPT_OK;
    switch (n->kind) {
    case COMP_SINGLE: {
        const adapter_def *a = setup_find_adapter(s, n->name);
        if (!a || !a->has_prefix) return ADAPT_OK;
        int idx = 0;
        TRY(intern(p, a, &idx));
        for (int r = r0; r < r1; r++) {
            if (rl->count[r] == PREFIX_MAX_ACTIVE) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "setup: more than %d prefix tunings on a row", PREFIX_MAX_ACTIVE);
            rl->member[r][rl->count[r]++] = idx;
        }
        return ADAPT_OK;
    }
    case COMP_STACK:
        for (int i = 0; i < n->n; i++) TRY(assign(p, s, n->children[i], r0, r1, rl));
        return ADAPT_OK;
    case COMP_BATCHSPLIT: { /* the same checks as the adapter points' (compose.c), which a block of prefixes alone never meets */
        long total = 0;
        for (int i = 0; i < n->n; i++) total += n->batch_sizes[i];
        if (total != r1 - r0)
            return adapt_fail(ADAPT_ERR_ARG, "BatchSplit batch_sizes add up to %ld sequences, the batch has %d", total, r1 - r0);
        for (int i = 0, at = r0; i < n->n; at += n->batch_sizes[i], i++) TRY(assign(p, s, n->children[i], at, at + n->batch_sizes[i], rl));
        return ADAPT_OK;
    }
    case COMP_PARALLEL: { /* the batch replicated per channel: child c takes channel c's rows */
        if ((r1 - r0) % n->n)
            return adapt_fail(ADAPT_ERR_ARG, "Parallel with %d channels: %d sequences are not a whole number of replicas", n->n, r1 - r0);
        int width = (r1 - r0) / n->n;
        for (int i = 0; i < n->n; i++) TRY(assign(p, s, n->children[i], r0 + i * width, r0 + (i + 1) * width, rl));
        return ADAPT_OK;
    }
    default: return ADAPT_OK; /* Fuse, Average, Split: no prefix inside (placement) */
    }
}

/* Rows with the same list share a group. */
static adapt_status make_groups(prefix_pass *p, const row_lists *rl)
{
    for (int r = 0; r < rl->B; r++) {
        p->row_group[r] = -1;
        if (!rl->count[r]) continue;
        int g = 0;
        while (g < p->n_groups && !(p->groups[g].n == rl->count[r] &&
                                    !memcmp(p->groups[g].members, rl->member[r], (size_t)rl->count[r] * sizeof(int))))
            g++;
        if (g == p->n_groups) {
            if (g == PREFIX_MAX_GROUPS)
                return adapt_fail(ADAPT_ERR_UNSUPPORTED, "setup: more than %d different prefix tuning lists in one batch", PREFIX_MAX_GROUPS);
            p->groups[g].n = rl->count[r];
            memcpy(p->groups[g].members, rl->member[r], (size_t)rl->count[r] * sizeof(int));
            p->n_groups++;
        }
        p->row_group[r] = g;
    }
    return ADAPT_OK;
}

static bool any_prefix(const adapter_setup *s)
{
    for (int i = 0; i < s->n_adapters; i++)
        if (s->adapters[i].has_prefix) return true;
    return false;
}

adapt_status prefix_pass_begin(adapt_model *m)
{
    forward_state *fw = &m->fw;
    fw->prefix = NULL;
    const adapter_setup *s = m->setup;
    if (!s || !any_prefix(s) || (!s->active && !s->n_routes)) return ADAPT_OK;
    prefix_pass *p = arena_alloc(&m->acts, sizeof *p);
    row_lists rl = {fw->B, arena_alloc(&m->acts, (size_t)fw->B * sizeof(int)),
                    arena_alloc(&m->acts, (size_t)fw->B * sizeof *rl.member)};
    if (!p || !rl.count || !rl.member || !(p->row_group = arena_alloc(&m->acts, (size_t)fw->B * sizeof(int))))
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
    if (s->n_routes) {
        for (int g = 0, row0 = 0; g < s->n_routes; row0 += s->route_rows[g], g++)
            if (s->route_roots[g]) TRY(assign(p, s, s->route_roots[g], row0, row0 + s->route_rows[g], &rl));
    } else {
        TRY(assign(p, s, s->active, 0, fw->B, &rl));
    }
    if (!p->n) return ADAPT_OK;
    TRY(make_groups(p, &rl));
    for (int i = 0; i < p->n; i++) {
        const adapter_def *a = p->defs[i];
        if (m->training && a->prefix.dropout > 0)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "prefix tuning \"%s\": training with dropout %g on the prefix is not supported "
                                                     "(set dropout to 0)", a->name, a->prefix.dropout);
        TRY(prefix_forward(&m->acts, &a->prefix_w, &a->prefix, !fw->no_grad, &p->caches[i]));
    }
    fw->prefix = p;
    return ADAPT_OK;
}

adapt_status prefix_pass_shift_positions(adapt_model *m)
{
    const prefix_pass *p = m->fw.prefix;
    forward_state *fw = &m->fw;
    const model_config *c = &m->cfg;
    for (int b = 0; p && b < fw->B; b++) {
        int g = p->row_group[b], shift = 0;
        for (int i = 0; g >= 0 && i < p->groups[g].n; i++) {
            const adapter_def *a = p->defs[p->groups[g].members[i]];
            if (a->prefix.peft_positions) shift += a->prefix.prefix_length;
        }
        for (int t = 0; shift && t < fw->T; t++) {
            int i = b * fw->T + t;
            if (c->family != FAMILY_BERT && fw->ids[i] == c->pad_id) continue; /* padding keeps padding_idx */
            if ((fw->pos_ids[i] += shift) >= c->max_positions)
                return adapt_fail(ADAPT_ERR_ARG, "sequence too long for a PEFT prefix of %d: position %d needs more than "
                                                 "max_position_embeddings %d", shift, fw->pos_ids[i], c->max_positions);
        }
    }
    return ADAPT_OK;
}

static int group_rows(const prefix_pass *p, const prefix_group *g, int l)
{
    int rows = 0;
    for (int i = 0; i < g->n; i++) {
        const prefix_weights *w = &p->defs[g->members[i]]->prefix_w;
        if (w->slot[l] >= 0) rows += w->length;
    }
    return rows;
}

/* The per-row pointers into a layer's group prefixes. */
static adapt_status row_pointers(adapt_model *m, const prefix_pass *p, const attention_prefix *groups,
                                 const attention_prefix *const **rows)
{
    const attention_prefix **r = arena_alloc(&m->acts, (size_t)m->fw.B * sizeof *r);
    if (!r) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for prefix activations");
    for (int b = 0; b < m->fw.B; b++) r[b] = p->row_group[b] >= 0 ? &groups[p->row_group[b]] : NULL;
    *rows = r;
    return ADAPT_OK;
}

adapt_status prefix_pass_layer(adapt_model *m, int l, const attention_prefix *const **rows)
{
    *rows = NULL;
    const prefix_pass *p = m->fw.prefix;
    if (!p) return ADAPT_OK;
    attention_prefix *groups = arena_alloc(&m->acts, (size_t)p->n_groups * sizeof *groups);
    if (!groups) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for prefix activations");
    int any = 0;
    for (int g = 0; g < p->n_groups; g++) {
        int len = group_rows(p, &p->groups[g], l);
        if (!len) continue;
        size_t n = (size_t)len * m->cfg.hidden;
        float *k = arena_floats_raw(&m->acts, n), *v = arena_floats_raw(&m->acts, n);
        if (!k || !v) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for prefix activations");
        for (int i = 0, row = 0; i < p->groups[g].n; i++) {
            int d = p->groups[g].members[i];
            const prefix_weights *w = &p->defs[d]->prefix_w;
            if (w->slot[l] < 0) continue;
            prefix_layer_rows(w, &p->caches[d], l, k, v, row);
            row += w->length;
        }
        groups[g] = (attention_prefix){.k = k, .v = v, .len = len};
        any++;
    }
    if (!any) return ADAPT_OK;
    TRY(row_pointers(m, p, groups, rows));
    if (!m->fw.no_grad) {
        layer_cache *lc = &m->fw.layers[l];
        lc->prefix_groups = groups;
        lc->prefix_rows = *rows;
    }
    return ADAPT_OK;
}

static bool group_trained(const prefix_pass *p, const prefix_group *g, int l)
{
    for (int i = 0; i < g->n; i++)
        if (p->caches[g->members[i]].d_kv && p->defs[g->members[i]]->prefix_w.slot[l] >= 0) return true;
    return false;
}

bool prefix_pass_layer_trained(const adapt_model *m, int l)
{
    const prefix_pass *p = m->fw.prefix;
    for (int g = 0; p && g < p->n_groups; g++)
        if (group_trained(p, &p->groups[g], l)) return true;
    return false;
}

int prefix_pass_lowest_trained_layer(const adapt_model *m)
{
    for (int l = 0; l < m->cfg.layers; l++)
        if (prefix_pass_layer_trained(m, l)) return l;
    return -2;
}

adapt_status prefix_pass_layer_backward(adapt_model *m, int l, const attention_prefix *const **rows)
{
    const layer_cache *lc = &m->fw.layers[l];
    const prefix_pass *p = m->fw.prefix;
    *rows = lc->prefix_rows;
    if (!p || !lc->prefix_groups) return ADAPT_OK;
    for (int g = 0; g < p->n_groups; g++) {
        attention_prefix *ap = &lc->prefix_groups[g];
        ap->dk = ap->dv = NULL;
        if (!ap->len || !group_trained(p, &p->groups[g], l)) continue;
        size_t n = (size_t)ap->len * m->cfg.hidden;
        ap->dk = arena_floats(&m->acts, n);
        ap->dv = arena_floats(&m->acts, n);
        if (!ap->dk || !ap->dv) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for prefix gradients");
    }
    return ADAPT_OK;
}

void prefix_pass_layer_grads(adapt_model *m, int l)
{
    prefix_pass *p = m->fw.prefix;
    const layer_cache *lc = &m->fw.layers[l];
    if (!p || !lc->prefix_groups) return;
    for (int g = 0; g < p->n_groups; g++) {
        const attention_prefix *ap = &lc->prefix_groups[g];
        if (!ap->dk) continue;
        for (int i = 0, row = 0; i < p->groups[g].n; i++) {
            int d = p->groups[g].members[i];
            const prefix_weights *w = &p->defs[d]->prefix_w;
            if (w->slot[l] < 0) continue;
            prefix_layer_grads(w, &p->caches[d], l, ap->dk, ap->dv, row);
            row += w->length;
        }
    }
}

adapt_status prefix_pass_backward(adapt_model *m)
{
    const prefix_pass *p = m->fw.prefix;
    for (int i = 0; p && i < p->n; i++) TRY(prefix_backward(&m->acts, &p->defs[i]->prefix_w, &p->defs[i]->prefix, &p->caches[i]));
    return ADAPT_OK;
}
