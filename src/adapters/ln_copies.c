#include "adapters/ln_copies.h"
#include "adapters/adapter_params.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

/* The adapter's block at point (layer, attention), or NULL where it has none. */
static bn_weights *point_block(adapter_def *a, int layer, bool attention)
{
    if (!(attention ? a->has_attn : a->has_out)[layer]) return NULL;
    return attention ? &a->attn[layer] : &a->out[layer];
}

adapt_status ln_copies_add(adapt_model *m, const char *name)
{
    adapter_def *a = setup_find_adapter(m->setup, name);
    if (!a) return adapt_fail(ADAPT_ERR_ARG, "no adapter named \"%s\"", name);
    if (a->has_ln_copies) return adapt_fail(ADAPT_ERR_ARG, "adapter \"%s\" has its own LayerNorms already", name);
    int H = m->cfg.hidden;
    for (int l = 0; l < m->cfg.layers; l++)
        for (int at = 0; at < 2; at++) {
            bn_weights *w = point_block(a, l, at);
            if (!w) continue;
            char prefix[256];
            setup_adapter_prefix(m, l, at, name, prefix, sizeof prefix);
            const encoder_layer *L = &m->layers[l];
            const param *src_w = at ? L->attn_ln_w : L->out_ln_w, *src_b = at ? L->attn_ln_b : L->out_ln_b;
            TRY(adapter_param_add(&m->store, prefix, ".original_ln.weight", H, 0, &w->ln_w));
            TRY(adapter_param_add(&m->store, prefix, ".original_ln.bias", H, 0, &w->ln_b));
            memcpy(w->ln_w->data, src_w->data, (size_t)H * sizeof(float));
            memcpy(w->ln_b->data, src_b->data, (size_t)H * sizeof(float));
            a->has_ln_copies = true;
        }
    return ADAPT_OK;
}

adapt_status ln_copies_bind(adapt_model *m, adapter_def *a)
{
    int H = m->cfg.hidden, with = 0, without = 0;
    char missing[320] = "";
    for (int l = 0; l < m->cfg.layers; l++)
        for (int at = 0; at < 2; at++) {
            bn_weights *w = point_block(a, l, at);
            if (!w) continue;
            char prefix[256];
            setup_adapter_prefix(m, l, at, a->name, prefix, sizeof prefix);
            TRY(adapter_param_bind_opt(&m->store, prefix, ".original_ln.weight", H, 0, &w->ln_w));
            TRY(adapter_param_bind_opt(&m->store, prefix, ".original_ln.bias", H, 0, &w->ln_b));
            if (!w->ln_w != !w->ln_b)
                return adapt_fail(ADAPT_ERR_FORMAT, "adapter \"%s\": \"%s.original_ln.%s\" without its %s", a->name, prefix,
                                  w->ln_w ? "weight" : "bias", w->ln_w ? "bias" : "weight");
            if (w->ln_w) with++;
            else if (!without++) snprintf(missing, sizeof missing, "%s.original_ln.weight", prefix);
        }
    if (with && without)
        return adapt_fail(ADAPT_ERR_FORMAT, "adapter \"%s\" has its own LayerNorms at %d of its points but not at the others "
                          "(missing tensor \"%s\")", a->name, with, missing);
    a->has_ln_copies = with > 0;
    return ADAPT_OK;
}
