/* Self-attention core. Each (sequence, head) pair is independent, so the pairs are spread over the
 * OpenMP threads and every thread runs its small GEMMs single-threaded (OpenBLAS's OpenMP build
 * does not fork again inside a parallel region): one head's Q K^T, softmax and P V stay in that
 * core's cache, instead of a serial loop of per-head GEMMs too small to thread well.
 * The probabilities are not kept: backward recomputes them from q and k (one T x T x head_dim
 * product per head, ~1% of a layer's work), as flash attention does, which saves B*heads*T*T
 * floats per layer (75 MB for BERT-base at 8 x 128). */
#include "model/layers.h"
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Per-thread scratch of n floats (NULL when n == 0); T*T floats can be too big for a stack. */
static float *scratch(size_t n)
{
    if (!n) return NULL;
    float *p = malloc(n * sizeof(float));
    if (!p) abort(); /* T*T floats: callers bound T; an allocation failure here is not recoverable mid-step */
    return p;
}

/* P = softmax(scale Q K^T) with the padding mask, for one (sequence, head). */
static void head_probs(float *P, const float *q, const float *k, const int32_t *mask, int T, int head_dim, int H, float scale)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, head_dim, scale, q, H, k, H, 0.0f, P, T);
    masked_softmax_rows(P, mask, T, T);
}

void attention_forward(float *ctx, const float *q, const float *k, const float *v, const int32_t *mask, int B, int T,
                       int heads, int head_dim, float p_drop, uint64_t drop_key)
{
    int H = heads * head_dim;
    float scale = 1.0f / sqrtf((float)head_dim);
    size_t TT = (size_t)T * T;
    #pragma omp parallel
    {
        float *P = scratch(TT);
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * heads; bh++) {
            int b = bh / heads, h = bh % heads;
            size_t off = (size_t)b * T * H + (size_t)h * head_dim;
            head_probs(P, q + off, k + off, mask + (size_t)b * T, T, head_dim, H, scale);
            if (p_drop > 0) dropout_apply(P, TT, (size_t)bh * TT, p_drop, drop_key);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, head_dim, T, 1.0f, P, T, v + off, H, 0.0f, ctx + off, H);
        }
        free(P);
    }
}

void attention_backward(float *dq, float *dk, float *dv, const float *d_ctx, const float *q, const float *k, const float *v,
                        const int32_t *mask, int B, int T, int heads, int head_dim, float p_drop, uint64_t drop_key)
{
    int H = heads * head_dim;
    float scale = 1.0f / sqrtf((float)head_dim);
    size_t TT = (size_t)T * T;
    #pragma omp parallel
    {
        float *P = scratch(TT), *dP = scratch(TT), *Pd = scratch(p_drop > 0 ? TT : 0);
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * heads; bh++) {
            int b = bh / heads, h = bh % heads;
            size_t off = (size_t)b * T * H + (size_t)h * head_dim;
            /* The same products and softmax as forward, so P is bit-identical to what forward used. */
            head_probs(P, q + off, k + off, mask + (size_t)b * T, T, head_dim, H, scale);
            const float *use = P;
            if (Pd) {
                memcpy(Pd, P, TT * sizeof(float));
                dropout_apply(Pd, TT, (size_t)bh * TT, p_drop, drop_key);
                use = Pd;
            }
            /* dV += Pd^T dC ; dPd = dC V^T ; dP = dPd * mask */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, head_dim, T, 1.0f, use, T, d_ctx + off, H, 1.0f, dv + off, H);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, head_dim, 1.0f, d_ctx + off, H, v + off, H, 0.0f, dP, T);
            if (Pd) dropout_apply(dP, TT, (size_t)bh * TT, p_drop, drop_key);
            softmax_backward_rows(dP, P, T, T);
            /* S = scale * Q K^T: dQ += scale dS K ; dK += scale dS^T Q */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, head_dim, T, scale, dP, T, k + off, H, 1.0f, dq + off, H);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, head_dim, T, scale, dP, T, q + off, H, 1.0f, dk + off, H);
        }
        free(P);
        free(dP);
        free(Pd);
    }
}
