#include "backend/cuda/gpu_adapter_config.h"
#include "core/error.h"
#include <string.h>

static bool is_single(const comp_node *n, const char **name)
{
    if (n->kind == COMP_SINGLE) {
        *name = n->name;
        return true;
    }
    return n->kind == COMP_STACK && n->n == 1 && is_single(n->children[0], name);
}

adapt_status adapter_validate(const adapt_model *m, gpu_adapter_cfg *out, const adapter_def **def)
{
    memset(out, 0, sizeof *out);
    *def = NULL;
    if (m->lora) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "CUDA backend: LoRA is not supported on the GPU yet (merge it first)");
    const adapter_setup *s = m->setup;
    if (!s || !s->active) return ADAPT_OK;
    const char *name = NULL;
    if (!is_single(s->active, &name))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "CUDA backend: only a single active adapter is supported on the GPU so far (no composition blocks)");
    const adapter_def *ad = setup_find_adapter(s, name);
    if (!ad) return adapt_fail(ADAPT_ERR_ARG, "CUDA backend: active adapter \"%s\" does not exist", name);
    const bn_config *c = &ad->cfg;
    const char *why = ad->has_prefix ? "prefix tuning (alone or in a union)"
                      : c->is_parallel ? "parallel adapters"
                      : c->ln_before || c->ln_after ? "adapter LayerNorms (ln_before / ln_after)"
                      : c->scaling_kind != BN_SCALING_FIXED ? "learned scaling"
                      : c->inv_adapter != BN_INV_NONE ? "invertible adapters"
                      : ad->has_ln_copies ? "per-adapter LayerNorm copies"
                      : !c->original_ln_after ? "original_ln_after = false"
                      : (c->non_linearity != ACT_RELU && c->non_linearity != ACT_SILU && c->non_linearity != ACT_GELU) ? "this non-linearity"
                      : NULL;
    if (why) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "CUDA backend: adapter \"%s\" uses %s, not supported on the GPU yet", name, why);
    out->on = true;
    *def = ad;
    out->ln_before = c->original_ln_before;
    out->residual = c->original_ln_before ? c->residual_before_ln : BN_RESIDUAL_BEFORE_LN;
    out->act = c->non_linearity;
    out->scaling = (float)c->scaling;
    out->dropout = (float)c->dropout;
    return ADAPT_OK;
}
