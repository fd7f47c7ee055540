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

/* `rows` rows of one head (head_dim columns at stride `stride`) into a contiguous block with
 * leading dimension ld, starting at row (column, transposed) `at`: the products then read their
 * second operand without H-strided rows, which share a few L1 sets and evict each other. */
static void pack_rows(float *dst, int ld, int at, const float *x, int rows, int head_dim, int stride, bool transpose)
{
    for (int t = 0; t < rows; t++)
        for (int d = 0; d < head_dim; d++) {
            float v = x[(size_t)t * stride + d];
            if (transpose) dst[(size_t)d * ld + at + t] = v;
            else dst[(size_t)(at + t) * ld + d] = v;
        }
}

/* The S = prefix + T keys (or values) of one (sequence, head), prefix first. */
static void pack_keys(float *dst, const float *prefix, int P, const float *x, int T, int head_dim, int H, bool transpose)
{
    int S = P + T;
    if (P) pack_rows(dst, transpose ? S : head_dim, 0, prefix, P, head_dim, H, transpose);
    pack_rows(dst, transpose ? S : head_dim, P, x, T, head_dim, H, transpose);
}

/* Per-thread mask over the S keys: the prefix always attended (AdapterHub's prefix mask of ones). */
static const int32_t *key_mask(int32_t *buf, const int32_t *row_mask, int P, int T)
{
    if (!P) return row_mask;
    for (int j = 0; j < P; j++) buf[j] = 1;
    memcpy(buf + P, row_mask, (size_t)T * sizeof(int32_t));
    return buf;
}

/* P = softmax(scale Q [Kp; K]^T) with the padding mask, for one (sequence, head); kt: scratch for the keys^T. */
static void head_probs(float *P, float *kt, const float *q, const float *k, const attention_prefix *pre, size_t head_off,
                       const int32_t *mask, int T, int head_dim, int H, float scale)
{
    int Pn = pre ? pre->len : 0, S = Pn + T;
    pack_keys(kt, Pn ? pre->k + head_off : NULL, Pn, k, T, head_dim, H, true);
    head_gemm(false, T, S, head_dim, scale, q, H, kt, S, false, P, S);
    masked_softmax_rows(P, mask, T, S);
}

void attention_forward(float *ctx, const float *q, const float *k, const float *v, const int32_t *mask, int B, int T,
                       int heads, int head_dim, const attention_prefix *pre, float p_drop, uint64_t drop_key)
{
    int H = heads * head_dim, Pn = pre ? pre->len : 0, S = Pn + T;
    float scale = 1.0f / sqrtf((float)head_dim);
    size_t TS = (size_t)T * S, SD = (size_t)S * head_dim;
    #pragma omp parallel
    {
        float *P = scratch(TS), *packed = scratch(SD);
        int32_t *mbuf = Pn ? malloc((size_t)S * sizeof(int32_t)) : NULL;
        if (Pn && !mbuf) abort();
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * heads; bh++) {
            int b = bh / heads, h = bh % heads;
            size_t off = (size_t)b * T * H + (size_t)h * head_dim, hoff = (size_t)h * head_dim;
            head_probs(P, packed, q + off, k + off, pre, hoff, key_mask(mbuf, mask + (size_t)b * T, Pn, T), T, head_dim, H,
                       scale);
            if (p_drop > 0) dropout_apply(P, TS, (size_t)bh * TS, p_drop, drop_key);
            pack_keys(packed, Pn ? pre->v + hoff : NULL, Pn, v + off, T, head_dim, H, false);
            head_gemm(false, T, head_dim, S, 1.0f, P, S, packed, head_dim, false, ctx + off, H);
        }
        free(P);
        free(packed);
        free(mbuf);
    }
}

/* The prefix's gradients: each (sequence, head) wrote its own [P, head_dim] block of a [B, P, H]
 * buffer; summing over the sequences afterwards in order keeps the result independent of threads. */
static void sum_over_sequences(float *d_prefix, const float *per_seq, int B, size_t PH)
{
    for (int b = 0; b < B; b++)
        for (size_t i = 0; i < PH; i++) d_prefix[i] += per_seq[(size_t)b * PH + i];
}

