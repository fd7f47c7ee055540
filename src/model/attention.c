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

/* Sequence b's prefix (NULL or len 0: none), and the longest one, which sizes the scratch. */
static const attention_prefix *prefix_of(const attention_prefix *const *prefix, int b)
{
    const attention_prefix *p = prefix ? prefix[b] : NULL;
    return p && p->len > 0 ? p : NULL;
}

static int longest_prefix(const attention_prefix *const *prefix, int B)
{
    int longest = 0;
    for (int b = 0; b < B; b++) {
        const attention_prefix *p = prefix_of(prefix, b);
        if (p && p->len > longest) longest = p->len;
    }
    return longest;
}

void attention_forward(float *ctx, const float *q, const float *k, const float *v, const int32_t *mask, int B, int T,
                       int heads, int head_dim, const attention_prefix *const *prefix, float p_drop, uint64_t drop_key)
{
    int H = heads * head_dim, Pmax = longest_prefix(prefix, B), Smax = Pmax + T;
    float scale = 1.0f / sqrtf((float)head_dim);
    size_t TSmax = (size_t)T * Smax;
    #pragma omp parallel
    {
        float *P = scratch(TSmax), *packed = scratch((size_t)Smax * head_dim);
        int32_t *mbuf = Pmax ? malloc((size_t)Smax * sizeof(int32_t)) : NULL;
        if (Pmax && !mbuf) abort();
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * heads; bh++) {
            int b = bh / heads, h = bh % heads;
            const attention_prefix *pre = prefix_of(prefix, b);
            int Pn = pre ? pre->len : 0, S = Pn + T;
            size_t off = (size_t)b * T * H + (size_t)h * head_dim, hoff = (size_t)h * head_dim, TS = (size_t)T * S;
            head_probs(P, packed, q + off, k + off, pre, hoff, key_mask(mbuf, mask + (size_t)b * T, Pn, T), T, head_dim, H,
                       scale);
            /* mask positions: each (sequence, head) owns T * Smax of them, whatever its prefix */
            if (p_drop > 0) dropout_apply(P, TS, (size_t)bh * TSmax, p_drop, drop_key);
            pack_keys(packed, Pn ? pre->v + hoff : NULL, Pn, v + off, T, head_dim, H, false);
            head_gemm(false, T, head_dim, S, 1.0f, P, S, packed, head_dim, false, ctx + off, H);
        }
        free(P);
        free(packed);
        free(mbuf);
    }
}

void attention_backward(float *dq, float *dk, float *dv, const float *d_ctx, const float *q, const float *k, const float *v,
                        const int32_t *mask, int B, int T, int heads, int head_dim, const attention_prefix *const *prefix,
                        float p_drop, uint64_t drop_key)
{
    int H = heads * head_dim, Pmax = longest_prefix(prefix, B), Smax = Pmax + T;
    float scale = 1.0f / sqrtf((float)head_dim);
    size_t TSmax = (size_t)T * Smax;
    /* The prefixes' gradients: each (sequence, head) writes its own [len, head_dim] block of its
     * sequence's [len, H] rows; they are summed into the prefixes afterwards in sequence order, so
     * the result does not depend on the threads. */
    size_t *seq_off = calloc((size_t)B + 1, sizeof *seq_off);
    if (!seq_off) abort();
    for (int b = 0; b < B; b++) {
        const attention_prefix *pre = prefix_of(prefix, b);
        seq_off[b + 1] = seq_off[b] + (pre && (pre->dk || pre->dv) ? (size_t)pre->len * H : 0);
    }
    float *dpk_seq = seq_off[B] ? calloc(seq_off[B], sizeof(float)) : NULL;
    float *dpv_seq = seq_off[B] ? calloc(seq_off[B], sizeof(float)) : NULL;
    if (seq_off[B] && (!dpk_seq || !dpv_seq)) abort();
    #pragma omp parallel
    {
        float *P = scratch(TSmax), *dP = scratch(TSmax), *Pd = scratch(p_drop > 0 ? TSmax : 0);
        float *packed = scratch((size_t)Smax * head_dim);
        int32_t *mbuf = Pmax ? malloc((size_t)Smax * sizeof(int32_t)) : NULL;
        if (Pmax && !mbuf) abort();
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * heads; bh++) {
            int b = bh / heads, h = bh % heads;
            const attention_prefix *pre = prefix_of(prefix, b);
            int Pn = pre ? pre->len : 0, S = Pn + T;
            bool prefix_grads = seq_off[b + 1] > seq_off[b];
            size_t off = (size_t)b * T * H + (size_t)h * head_dim, hoff = (size_t)h * head_dim, TS = (size_t)T * S;
            /* The same products and softmax as forward, so P is bit-identical to what forward used. */
            head_probs(P, packed, q + off, k + off, pre, hoff, key_mask(mbuf, mask + (size_t)b * T, Pn, T), T, head_dim, H,
                       scale);
            const float *use = P;
            if (Pd) {
                memcpy(Pd, P, TS * sizeof(float));
                dropout_apply(Pd, TS, (size_t)bh * TSmax, p_drop, drop_key);
                use = Pd;
            }
            /* dV += Pd^T dC (the prefix's rows apart) ; dPd = dC [Vp; V]^T ; dP = dPd * mask */
            pack_rows(packed, head_dim, 0, d_ctx + off, T, head_dim, H, false);
            head_gemm(true, T, head_dim, T, 1.0f, use + Pn, S, packed, head_dim, true, dv + off, H);
            if (prefix_grads)
                head_gemm(true, Pn, head_dim, T, 1.0f, use, S, packed, head_dim, false, dpv_seq + seq_off[b] + hoff, H);
            pack_keys(packed, Pn ? pre->v + hoff : NULL, Pn, v + off, T, head_dim, H, true);
            head_gemm(false, T, S, head_dim, 1.0f, d_ctx + off, H, packed, S, false, dP, S);
            if (Pd) dropout_apply(dP, TS, (size_t)bh * TSmax, p_drop, drop_key);
            softmax_backward_rows(dP, P, T, S);
            /* S = scale * Q [Kp; K]^T: dQ += scale dS [Kp; K] ; dK += scale dS^T Q (the prefix's columns apart) */
            pack_keys(packed, Pn ? pre->k + hoff : NULL, Pn, k + off, T, head_dim, H, false);
            head_gemm(false, T, head_dim, S, scale, dP, S, packed, head_dim, true, dq + off, H);
            pack_rows(packed, head_dim, 0, q + off, T, head_dim, H, false);
            head_gemm(true, T, head_dim, T, scale, dP + Pn, S, packed, head_dim, true, dk + off, H);
            if (prefix_grads)
                head_gemm(true, Pn, head_dim, T, scale, dP, S, packed, head_dim, false, dpk_seq + seq_off[b] + hoff, H);
        }
        free(P);
        free(dP);
        free(Pd);
        free(packed);
        free(mbuf);
    }
    for (int b = 0; b < B; b++) {
        const attention_prefix *pre = prefix_of(prefix, b);
        size_t n = seq_off[b + 1] - seq_off[b];
        for (size_t i = 0; pre && pre->dk && i < n; i++) pre->dk[i] += dpk_seq[seq_off[b] + i];
        for (size_t i = 0; pre && pre->dv && i < n; i++) pre->dv[i] += dpv_seq[seq_off[b] + i];
    }
    free(seq_off);
    free(dpk_seq);
    free(dpv_seq);
}
