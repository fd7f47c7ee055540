#include "train/adamw.h"
#include "core/error.h"
#include <math.h>

adapt_status adamw_step(param_store *s, const adamw_config *cfg, double lr, long step)
{
    double bc1 = 1.0 - pow(cfg->beta1, (double)step), bc2 = 1.0 - pow(cfg->beta2, (double)step);
    double step_size = lr / bc1, inv_sqrt_bc2 = 1.0 / sqrt(bc2);
    float decay = (float)(1.0 - lr * cfg->weight_decay), b1 = (float)cfg->beta1, b2 = (float)cfg->beta2;
    for (size_t i = 0; i < s->count; i++) {
        param *p = s->items[i];
        if (!p->trainable || !p->grad) continue;
        if (!p->adam_m) p->adam_m = alloc_floats(p->numel);
        if (!p->adam_v) p->adam_v = alloc_floats(p->numel);
        if (!p->adam_m || !p->adam_v) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for the optimizer state of \"%s\"", p->name);
        float *w = p->data, *g = p->grad, *m = p->adam_m, *v = p->adam_v;
        for (size_t k = 0; k < p->numel; k++) {
            w[k] *= decay;
            m[k] = b1 * m[k] + (1.0f - b1) * g[k];
            v[k] = b2 * v[k] + (1.0f - b2) * g[k] * g[k];
            double denom = sqrt((double)v[k]) * inv_sqrt_bc2 + cfg->eps;
            w[k] -= (float)(step_size * m[k] / denom);
        }
    }
    return ADAPT_OK;
}
