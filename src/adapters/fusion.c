#include "adapters/fusion.h"
#include "adapters/adapter_params.h"
#include "core/error.h"
#include "model/layers.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double FUSION_REG_WEIGHT = 0.01; /* get_fusion_regularization_loss */
static const double FUSION_T0 = 50.0;        /* BertFusion with temperature */

static float *need(arena *a, size_t n)
{
    float *p = arena_floats(a, n);
    if (!p) {
        fprintf(stderr, "adapt: out of memory for fusion activations (%zu floats)\n", n);
        abort();
    }
    return p;
}

static float **need_ptrs(arena *a, int n)
{
    float **p = arena_alloc(a, (size_t)n * sizeof *p);
    if (!p) {
        fprintf(stderr, "adapt: out of memory for fusion activations\n");
        abort();
    }
    return p;
}

static float *grad_of(const param *p) { return p ? p->grad : NULL; }

/* ------------------------------------------------------------------ create / bind */

adapt_status fusion_create(param_store *s, const char *prefix, const fusion_config *cfg, int hidden,
                           uint64_t *rng_state, fusion_weights *w)
{
    memset(w, 0, sizeof *w);
    if (hidden <= 0) return adapt_fail(ADAPT_ERR_ARG, "%s: hidden size %d", prefix, hidden);
    w->hidden = hidden;
    uint64_t fallback = 0xf05e;
    uint64_t *rng = rng_state ? rng_state : &fallback;
    size_t HH = (size_t)hidden * hidden;
    if (cfg->query) {
        TRY(adapter_param_add(s, prefix, ".query.weight", hidden, hidden, &w->query_w));
        TRY(adapter_param_add(s, prefix, ".query.bias", hidden, 0, &w->query_b));
        init_normal(w->query_w->data, HH, 0.02, rng);
    }
    if (cfg->key) {
        TRY(adapter_param_add(s, prefix, ".key.weight", hidden, hidden, &w->key_w));
        TRY(adapter_param_add(s, prefix, ".key.bias", hidden, 0, &w->key_b));
        init_normal(w->key_w->data, HH, 0.02, rng);
    }
    if (cfg->value) {
        TRY(adapter_param_add(s, prefix, ".value.weight", hidden, hidden, &w->value_w));
        if (cfg->value_initialized) {
            /* near identity; the off-diagonal 1e-6 is what the library writes */
            init_fill(w->value_w->data, HH, 1e-6f);
            for (int i = 0; i < hidden; i++) w->value_w->data[(size_t)i * hidden + i] = 1.0f;
        } else {
            init_normal(w->value_w->data, HH, 0.02, rng);
        }
    }
    return ADAPT_OK;
}

adapt_status fusion_bind(param_store *s, const char *prefix, const fusion_config *cfg, int hidden, fusion_weights *w)
{
    memset(w, 0, sizeof *w);
    if (hidden <= 0) return adapt_fail(ADAPT_ERR_ARG, "%s: hidden size %d", prefix, hidden);
    w->hidden = hidden;
    if (cfg->query) {
        TRY(adapter_param_bind(s, prefix, ".query.weight", hidden, hidden, &w->query_w));
        TRY(adapter_param_bind(s, prefix, ".query.bias", hidden, 0, &w->query_b));
    }
    if (cfg->key) {
        TRY(adapter_param_bind(s, prefix, ".key.weight", hidden, hidden, &w->key_w));
        TRY(adapter_param_bind(s, prefix, ".key.bias", hidden, 0, &w->key_b));
    }
    if (cfg->value) TRY(adapter_param_bind(s, prefix, ".value.weight", hidden, hidden, &w->value_w));
    return ADAPT_OK;
}

double fusion_initial_temperature(const fusion_config *cfg) { return cfg->temperature ? FUSION_T0 : 1.0; }

double fusion_next_temperature(const fusion_config *cfg, double T)
{
    if (!cfg->temperature) return 1.0;
    double next = T - FUSION_T0 / 1000.0;
    return next > 1.0 ? next : 1.0;
}

/* ------------------------------------------------------------------ forward */

