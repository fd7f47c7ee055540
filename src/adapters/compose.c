#include "adapters/compose.h"
#include "core/error.h"
#include "model/layers.h"

static void point_ln(const adapt_model *m, int layer, point_loc loc, param **w, param **b)
{
    const encoder_layer *L = &m->layers[layer];
    *w = loc == POINT_OUTPUT ? L->out_ln_w : L->attn_ln_w;
    *b = loc == POINT_OUTPUT ? L->out_ln_b : L->attn_ln_b;
}

adapt_status adapter_point_forward(adapt_model *m, int layer, point_loc loc, const float *h, const float *x,
                                   float **out, point_cache **cache)
{
    int N = m->fw.N, H = m->cfg.hidden;
    arena *a = &m->acts;
    point_cache *c = arena_alloc(a, sizeof(point_cache));
    float *sum = arena_floats(a, (size_t)N * H), *o = arena_floats(a, (size_t)N * H);
    float *mean = arena_floats(a, N), *rstd = arena_floats(a, N);
    if (!c || !sum || !o || !mean || !rstd) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
    for (size_t i = 0; i < (size_t)N * H; i++) sum[i] = h[i] + x[i];
    param *w, *b;
    point_ln(m, layer, loc, &w, &b);
    layernorm_forward(o, mean, rstd, sum, w->data, b->data, N, H, m->cfg.layer_norm_eps);
    c->sum = sum;
    c->mean = mean;
    c->rstd = rstd;
    c->composition = NULL;
    *out = o;
    *cache = c;
    return ADAPT_OK;
}

void adapter_point_backward(adapt_model *m, int layer, point_loc loc, float *d_h, float *d_x, const float *d_out,
                            const point_cache *c)
{
    int N = m->fw.N, H = m->cfg.hidden;
    param *w, *b;
    point_ln(m, layer, loc, &w, &b);
    /* d(sum) goes to both h and x: compute it into d_h, then add it to d_x. */
    float *d_sum = arena_floats(&m->acts, (size_t)N * H);
    if (!d_sum) return;
    layernorm_backward(d_sum, w->grad, b->grad, d_out, c->sum, c->mean, c->rstd, w->data, N, H);
    for (size_t i = 0; i < (size_t)N * H; i++) {
        d_h[i] += d_sum[i];
        d_x[i] += d_sum[i];
    }
}
