/* The layers of the encoder, each a forward/backward pair over plain contiguous row-major buffers
 * (llm.c style). N = rows (batch * tokens). Backward functions ACCUMULATE into every gradient they
 * receive (d_in, dW, db), so residual branches add up; a NULL weight-gradient pointer means the
 * tensor is frozen and its weight-gradient work is skipped entirely. */
#ifndef ADAPT_MODEL_LAYERS_H
#define ADAPT_MODEL_LAYERS_H
#include "formats/hf_config.h"
#include <stddef.h>
#include <stdint.h>

/* out[N,out_dim] = in[N,in_dim] @ W[out_dim,in_dim]^T + b (b may be NULL). */
void linear_forward(float *out, const float *in, const float *W, const float *b, int N, int in_dim, int out_dim);
/* out = base + scale * (in @ W^T + b): a projection added onto a residual without a pass of its
 * own (the residual and bias fill `out`, the GEMM accumulates into it). */
void linear_forward_onto(float *out, const float *base, float scale, const float *in, const float *W, const float *b, int N,
                         int in_dim, int out_dim);
void linear_backward(float *d_in, float *dW, float *db, const float *d_out, const float *in, const float *W,
                     int N, int in_dim, int out_dim);
/* The same pair with W held as bf16 (weight-only bf16; W frozen, so no dW): W is widened into
 * W_f32 ([out_dim,in_dim] floats of the caller's) right before the fp32 GEMM, so the result is
 * linear_forward / linear_backward on the bf16 values, bit for bit. */
void linear_forward_bf16(float *out, const float *in, const uint16_t *W, float *W_f32, const float *b, int N, int in_dim,
                         int out_dim);
void linear_backward_bf16(float *d_in, float *db, const float *d_out, const uint16_t *W, float *W_f32, int N, int in_dim,
                          int out_dim);

/* LayerNorm over the last dimension; mean and rstd ([N]) are kept for the backward pass. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b,
                       int N, int H, double eps);
/* out = LayerNorm(x1 + x2) in one pass over the rows (the residual add of a post-LN sublayer);
 * the sum is also written to `sum` when it is not NULL (backward needs it), mean/rstd likewise. */
void add_layernorm_forward(float *out, float *sum, float *mean, float *rstd, const float *x1, const float *x2,
                           const float *w, const float *b, int N, int H, double eps);
void layernorm_backward(float *d_in, float *dw, float *db, const float *d_out, const float *in, const float *mean,
                        const float *rstd, const float *w, int N, int H);

/* Elementwise activation (n values); backward needs the forward input. */
void activation_forward(float *out, const float *in, size_t n, activation_kind kind);
void activation_backward(float *d_in, const float *d_out, const float *in, size_t n, activation_kind kind);
/* d = d * f'(in): the gradient through the activation, overwriting the output's gradient. */
void activation_backward_in_place(float *d, const float *in, size_t n, activation_kind kind);

/* Softmax of each of n rows of T scores over the keys with mask[j] = 1 (masked keys get 0; a row
 * with every key masked gets 1/T each), in place; and its backward d = p * (d - <p, d>) per row,
 * in place. */
void masked_softmax_rows(float *rows, const int32_t *mask, int n, int T);
void softmax_backward_rows(float *d, const float *p, int n, int T);

/* Prefix tuning's extra keys and values for one layer: len rows [len, H] a sequence attends to,
 * unmasked, before its own keys; dk / dv (optional, [len, H]) accumulate their gradients. */
typedef struct attention_prefix {
    const float *k, *v;
    int len;
    float *dk, *dv;
} attention_prefix;

/* Multi-head self-attention core on projected q, k, v ([B,T,H], head h = columns h*dh..).
 * mask[B,T] (1 = attend, 0 = padding key). prefix: NULL (none) or B pointers, sequence b's prefix
 * (NULL or len 0: none; sequences may share one), whose keys and values come ahead of its own.
 * p_drop > 0 drops attention probabilities (training) with the mask of dropout_apply over
 * positions [bh * T * Smax, ...) for (sequence, head) bh, Smax = T + the longest prefix; backward
 * takes the same values and recomputes the probabilities from q and k. */
void attention_forward(float *ctx, const float *q, const float *k, const float *v, const int32_t *mask, int B, int T,
                       int heads, int head_dim, const attention_prefix *const *prefix, float p_drop, uint64_t drop_key);
void attention_backward(float *dq, float *dk, float *dv, const float *d_ctx, const float *q, const float *k, const float *v,
                        const int32_t *mask, int B, int T, int heads, int head_dim, const attention_prefix *const *prefix,
                        float p_drop, uint64_t drop_key);

/* Inverted dropout (kept values scaled by 1/(1-p)) with a mask recomputed from a hash of
 * (key, element index) instead of stored: forward and backward multiply by the same mask.
 * dropout_key derives a site's key from the step seed and a site number. dropout_apply is the
 * single-threaded core on elements offset..offset+n-1 of a site; the pair below threads it. */
uint64_t dropout_key(uint64_t seed, uint32_t site);
void dropout_apply(float *x, size_t n, size_t offset, float p, uint64_t key);
void dropout_forward(float *x, size_t n, float p, uint64_t key);
void dropout_backward(float *d, size_t n, float p, uint64_t key);

/* out[N,H] = word[ids] + pos[pos_ids] + type[type_ids] (type table may be NULL). */
void embeddings_forward(float *out, const int32_t *ids, const int32_t *pos_ids, const int32_t *type_ids,
                        const float *word, const float *pos, const float *type, int N, int H);
/* Sparse: only the rows used by the batch receive gradient. */
void embeddings_backward(float *d_word, float *d_pos, float *d_type, const float *d_out, const int32_t *ids,
                         const int32_t *pos_ids, const int32_t *type_ids, int N, int H);

/* Mean cross-entropy over rows whose label != -100; returns the loss, writes d_logits (scaled by
 * `scale` / number of counted rows) when d_logits != NULL. Returns 0 with no counted rows. */
double cross_entropy_forward_backward(float *d_logits, const float *logits, const int64_t *labels, int N, int C, float scale);

/* Mean squared error over N predictions against float targets (a regression head's single output,
 * torch's MSELoss); returns the loss, and adds scale * 2 (pred - target) / N into d_pred when
 * d_pred != NULL. Returns 0 for N == 0. */
double mse_forward_backward(float *d_pred, const float *pred, const float *target, int N, float scale);

#endif
