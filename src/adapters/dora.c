/* DoRA (Liu et al. 2024, "Weight-Decomposed Low-Rank Adaptation") on top of a LoRA pair, as PEFT
 * computes it: the adapted weight W + s B A is rescaled per output row to a learnt magnitude m,
 * y = (m / ||W + s B A||) (W x + s B A x) + b. The norms follow the weights (computed on every
 * pass, as PEFT does), so nothing goes stale when the factors or W change; backward takes them
 * as constants (the paper's section 4.3). */
#include "adapters/lora.h"
#include "core/error.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

/* norms[o] = ||W[o,:] + s (B A)[o,:]||. */
static adapt_status row_norms(const param *W, const lora_pair *p, float s, double *norms)
{
    int out = (int)W->shape[0], in = (int)W->shape[1], r = (int)p->A->shape[0];
    TRY(param_require_fp32(W, "DoRA (the norms of W + s B A)"));
    float *adapted = malloc((size_t)out * in * sizeof *adapted);
    if (!adapted) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < (size_t)out * in; i++) adapted[i] = W->data[i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, in, r, s, p->B->data, r, p->A->data, in, 1.0f, adapted, in);
    for (int o = 0; o < out; o++) {
        double sum = 0;
        for (int i = 0; i < in; i++) sum += (double)adapted[(size_t)o * in + i] * adapted[(size_t)o * in + i];
        norms[o] = sqrt(sum);
    }
    free(adapted);
    return ADAPT_OK;
}

/* c = m / norms, which must be finite. */
static adapt_status scale_of(const lora_pair *p, const double *norms, int out, float *c)
{
    for (int o = 0; o < out; o++) {
        c[o] = (float)(p->magnitude->data[o] / norms[o]);
        if (!isfinite(c[o]))
            return adapt_fail(ADAPT_ERR_NUMERIC, "DoRA: row %d of W + s B A has norm %g for magnitude %g", o, norms[o],
                              (double)p->magnitude->data[o]);
    }
    return ADAPT_OK;
}

adapt_status dora_scale(const param *W, const lora_pair *p, float s, float *c)
{
    int out = (int)W->shape[0];
    double *norms = malloc((size_t)out * sizeof *norms);
    if (!norms) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_status st = row_norms(W, p, s, norms);
    if (!st) st = scale_of(p, norms, out, c);
    free(norms);
    return st;
}

adapt_status dora_init_magnitude(const param *W, lora_pair *p)
{
    int out = (int)W->shape[0];
    double *norms = malloc((size_t)out * sizeof *norms);
    if (!norms) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_status st = row_norms(W, p, p->scaling, norms);
    for (int o = 0; !st && o < out; o++) p->magnitude->data[o] = (float)norms[o];
    free(norms);
    return st;
}

adapt_status dora_rescale(const param *W, const param *b, const lora_pair *p, float s, float *y, int N)
{
    int out = (int)W->shape[0];
    float *c = malloc((size_t)out * sizeof *c);
    if (!c) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_status st = dora_scale(W, p, s, c);
    for (int t = 0; !st && t < N; t++) { /* y - b = W x + s B A x */
        float *row = y + (size_t)t * out;
        for (int o = 0; o < out; o++) row[o] = c[o] * (row[o] - b->data[o]) + b->data[o];
    }
    free(c);
    return st;
}

adapt_status dora_backward(arena *a, const param *W, const lora_pair *p, float s, float *dy, const float *x, const float *ax, int N)
{
    int out = (int)W->shape[0], in = (int)W->shape[1], r = (int)p->A->shape[0];
    double *norms = malloc((size_t)out * sizeof *norms);
    float *c = malloc((size_t)out * sizeof *c);
    adapt_status st = norms && c ? row_norms(W, p, s, norms) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!st) st = scale_of(p, norms, out, c);
    if (!st && p->magnitude->grad) { /* u = W x + s B A x again (y - b is not kept for every layer) */
        float *u = arena_floats(a, (size_t)N * out);
        if (!u) st = adapt_fail(ADAPT_ERR_NOMEM, "out of memory for DoRA gradients");
        if (!st) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, x, in, W->data, in, 0.0f, u, out);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, r, s, ax, r, p->B->data, r, 1.0f, u, out);
            for (int o = 0; o < out; o++) { /* d m_o = sum over rows of dy u / ||W + s B A||_o */
                double sum = 0;
                for (int t = 0; t < N; t++) sum += (double)dy[(size_t)t * out + o] * u[(size_t)t * out + o];
                p->magnitude->grad[o] += (float)(sum / norms[o]);
            }
        }
    }
    for (int t = 0; !st && t < N; t++)
        for (int o = 0; o < out; o++) dy[(size_t)t * out + o] *= c[o];
    free(norms);
    free(c);
    return st;
}
