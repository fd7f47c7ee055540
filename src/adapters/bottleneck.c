#include "adapters/bottleneck.h"
#include "adapters/adapter_params.h"
#include "core/error.h"
#include "model/layers.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double ADAPTER_LN_EPS = 1e-5; /* nn.LayerNorm default, used by adapter_norm_before/after */

static float *need(arena *a, size_t n)
{
    float *p = arena_floats(a, n);
    if (!p) { /* the forward/backward API has no error path; an exhausted arena is fatal */
        fprintf(stderr, "adapt: out of memory for adapter activations (%zu floats)\n", n);
        abort();
    }
    return p;
}

static float *grad_of(const param *p) { return p ? p->grad : NULL; }

static const char *down_name(const bn_config *cfg, bool weight)
{
    if (cfg->ln_before) return weight ? ".adapter_down.1.weight" : ".adapter_down.1.bias";
    return weight ? ".adapter_down.0.weight" : ".adapter_down.0.bias";
}

/* ------------------------------------------------------------------ create / bind */

static adapt_status check_sizes(const char *prefix, const bn_config *cfg, int layer, int hidden)
{
    if (hidden <= 0) return adapt_fail(ADAPT_ERR_ARG, "%s: hidden size %d", prefix, hidden);
    if (!(bn_reduction_factor(cfg, layer) > 0)) /* the library raises KeyError here */
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: reduction_factor map has no entry for layer %d and no \"default\"",
                          prefix, layer);
    return ADAPT_OK;
}

static void init_weights(const bn_config *cfg, bn_weights *w, uint64_t *rng)
{
    int H = w->hidden, m = w->bottleneck;
    switch (cfg->init_weights) {
    case BN_INIT_BERT:
        init_normal(w->down_w->data, (size_t)m * H, 0.02, rng);
        init_normal(w->up_w->data, (size_t)m * H, 0.02, rng);
        break;
    case BN_INIT_HOULSBY:
        init_trunc_normal(w->down_w->data, (size_t)m * H, 1e-2, -2e-2, 2e-2, rng);
        init_trunc_normal(w->up_w->data, (size_t)m * H, 1e-2, -2e-2, 2e-2, rng);
        break;
    case BN_INIT_MAM: /* near-identity start: the up projection is zero */
        init_kaiming_uniform_sqrt5(w->down_w->data, m, H, rng);
        break;
    }
    /* biases stay zero (store_add zero-fills); LayerNorms and scaling start at one */
    if (w->norm_before_w) init_fill(w->norm_before_w->data, (size_t)H, 1.0f);
    if (w->norm_after_w) init_fill(w->norm_after_w->data, (size_t)H, 1.0f);
    if (w->scale) init_fill(w->scale->data, w->scale->numel, 1.0f);
}

adapt_status bn_adapter_create(param_store *s, const char *prefix, const bn_config *cfg, int hidden, int layer,
                               uint64_t *rng_state, bn_weights *w)
{
    memset(w, 0, sizeof *w);
    TRY(check_sizes(prefix, cfg, layer, hidden));
    int m = bn_bottleneck_dim(cfg, layer, hidden);
    w->hidden = hidden;
    w->bottleneck = m;
    /* Order of the library's state_dict: the module's own parameter, then sub-modules. */
    if (cfg->scaling_kind != BN_SCALING_FIXED)
        TRY(adapter_param_add(s, prefix, ".scaling", cfg->scaling_kind == BN_SCALING_CHANNEL ? hidden : 1, 0, &w->scale));
    if (cfg->ln_before) {
        TRY(adapter_param_add(s, prefix, ".adapter_norm_before.weight", hidden, 0, &w->norm_before_w));
        TRY(adapter_param_add(s, prefix, ".adapter_norm_before.bias", hidden, 0, &w->norm_before_b));
    }
    TRY(adapter_param_add(s, prefix, down_name(cfg, true), m, hidden, &w->down_w));
    TRY(adapter_param_add(s, prefix, down_name(cfg, false), m, 0, &w->down_b));
    TRY(adapter_param_add(s, prefix, ".adapter_up.weight", hidden, m, &w->up_w));
    TRY(adapter_param_add(s, prefix, ".adapter_up.bias", hidden, 0, &w->up_b));
    if (cfg->ln_after) {
        TRY(adapter_param_add(s, prefix, ".adapter_norm_after.weight", hidden, 0, &w->norm_after_w));
        TRY(adapter_param_add(s, prefix, ".adapter_norm_after.bias", hidden, 0, &w->norm_after_b));
    }
    uint64_t fallback = 0x5eed;
    init_weights(cfg, w, rng_state ? rng_state : &fallback);
    return ADAPT_OK;
}