void attention_backward(float *dq, float *dk, float *dv, const float *d_ctx, const float *q, const float *k, const float *v,
                        const int32_t *mask, int B, int T, int heads, int head_dim, const attention_prefix *pre, float p_drop,
                        uint64_t drop_key)
{
    int H = heads * head_dim, Pn = pre ? pre->len : 0, S = Pn + T;
    float scale = 1.0f / sqrtf((float)head_dim);
    size_t TS = (size_t)T * S, PH = (size_t)Pn * H;
    bool prefix_grads = Pn && (pre->dk || pre->dv);
    float *dpk_seq = prefix_grads ? calloc((size_t)B * PH, sizeof(float)) : NULL;
    float *dpv_seq = prefix_grads ? calloc((size_t)B * PH, sizeof(float)) : NULL;
    if (prefix_grads && (!dpk_seq || !dpv_seq)) abort();
    #pragma omp parallel
    {
        float *P = scratch(TS), *dP = scratch(TS), *Pd = scratch(p_drop > 0 ? TS : 0);
        float *packed = scratch((size_t)S * head_dim);
        int32_t *mbuf = Pn ? malloc((size_t)S * sizeof(int32_t)) : NULL;
        if (Pn && !mbuf) abort();
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * heads; bh++) {
            int b = bh / heads, h = bh % heads;
            size_t off = (size_t)b * T * H + (size_t)h * head_dim, hoff = (size_t)h * head_dim;
            /* The same products and softmax as forward, so P is bit-identical to what forward used. */
            head_probs(P, packed, q + off, k + off, pre, hoff, key_mask(mbuf, mask + (size_t)b * T, Pn, T), T, head_dim, H,
                       scale);
            const float *use = P;
            if (Pd) {
                memcpy(Pd, P, TS * sizeof(float));
                dropout_apply(Pd, TS, (size_t)bh * TS, p_drop, drop_key);
                use = Pd;
            }
            /* dV += Pd^T dC (the prefix's rows apart) ; dPd = dC [Vp; V]^T ; dP = dPd * mask */
            pack_rows(packed, head_dim, 0, d_ctx + off, T, head_dim, H, false);
            head_gemm(true, T, head_dim, T, 1.0f, use + Pn, S, packed, head_dim, true, dv + off, H);
            if (prefix_grads)
                head_gemm(true, Pn, head_dim, T, 1.0f, use, S, packed, head_dim, false, dpv_seq + (size_t)b * PH + hoff, H);
            pack_keys(packed, Pn ? pre->v + hoff : NULL, Pn, v + off, T, head_dim, H, true);
            head_gemm(false, T, S, head_dim, 1.0f, d_ctx + off, H, packed, S, false, dP, S);
            if (Pd) dropout_apply(dP, TS, (size_t)bh * TS, p_drop, drop_key);
            softmax_backward_rows(dP, P, T, S);
            /* S = scale * Q [Kp; K]^T: dQ += scale dS [Kp; K] ; dK += scale dS^T Q (the prefix's columns apart) */
            pack_keys(packed, Pn ? pre->k + hoff : NULL, Pn, k + off, T, head_dim, H, false);
            head_gemm(false, T, head_dim, S, scale, dP, S, packed, head_dim, true, dq + off, H);
            pack_rows(packed, head_dim, 0, q + off, T, head_dim, H, false);
            head_gemm(true, T, head_dim, T, scale, dP + Pn, S, packed, head_dim, true, dk + off, H);
            if (prefix_grads)
                head_gemm(true, Pn, head_dim, T, scale, dP, S, packed, head_dim, false, dpk_seq + (size_t)b * PH + hoff, H);
        }
        free(P);
        free(dP);
        free(Pd);
        free(packed);
        free(mbuf);
    }
    if (prefix_grads) {
        if (pre->dk) sum_over_sequences(pre->dk, dpk_seq, B, PH);
        if (pre->dv) sum_over_sequences(pre->dv, dpv_seq, B, PH);
    }
    free(dpk_seq);
    free(dpv_seq);
}
