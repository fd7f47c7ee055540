#include "adapters/prefix_setup.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

void setup_prefix_tuning_prefix(const adapt_model *m, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s.prefix_tuning.prefix_tunings.%s.self_prefix", m->prefix, name);
}

static const char *const kind_names[] = {"Single", "Stack", "Fuse", "BatchSplit", "Average", "Parallel", "Split"};

/* In AdapterHub a prefix joins the keys of whatever attention runs it; adapt runs the ones of the
 * root's Stack chain for every row of the batch. */
static adapt_status placement(const adapter_setup *s, const comp_node *n, const comp_node *parent, bool stack_chain)
{
    if (n->kind == COMP_SINGLE) {
        const adapter_def *a = setup_find_adapter(s, n->name);
        if (a && a->has_prefix && !stack_chain)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "setup: prefix tuning \"%s\" inside %s: prefix tunings run alone or in Stacks",
                              n->name, kind_names[parent->kind]);
        return ADAPT_OK;
    }
    for (int i = 0; i < n->n; i++) TRY(placement(s, n->children[i], n, stack_chain && n->kind == COMP_STACK));
    return ADAPT_OK;
}

adapt_status setup_check_prefix_placement(const adapter_setup *s, const comp_node *root)
{
    return root ? placement(s, root, root, true) : ADAPT_OK;
}

static int collect(const adapter_setup *s, const comp_node *n, const adapter_def **out, int k)
{
    if (n->kind == COMP_SINGLE) {
        const adapter_def *a = setup_find_adapter(s, n->name);
        if (a && a->has_prefix) {
            if (k < PREFIX_MAX_ACTIVE) out[k] = a;
            k++;
        }
    } else if (n->kind == COMP_STACK) {
        for (int i = 0; i < n->n; i++) k = collect(s, n->children[i], out, k);
    }
    return k;
}

adapt_status prefix_pass_begin(adapt_model *m)
{
    m->fw.prefix = NULL;
    const adapter_setup *s = m->setup;
    if (!s) return ADAPT_OK;
    const adapter_def *defs[PREFIX_MAX_ACTIVE];
    for (int g = 0; g < s->n_routes; g++)
        if (s->route_roots[g] && collect(s, s->route_roots[g], defs, 0))
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "mixed batch: a row's composition has a prefix tuning, which runs for whole batches only");
    int n = s->active && !s->n_routes ? collect(s, s->active, defs, 0) : 0;
    if (!n) return ADAPT_OK;
    if (n > PREFIX_MAX_ACTIVE) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "setup: more than %d prefix tunings", PREFIX_MAX_ACTIVE);
    prefix_pass *p = arena_alloc(&m->acts, sizeof *p);
    if (!p) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
    for (int i = 0; i < n; i++) {
        const adapter_def *a = defs[i];
        if (m->training && a->prefix.dropout > 0)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "prefix tuning \"%s\": training with dropout %g on the prefix is not supported "
                                                     "(set dropout to 0)", a->name, a->prefix.dropout);
        p->defs[i] = a;
        TRY(prefix_forward(&m->acts, &a->prefix_w, &a->prefix, !m->fw.no_grad, &p->caches[i]));
    }
    p->n = n;
    m->fw.prefix = p;
    return ADAPT_OK;
}

static int layer_rows(const prefix_pass *p, int l)
{
    int rows = 0;
    for (int i = 0; i < p->n; i++)
        if (p->defs[i]->prefix_w.slot[l] >= 0) rows += p->defs[i]->prefix_w.length;
    return rows;
}

adapt_status prefix_pass_layer(adapt_model *m, int l, attention_prefix *out)
{
    memset(out, 0, sizeof *out);
    const prefix_pass *p = m->fw.prefix;
    int rows = p ? layer_rows(p, l) : 0;
    if (!rows) return ADAPT_OK;
    size_t n = (size_t)rows * m->cfg.hidden;
    float *k = arena_floats_raw(&m->acts, n), *v = arena_floats_raw(&m->acts, n);
    if (!k || !v) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for prefix activations");
    for (int i = 0, row = 0; i < p->n; i++) {
        const prefix_weights *w = &p->defs[i]->prefix_w;
        if (w->slot[l] < 0) continue;
        prefix_layer_rows(w, &p->caches[i], l, k, v, row);
        row += w->length;
    }
    *out = (attention_prefix){.k = k, .v = v, .len = rows};
    if (!m->fw.no_grad) {
        layer_cache *lc = &m->fw.layers[l];
        lc->prefix_k = k, lc->prefix_v = v, lc->prefix_len = rows;
    }
    return ADAPT_OK;
}

bool prefix_pass_layer_trained(const adapt_model *m, int l)
{
    const prefix_pass *p = m->fw.prefix;
    for (int i = 0; p && i < p->n; i++)
        if (p->caches[i].d_kv && p->defs[i]->prefix_w.slot[l] >= 0) return true;
    return false;
}

int prefix_pass_lowest_trained_layer(const adapt_model *m)
{
    for (int l = 0; l < m->cfg.layers; l++)
        if (prefix_pass_layer_trained(m, l)) return l;
    return -2;
}

adapt_status prefix_pass_layer_backward(adapt_model *m, int l, attention_prefix *out)
{
    const layer_cache *lc = &m->fw.layers[l];
    memset(out, 0, sizeof *out);
    if (!lc->prefix_len) return ADAPT_OK;
    *out = (attention_prefix){.k = lc->prefix_k, .v = lc->prefix_v, .len = lc->prefix_len};
    if (!prefix_pass_layer_trained(m, l)) return ADAPT_OK;
    size_t n = (size_t)lc->prefix_len * m->cfg.hidden;
    out->dk = arena_floats(&m->acts, n);
    out->dv = arena_floats(&m->acts, n);
    if (!out->dk || !out->dv) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for prefix gradients");
    return ADAPT_OK;
}

void prefix_pass_layer_grads(adapt_model *m, int l, const attention_prefix *ap)
{
    prefix_pass *p = m->fw.prefix;
    if (!p || !ap->dk) return;
    for (int i = 0, row = 0; i < p->n; i++) {
        const prefix_weights *w = &p->defs[i]->prefix_w;
        if (w->slot[l] < 0) continue;
        prefix_layer_grads(w, &p->caches[i], l, ap->dk, ap->dv, row);
        row += w->length;
    }
}

adapt_status prefix_pass_backward(adapt_model *m)
{
    const prefix_pass *p = m->fw.prefix;
    for (int i = 0; p && i < p->n; i++) TRY(prefix_backward(&m->acts, &p->defs[i]->prefix_w, &p->defs[i]->prefix, &p->caches[i]));
    return ADAPT_OK;
}