void fusion_forward(arena *a, fusion_cache *c, float *ctx, float *probs, const float *query, const float *const *ups,
                    int n, const float *residual, const fusion_weights *w, const fusion_config *cfg, float T, int N)
{
    int H = w->hidden;
    size_t NH = (size_t)N * H;
    memset(c, 0, sizeof *c);
    c->N = N;
    c->n = n;
    c->T = T;
    c->x = need(a, NH);
    memcpy(c->x, query, NH * sizeof(float));
    c->q = c->x;
    if (cfg->query) {
        c->q = need(a, NH);
        linear_forward(c->q, c->x, w->query_w->data, w->query_b->data, N, H, H);
    }
    c->V = need_ptrs(a, n);
    c->k = need_ptrs(a, n);
    c->v = need_ptrs(a, n);
    for (int m = 0; m < n; m++) {
        c->V[m] = need(a, NH);
        for (size_t i = 0; i < NH; i++) c->V[m][i] = ups[m][i] + (cfg->residual_before ? residual[i] : 0.0f);
        c->k[m] = c->V[m];
        if (cfg->key) {
            c->k[m] = need(a, NH);
            linear_forward(c->k[m], c->V[m], w->key_w->data, w->key_b->data, N, H, H);
        }
        c->v[m] = c->V[m];
        if (cfg->value && cfg->value_before_softmax) {
            c->v[m] = need(a, NH);
            linear_forward(c->v[m], c->V[m], w->value_w->data, NULL, N, H, H);
        }
    }
    c->probs = need(a, (size_t)N * n);
    c->ctx = need(a, NH);
    for (int i = 0; i < N; i++) {
        float *p = c->probs + (size_t)i * n;
        const float *qi = c->q + (size_t)i * H;
        double mx = -INFINITY, sum = 0;
        for (int m = 0; m < n; m++) {
            double s = 0;
            for (int j = 0; j < H; j++) s += (double)qi[j] * c->k[m][(size_t)i * H + j];
            p[m] = (float)(s / T);
            if (p[m] > mx) mx = p[m];
        }
        for (int m = 0; m < n; m++) sum += (p[m] = (float)exp(p[m] - mx));
        for (int m = 0; m < n; m++) p[m] = (float)(p[m] / sum);
        float *ci = c->ctx + (size_t)i * H;
        for (int m = 0; m < n; m++)
            for (int j = 0; j < H; j++) ci[j] += p[m] * c->v[m][(size_t)i * H + j];
    }
    const float *res = c->ctx;
    if (cfg->value && !cfg->value_before_softmax) {
        float *t = need(a, NH);
        linear_forward(t, c->ctx, w->value_w->data, NULL, N, H, H);
        res = t;
    }
    for (size_t i = 0; i < NH; i++) ctx[i] = res[i] + (cfg->residual_before ? 0.0f : residual[i]);
    if (probs) memcpy(probs, c->probs, (size_t)N * n * sizeof(float));
}

/* ------------------------------------------------------------------ backward */

void fusion_backward(arena *a, float *d_query, float *const *d_ups, float *d_residual, const float *d_ctx,
                     const fusion_cache *c, const fusion_weights *w, const fusion_config *cfg, int N)
{
    int H = w->hidden, n = c->n;
    size_t NH = (size_t)N * H;
    if (d_residual && !cfg->residual_before)
        for (size_t i = 0; i < NH; i++) d_residual[i] += d_ctx[i];
    const float *d_sum = d_ctx; /* gradient of the probability-weighted sum */
    if (cfg->value && !cfg->value_before_softmax) {
        float *t = need(a, NH);
        linear_backward(t, grad_of(w->value_w), NULL, d_ctx, c->ctx, w->value_w->data, N, H, H);
        d_sum = t;
    }
    float *d_q = need(a, NH);
    float **d_V = need_ptrs(a, n), **d_k = need_ptrs(a, n), **d_v = need_ptrs(a, n);
    for (int m = 0; m < n; m++) {
        d_V[m] = need(a, NH);
        d_k[m] = cfg->key ? need(a, NH) : d_V[m];
        d_v[m] = (cfg->value && cfg->value_before_softmax) ? need(a, NH) : d_V[m];
    }
    for (int i = 0; i < N; i++) {
        const float *p = c->probs + (size_t)i * n, *ds = d_sum + (size_t)i * H, *qi = c->q + (size_t)i * H;
        double d_p[64], *dp = n <= 64 ? d_p : malloc((size_t)n * sizeof(double)), dot = 0;
        for (int m = 0; m < n; m++) {
            double s = 0;
            for (int j = 0; j < H; j++) {
                s += (double)ds[j] * c->v[m][(size_t)i * H + j];
                d_v[m][(size_t)i * H + j] += p[m] * ds[j];
            }
            dp[m] = s;
            dot += p[m] * s;
        }
        for (int m = 0; m < n; m++) {
            float d_score = (float)(p[m] * (dp[m] - dot) / c->T); /* softmax, then the 1/T */
            for (int j = 0; j < H; j++) {
                d_q[(size_t)i * H + j] += d_score * c->k[m][(size_t)i * H + j];
                d_k[m][(size_t)i * H + j] += d_score * qi[j];
            }
        }
        if (dp != d_p) free(dp);
    }
    for (int m = 0; m < n; m++) {
        if (cfg->key) linear_backward(d_V[m], grad_of(w->key_w), grad_of(w->key_b), d_k[m], c->V[m], w->key_w->data, N, H, H);
        if (cfg->value && cfg->value_before_softmax)
            linear_backward(d_V[m], grad_of(w->value_w), NULL, d_v[m], c->V[m], w->value_w->data, N, H, H);
        if (d_ups && d_ups[m])
            for (size_t i = 0; i < NH; i++) d_ups[m][i] += d_V[m][i];
        if (d_residual && cfg->residual_before)
            for (size_t i = 0; i < NH; i++) d_residual[i] += d_V[m][i];
    }
    if (cfg->query) linear_backward(d_query, grad_of(w->query_w), grad_of(w->query_b), d_q, c->x, w->query_w->data, N, H, H);
    else if (d_query)
        for (size_t i = 0; i < NH; i++) d_query[i] += d_q[i];
}

double fusion_regularization(const fusion_weights *w, float grad_scale)
{
    if (!w->value_w) return 0.0;
    int H = w->hidden;
    const float *W = w->value_w->data;
    float *g = grad_scale != 0.0f ? w->value_w->grad : NULL;
    double sum = 0;
    for (int i = 0; i < H; i++)
        for (int j = 0; j < H; j++) {
            size_t k = (size_t)i * H + j;
            double diff = (double)W[k] - (i == j ? 1.0 : 0.0);
            sum += diff * diff;
            if (g) g[k] += (float)(grad_scale * 2.0 * FUSION_REG_WEIGHT * diff);
        }
    return FUSION_REG_WEIGHT * sum;
}
