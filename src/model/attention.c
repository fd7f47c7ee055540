/* Self-attention core. Each (sequence, head) pair is independent, so the pairs are spread over the
 * OpenMP threads and every thread runs its small GEMMs single-threaded (OpenBLAS's OpenMP build
 * does not fork again inside a parallel region): one head's Q K^T, softmax and P V stay in that
 * core's cache, instead of a serial loop of per-head GEMMs too small to thread well.
 * The probabilities are not kept: backward recomputes them from q and k (one T x T x head_dim
 * product per head, ~1% of a layer's work), as flash attention does, which saves B*heads*T*T
 * floats per layer (75 MB for BERT-base at 8 x 128). */
#include "model/head_gemm.h"
#include "model/layers.h"
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

/* One head's rows of x ([T, head_dim] at stride H) into a contiguous block, transposed or not:
 * the products then read their second operand without H-strided rows, which share a few L1
 * sets and evict each other. */
static void pack_head(float *dst, const float *x, int T, int head_dim, int H, bool transpose)
{
    for (int t = 0; t < T; t++)
        for (int d = 0; d < head_dim; d++) {
            float v = x[(size_t)t * H + d];
            if (transpose) dst[(size_t)d * T + t] = v;
            else dst[(size_t)t * head_dim + d] = v;
        }
}

/* P = softmax(scale Q K^T) with the padding mask, for one (sequence, head); kt: scratch for K^T. */
static void head_probs(float *P, float *kt, const float *q, const float *k, const int32_t *mask, int T, int head_dim, int H,
                       float scale)
{
    pack_head(kt, k, T, head_dim, H, true);
    head_gemm(false, T, T, head_dim, scale, q, H, kt, T, false, P, T);
    masked_softmax_rows(P, mask, T, T);
}

void attention_forward(float *ctx, const float *q, const float *k, const float *v, const int32_t *mask, int B, int T,
                       int heads, int head_dim, float p_drop, uint64_t drop_key)
{
    int H = heads * head_dim;
    float scale = 1.0f / sqrtf((float)head_dim);
    size_t TT = (size_t)T * T, TD = (size_t)T * head_dim;
    #pragma omp parallel
    {
        float *P = scratch(TT), *packed = scratch(TD);
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * heads; bh++) {
            int b = bh / heads, h = bh % heads;
            size_t off = (size_t)b * T * H + (size_t)h * head_dim;
            head_probs(P, packed, q + off, k + off, mask + (size_t)b * T, T, head_dim, H, scale);
            if (p_drop > 0) dropout_apply(P, TT, (size_t)bh * TT, p_drop, drop_key);
            pack_head(packed, v + off, T, head_dim, H, false);
            head_gemm(false, T, head_dim, T, 1.0f, P, T, packed, head_dim, false, ctx + off, H);
        }
        free(P);
        free(packed);
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
        float *P = scratch(TT), *dP = scratch(TT), *Pd = scratch(p_drop > 0 ? TT : 0), *packed = scratch((size_t)T * head_dim);
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * heads; bh++) {
            int b = bh / heads, h = bh % heads;
            size_t off = (size_t)b * T * H + (size_t)h * head_dim;
            /* The same products and softmax as forward, so P is bit-identical to what forward used. */
            head_probs(P, packed, q + off, k + off, mask + (size_t)b * T, T, head_dim, H, scale);
            const float *use = P;
            if (Pd) {
                memcpy(Pd, P, TT * sizeof(float));
                dropout_apply(Pd, TT, (size_t)bh * TT, p_drop, drop_key);
                use = Pd;
            }
            /* dV += Pd^T dC ; dPd = dC V^T ; dP = dPd * mask */
            pack_head(packed, d_ctx + off, T, head_dim, H, false);
            head_gemm(true, T, head_dim, T, 1.0f, use, T, packed, head_dim, true, dv + off, H);
            pack_head(packed, v + off, T, head_dim, H, true);
            head_gemm(false, T, T, head_dim, 1.0f, d_ctx + off, H, packed, T, false, dP, T);
            if (Pd) dropout_apply(dP, TT, (size_t)bh * TT, p_drop, drop_key);
            softmax_backward_rows(dP, P, T, T);
            /* S = scale * Q K^T: dQ += scale dS K ; dK += scale dS^T Q */
            pack_head(packed, k + off, T, head_dim, H, false);
            head_gemm(false, T, head_dim, T, scale, dP, T, packed, head_dim, true, dq + off, H);
            pack_head(packed, q + off, T, head_dim, H, false);
            head_gemm(true, T, head_dim, T, scale, dP, T, packed, head_dim, true, dk + off, H);
        }
        free(P);
        free(dP);
        free(Pd);
        free(packed);
    }
}