adapt_status bn_adapter_bind(param_store *s, const char *prefix, const bn_config *cfg, int layer, int hidden,
                             bn_weights *w)
{
    memset(w, 0, sizeof *w);
    TRY(check_sizes(prefix, cfg, layer, hidden));
    int m = bn_bottleneck_dim(cfg, layer, hidden);
    w->hidden = hidden;
    w->bottleneck = m;
    if (cfg->scaling_kind != BN_SCALING_FIXED)
        TRY(adapter_param_bind(s, prefix, ".scaling", cfg->scaling_kind == BN_SCALING_CHANNEL ? hidden : 1, 0, &w->scale));
    if (cfg->ln_before) {
        /* The library's file holds the LayerNorm under both names; either one will do. */
        TRY(adapter_param_bind_opt(s, prefix, ".adapter_norm_before.weight", hidden, 0, &w->norm_before_w));
        if (w->norm_before_w) {
            TRY(adapter_param_bind(s, prefix, ".adapter_norm_before.bias", hidden, 0, &w->norm_before_b));
        } else {
            TRY(adapter_param_bind(s, prefix, ".adapter_down.0.weight", hidden, 0, &w->norm_before_w));
            TRY(adapter_param_bind(s, prefix, ".adapter_down.0.bias", hidden, 0, &w->norm_before_b));
        }
    }
    TRY(adapter_param_bind(s, prefix, down_name(cfg, true), m, hidden, &w->down_w));
    TRY(adapter_param_bind(s, prefix, down_name(cfg, false), m, 0, &w->down_b));
    TRY(adapter_param_bind(s, prefix, ".adapter_up.weight", hidden, m, &w->up_w));
    TRY(adapter_param_bind(s, prefix, ".adapter_up.bias", hidden, 0, &w->up_b));
    if (cfg->ln_after) {
        TRY(adapter_param_bind(s, prefix, ".adapter_norm_after.weight", hidden, 0, &w->norm_after_w));
        TRY(adapter_param_bind(s, prefix, ".adapter_norm_after.bias", hidden, 0, &w->norm_after_b));
    }
    return ADAPT_OK;
}

/* ------------------------------------------------------------------ forward */

static float scale_at(const bn_weights *w, const bn_config *cfg, int j)
{
    switch (cfg->scaling_kind) {
    case BN_SCALING_LEARNED: return w->scale->data[0];
    case BN_SCALING_CHANNEL: return w->scale->data[j];
    case BN_SCALING_FIXED: break;
    }
    return (float)cfg->scaling;
}

void bn_adapter_forward(arena *a, bn_cache *c, float *out, float *up_out, const float *h, const float *residual,
                        const bn_weights *w, const bn_config *cfg, int N, int H, uint64_t *rng)
{
    size_t NH = (size_t)N * H;
    int m = w->bottleneck;
    memset(c, 0, sizeof *c);
    c->N = N;
    c->x = h; /* the caller keeps h unchanged until backward */
    const float *z = c->x;
    if (cfg->ln_before) {
        c->z = need(a, NH);
        c->nb_mean = need(a, (size_t)N);
        c->nb_rstd = need(a, (size_t)N);
        layernorm_forward(c->z, c->nb_mean, c->nb_rstd, c->x, w->norm_before_w->data, w->norm_before_b->data, N, H,
                          ADAPTER_LN_EPS);
        z = c->z;
    }
    c->pre = need(a, (size_t)N * m);
    linear_forward(c->pre, z, w->down_w->data, w->down_b->data, N, H, m);
    c->act = need(a, (size_t)N * m);
    activation_forward(c->act, c->pre, (size_t)N * m, cfg->non_linearity);
    if (!cfg->ln_after && cfg->scaling_kind == BN_SCALING_FIXED && !up_out && !(rng && cfg->dropout > 0) && out != residual) {
        /* Nothing reads the up projection on its own: out = residual + s (up(act)) in one GEMM. */
        linear_forward_onto(out, residual, (float)cfg->scaling, c->act, w->up_w->data, w->up_b->data, N, m, H);
        return;
    }
    /* The scaled up projection o is built in `out` unless ln_after needs it kept as its input; the
     * unscaled one is kept only for the gradient of a learned scale. */
    float *o = cfg->ln_after || out == residual ? need(a, NH) : out;
    float *up_raw = cfg->scaling_kind != BN_SCALING_FIXED ? need(a, NH) : o;
    linear_forward(up_raw, c->act, w->up_w->data, w->up_b->data, N, m, H);
    if (up_raw != o) c->up_raw = up_raw;
    if (cfg->scaling_kind == BN_SCALING_CHANNEL) {
        const float *s = w->scale->data;
        #pragma omp parallel for schedule(static)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < H; j++) o[(size_t)i * H + j] = up_raw[(size_t)i * H + j] * s[j];
    } else {
        float s = scale_at(w, cfg, 0);
        if (s != 1.0f || o != up_raw) {
            #pragma omp parallel for simd schedule(static)
            for (size_t i = 0; i < NH; i++) o[i] = up_raw[i] * s;
        }
    }
    if (up_out) memcpy(up_out, o, NH * sizeof(float));
    if (rng && cfg->dropout > 0) {
        float keep = (float)(1.0 / (1.0 - cfg->dropout));
        c->drop_mask = need(a, NH);
        for (size_t i = 0; i < NH; i++) {
            c->drop_mask[i] = adapt_rng_uniform(rng) >= cfg->dropout ? keep : 0.0f;
            o[i] *= c->drop_mask[i];
        }
    }
    bool res_before_ln = cfg->adapter_residual_before_ln && !cfg->is_parallel;
    if (res_before_ln) {
        #pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < NH; i++) o[i] += residual[i];
    }
    if (cfg->ln_after) {
        c->na_in = o;
        c->na_mean = need(a, (size_t)N);
        c->na_rstd = need(a, (size_t)N);
        float *t = need(a, NH);
        layernorm_forward(t, c->na_mean, c->na_rstd, o, w->norm_after_w->data, w->norm_after_b->data, N, H,
                          ADAPTER_LN_EPS);
        o = t;
    }
    if (!res_before_ln) {
        #pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < NH; i++) o[i] += residual[i];
    }
    if (o != out) memcpy(out, o, NH * sizeof(float));
}

