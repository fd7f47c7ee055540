/* Which tensors of the store belong to an adapter or a fusion, and the checks a loaded file's
 * tensors go through: a tensor no block binds means the file describes something the config does
 * not (a malformed or foreign file), and would otherwise be kept, ignored and saved again. */
#include "adapters/setup.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

bool setup_tensor_of_adapter(const char *tensor, const char *name)
{
    char a[ADAPTER_NAME_MAX + 16], b[ADAPTER_NAME_MAX + 32], c[ADAPTER_NAME_MAX + 32];
    snprintf(a, sizeof a, ".adapters.%s.", name);
    snprintf(b, sizeof b, "invertible_adapters.%s.", name);
    snprintf(c, sizeof c, ".prefix_tunings.%s.", name);
    return strstr(tensor, a) || strstr(tensor, b) || strstr(tensor, c);
}

bool setup_tensor_of_fusion(const char *tensor, const char *fusion_name)
{
    const char *p = strstr(tensor, ".adapter_fusion_layer.");
    if (!p) return false;
    p += strlen(".adapter_fusion_layer.");
    size_t n = strlen(fusion_name);
    return !strncmp(p, fusion_name, n) && p[n] == '.';
}

void setup_remove_adapter_tensors(adapt_model *m, const char *name)
{
    store_remove_matching(&m->store, setup_tensor_of_adapter, name);
}

void setup_remove_fusion_tensors(adapt_model *m, const char *fusion_name)
{
    store_remove_matching(&m->store, setup_tensor_of_fusion, fusion_name);
}

static bool block_uses(const bn_weights *w, const param *p)
{
    const param *used[] = {w->norm_before_w, w->norm_before_b, w->down_w, w->down_b,     w->up_w, w->up_b,
                           w->norm_after_w,  w->norm_after_b,  w->scale,  w->ln_w, w->ln_b};
    for (size_t i = 0; i < sizeof used / sizeof used[0]; i++)
        if (used[i] == p) return true;
    return false;
}

static bool nice_uses(const nice_weights *w, const param *p)
{
    return p == w->f0_w || p == w->f0_b || p == w->f2_w || p == w->f2_b || p == w->g0_w || p == w->g0_b ||
           p == w->g2_w || p == w->g2_b;
}

static bool adapter_uses(const adapt_model *m, const adapter_def *a, const param *p)
{
    for (int l = 0; l < m->cfg.layers; l++) {
        if (a->has_attn[l] && block_uses(&a->attn[l], p)) return true;
        if (a->has_out[l] && block_uses(&a->out[l], p)) return true;
    }
    return (a->has_inv && nice_uses(&a->inv, p)) || (a->has_prefix && prefix_weights_use(&a->prefix_w, p));
}

adapt_status setup_check_adapter_tensors(const adapt_model *m, const adapter_def *a)
{
    for (size_t i = 0; i < m->store.count; i++) {
        const param *p = m->store.items[i];
        if (setup_tensor_of_adapter(p->name, a->name) && !adapter_uses(m, a, p))
            return adapt_fail(ADAPT_ERR_FORMAT, "tensor \"%s\" is not part of adapter \"%s\" as its config describes it",
                              p->name, a->name);
    }
    return ADAPT_OK;
}

static bool fusion_uses(const fusion_weights *w, const param *p)
{
    return p == w->query_w || p == w->query_b || p == w->key_w || p == w->key_b || p == w->value_w;
}

adapt_status setup_check_fusion_tensors(const adapt_model *m, const fusion_def *f)
{
    for (size_t i = 0; i < m->store.count; i++) {
        const param *p = m->store.items[i];
        if (!setup_tensor_of_fusion(p->name, f->name)) continue;
        bool used = false;
        for (int l = 0; !used && l < m->cfg.layers; l++)
            used = (f->has_attn[l] && fusion_uses(&f->attn[l], p)) || (f->has_out[l] && fusion_uses(&f->out[l], p));
        if (!used)
            return adapt_fail(ADAPT_ERR_FORMAT, "tensor \"%s\" is not part of fusion \"%s\" as its config describes it",
                              p->name, f->name);
    }
    return ADAPT_OK;
}
