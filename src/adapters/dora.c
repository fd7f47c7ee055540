/* DoRA (Liu et al. 2024, "Weight-Decomposed Low-Rank Adaptation") on top of a LoRA pair, as PEFT
 * computes it: the adapted weight W + s B A is rescaled per output row to a learnt magnitude m,
 * y = (m / ||W + s B A||) (W x + s B A x) + b. The norms follow the weights (computed on every
 * pass, as PEFT does), so nothing goes stale when the factors or W change. */
#include "adapters/lora.h"
#include "core/error.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

adapt_status dora_scale(const param *W, const lora_pair *p, float s, float *c)
{
    int out = (int)W->shape[0], in = (int)W->shape[1], r = (int)p->A->shape[0];
    TRY(param_require_fp32(W, "DoRA (the norms of W + s B A)"));
    float *adapted = malloc((size_t)out * in * sizeof *adapted);
    if (!adapted) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < (size_t)out * in; i++) adapted[i] = W->data[i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, in, r, s, p->B->data, r, p->A->data, in, 1.0f, adapted, in);
    adapt_status st = ADAPT_OK;
    for (int o = 0; o < out; o++) {
        double sum = 0;
        for (int i = 0; i < in; i++) sum += (double)adapted[(size_t)o * in + i] * adapted[(size_t)o * in + i];
        c[o] = (float)(p->magnitude->data[o] / sqrt(sum));
        if (!isfinite(c[o]) && !st)
            st = adapt_fail(ADAPT_ERR_NUMERIC, "DoRA: row %d of W + s B A has norm %g for magnitude %g", o, sqrt(sum),
                            (double)p->magnitude->data[o]);
    }
    free(adapted);
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