/* ------------------------------------------------------------------ backward */

void bn_adapter_backward(arena *a, float *d_h, float *d_residual, const float *d_out, const float *d_up,
                         const bn_cache *c, const bn_weights *w, const bn_config *cfg, int N, int H)
{
    size_t NH = (size_t)N * H;
    int m = w->bottleneck;
    bool res_before_ln = cfg->adapter_residual_before_ln && !cfg->is_parallel;

    /* d_u: gradient reaching the scaled up projection (before dropout). */
    float *d_u = need(a, NH);
    if (d_out) {
        const float *d_o = d_out;
        if (cfg->ln_after) {
            float *d_ln_in = need(a, NH);
            layernorm_backward(d_ln_in, grad_of(w->norm_after_w), grad_of(w->norm_after_b), d_out, c->na_in, c->na_mean,
                               c->na_rstd, w->norm_after_w->data, N, H);
            d_o = d_ln_in;
        }
        if (d_residual) {
            const float *d_r = res_before_ln ? d_o : d_out;
            #pragma omp parallel for simd schedule(static)
            for (size_t i = 0; i < NH; i++) d_residual[i] += d_r[i];
        }
        #pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < NH; i++) d_u[i] = c->drop_mask ? d_o[i] * c->drop_mask[i] : d_o[i];
    }
    if (d_up) {
        #pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < NH; i++) d_u[i] += d_up[i];
    }

    /* up = up_raw * s: scale gradients, then d_up_raw in place. */
    float *g_scale = grad_of(w->scale);
    if (!g_scale && cfg->scaling_kind == BN_SCALING_FIXED) { /* the usual case: one constant, in parallel */
        float s = (float)cfg->scaling;
        if (s != 1.0f) {
            #pragma omp parallel for simd schedule(static)
            for (size_t k = 0; k < NH; k++) d_u[k] *= s;
        }
    } else {
        for (int i = 0; i < N; i++)
            for (int j = 0; j < H; j++) {
                size_t k = (size_t)i * H + j;
                if (g_scale) g_scale[cfg->scaling_kind == BN_SCALING_CHANNEL ? j : 0] += d_u[k] * c->up_raw[k];
                d_u[k] *= scale_at(w, cfg, j);
            }
    }

    float *d_act = need(a, (size_t)N * m);
    linear_backward(d_act, grad_of(w->up_w), grad_of(w->up_b), d_u, c->act, w->up_w->data, N, m, H);
    float *d_pre = need(a, (size_t)N * m);
    activation_backward(d_pre, d_act, c->pre, (size_t)N * m, cfg->non_linearity);

    if (!cfg->ln_before) {
        linear_backward(d_h, grad_of(w->down_w), grad_of(w->down_b), d_pre, c->x, w->down_w->data, N, H, m);
        return;
    }
    bool ln_grads = grad_of(w->norm_before_w) || grad_of(w->norm_before_b);
    float *d_z = (d_h || ln_grads) ? need(a, NH) : NULL;
    linear_backward(d_z, grad_of(w->down_w), grad_of(w->down_b), d_pre, c->z, w->down_w->data, N, H, m);
    if (d_z)
        layernorm_backward(d_h, grad_of(w->norm_before_w), grad_of(w->norm_before_b), d_z, c->x, c->nb_mean, c->nb_rstd,
                           w->norm_before_w->data, N, H);
}
