#include "adapters/invertible.h"
#include "adapters/adapter_params.h"
#include "core/error.h"
#include "model/layers.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *need(arena *a, size_t n)
{
    float *p = arena_floats(a, n);
    if (!p) {
        fprintf(stderr, "adapt: out of memory for invertible-adapter activations (%zu floats)\n", n);
        abort();
    }
    return p;
}

static float *grad_of(const param *p) { return p ? p->grad : NULL; }

static adapt_status shapes(const bn_config *cfg, int hidden, nice_weights *w)
{
    memset(w, 0, sizeof *w);
    if (hidden < 2) return adapt_fail(ADAPT_ERR_ARG, "invertible adapter: hidden size %d", hidden);
    w->hidden = hidden;
    w->s1 = hidden / 2;
    w->s2 = hidden - hidden / 2;
    w->f_mid = bn_inv_dim(cfg, w->s2);
    w->g_mid = bn_inv_dim(cfg, w->s1);
    w->act = cfg->non_linearity;
    if (w->f_mid < 1 || w->g_mid < 1)
        return adapt_fail(ADAPT_ERR_ARG, "invertible adapter: inv_adapter_reduction_factor %g leaves no hidden units",
                          cfg->inv_adapter_reduction_factor);
    return ADAPT_OK;
}

typedef adapt_status (*tensor_fn)(param_store *, const char *, const char *, int64_t, int64_t, param **);

static adapt_status bind_fn(param_store *s, const char *prefix, const char *suffix, int64_t d0, int64_t d1, param **out)
{
    return adapter_param_bind(s, prefix, suffix, d0, d1, out);
}

static adapt_status all_tensors(param_store *s, const char *prefix, nice_weights *w, tensor_fn fn)
{
    TRY(fn(s, prefix, ".F.0.weight", w->f_mid, w->s2, &w->f0_w));
    TRY(fn(s, prefix, ".F.0.bias", w->f_mid, 0, &w->f0_b));
    TRY(fn(s, prefix, ".F.2.weight", w->s1, w->f_mid, &w->f2_w));
    TRY(fn(s, prefix, ".F.2.bias", w->s1, 0, &w->f2_b));
    TRY(fn(s, prefix, ".G.0.weight", w->g_mid, w->s1, &w->g0_w));
    TRY(fn(s, prefix, ".G.0.bias", w->g_mid, 0, &w->g0_b));
    TRY(fn(s, prefix, ".G.2.weight", w->s2, w->g_mid, &w->g2_w));
    TRY(fn(s, prefix, ".G.2.bias", w->s2, 0, &w->g2_b));
    return ADAPT_OK;
}

adapt_status nice_create(param_store *s, const char *prefix, const bn_config *cfg, int hidden, uint64_t *rng_state,
                         nice_weights *w)
{
    TRY(shapes(cfg, hidden, w));
    TRY(all_tensors(s, prefix, w, adapter_param_add));
    uint64_t fallback = 0x1ce;
    uint64_t *rng = rng_state ? rng_state : &fallback;
    param *weights[] = {w->f0_w, w->f2_w, w->g0_w, w->g2_w}; /* the library applies init_bert_weights */
    for (int i = 0; i < 4; i++) init_normal(weights[i]->data, weights[i]->numel, 0.02, rng);
    return ADAPT_OK;
}

adapt_status nice_bind(param_store *s, const char *prefix, const bn_config *cfg, int hidden, nice_weights *w)
{
    TRY(shapes(cfg, hidden, w));
    return all_tensors(s, prefix, w, bind_fn);
}

/* ------------------------------------------------------------------ the subnets */

/* out[N,n_out] = L2(act(L1(in))); in is copied into the cache. */
static void subnet_forward(arena *a, nice_subnet_cache *c, float *out, const float *in, const param *w0,
                           const param *b0, const param *w2, const param *b2, int N, int n_in, int mid, int n_out,
                           activation_kind act)
{
    c->in = need(a, (size_t)N * n_in);
    memcpy(c->in, in, (size_t)N * n_in * sizeof(float));
    c->pre = need(a, (size_t)N * mid);
    linear_forward(c->pre, c->in, w0->data, b0->data, N, n_in, mid);
    c->act = need(a, (size_t)N * mid);
    activation_forward(c->act, c->pre, (size_t)N * mid, act);
    linear_forward(out, c->act, w2->data, b2->data, N, mid, n_out);
}

/* d_in += subnet^T d_out (scaled by `sign`, for the subtracting inverse). */
static void subnet_backward(arena *a, float *d_in, const float *d_out, float sign, const nice_subnet_cache *c,
                            const param *w0, const param *b0, const param *w2, const param *b2, int N, int n_in,
                            int mid, int n_out, activation_kind act)
{
    const float *g = d_out;
    if (sign != 1.0f) {
        float *neg = need(a, (size_t)N * n_out);
        for (size_t i = 0; i < (size_t)N * n_out; i++) neg[i] = sign * d_out[i];
        g = neg;
    }
    float *d_act = need(a, (size_t)N * mid), *d_pre = need(a, (size_t)N * mid);
    linear_backward(d_act, grad_of(w2), grad_of(b2), g, c->act, w2->data, N, mid, n_out);
    activation_backward(d_pre, d_act, c->pre, (size_t)N * mid, act);
    linear_backward(d_in, grad_of(w0), grad_of(b0), d_pre, c->in, w0->data, N, n_in, mid);
}

#define F_ARGS w->f0_w, w->f0_b, w->f2_w, w->f2_b, N, w->s2, w->f_mid, w->s1, w->act
#define G_ARGS w->g0_w, w->g0_b, w->g2_w, w->g2_b, N, w->s1, w->g_mid, w->s2, w->act

static void split(float *x1, float *x2, const float *x, int N, int s1, int s2)
{
    for (int i = 0; i < N; i++) {
        memcpy(x1 + (size_t)i * s1, x + (size_t)i * (s1 + s2), (size_t)s1 * sizeof(float));
        memcpy(x2 + (size_t)i * s2, x + (size_t)i * (s1 + s2) + s1, (size_t)s2 * sizeof(float));
    }
}

static void join(float *x, const float *x1, const float *x2, int N, int s1, int s2, bool accumulate)
{
    for (int i = 0; i < N; i++) {
        float *row = x + (size_t)i * (s1 + s2);
        for (int j = 0; j < s1; j++) row[j] = (accumulate ? row[j] : 0) + x1[(size_t)i * s1 + j];
        for (int j = 0; j < s2; j++) row[s1 + j] = (accumulate ? row[s1 + j] : 0) + x2[(size_t)i * s2 + j];
    }
}

void nice_forward(arena *a, nice_cache *c, float *out, const float *x, const nice_weights *w, bool rev, int N)
{
    int s1 = w->s1, s2 = w->s2;
    memset(c, 0, sizeof *c);
    c->rev = rev;
    c->N = N;
    float *x1 = need(a, (size_t)N * s1), *x2 = need(a, (size_t)N * s2);
    float *t1 = need(a, (size_t)N * s1), *t2 = need(a, (size_t)N * s2);
    split(x1, x2, x, N, s1, s2);
    if (!rev) {
        subnet_forward(a, &c->f, t1, x2, F_ARGS);
        for (size_t i = 0; i < (size_t)N * s1; i++) x1[i] += t1[i]; /* y1 */
        subnet_forward(a, &c->g, t2, x1, G_ARGS);
        for (size_t i = 0; i < (size_t)N * s2; i++) x2[i] += t2[i]; /* y2 */
    } else {
        subnet_forward(a, &c->g, t2, x1, G_ARGS);
        for (size_t i = 0; i < (size_t)N * s2; i++) x2[i] -= t2[i]; /* y2 */
        subnet_forward(a, &c->f, t1, x2, F_ARGS);
        for (size_t i = 0; i < (size_t)N * s1; i++) x1[i] -= t1[i]; /* y1 */
    }
    join(out, x1, x2, N, s1, s2, false);
}

void nice_backward(arena *a, float *d_x, const float *d_out, const nice_cache *c, const nice_weights *w, int N)
{
    int s1 = w->s1, s2 = w->s2;
    float *d1 = need(a, (size_t)N * s1), *d2 = need(a, (size_t)N * s2);
    split(d1, d2, d_out, N, s1, s2);
    if (!c->rev) {
        /* y2 = x2 + G(y1): dy1 gains G^T dy2; x2 gets dy2. y1 = x1 + F(x2): x1 gets dy1, x2 gains F^T dy1. */
        subnet_backward(a, d1, d2, 1.0f, &c->g, G_ARGS);
        subnet_backward(a, d2, d1, 1.0f, &c->f, F_ARGS);
    } else {
        /* y1 = x1 - F(y2): dy2 gains -F^T dy1; x1 gets dy1. y2 = x2 - G(x1): x2 gets dy2, x1 gains -G^T dy2. */
        subnet_backward(a, d2, d1, -1.0f, &c->f, F_ARGS);
        subnet_backward(a, d1, d2, -1.0f, &c->g, G_ARGS);
    }
    if (d_x) join(d_x, d1, d2, N, s1, s2, true);
}
