/* Self-attention between the QKV projection and the output dense layer: all (batch, head) pairs of
 * each product in one cuBLAS batched GEMM. Heads are column slices of the token-major Q|K|V and
 * context buffers, so no single stride reaches every pair: each operand is a device array of
 * per-pair pointers, rebuilt only when the batch shape changes. A per-head loop of strided GEMMs
 * would launch heads x more kernels, each too small to fill the GPU.
 * Forward: S = scale Q K^T, P = masked softmax(S), Pd = dropout(P), C = Pd V.
 * Backward: dPd = dC V^T, dV = Pd^T dC, dS = softmax'(dPd), dQ = scale dS K, dK = scale dS^T Q.
 * In bf16 the fused kernels of gpu_kernels_flash*.cu run instead where the shape allows (no
 * [B,heads,T,T] buffers): inference in one kernel from the unbiased q/k/v, training forward and
 * backward with the bias added first. */
#include "backend/cuda/gpu_flash.cuh"
#include <math.h>

enum { PTR_Q, PTR_K, PTR_V, PTR_P, PTR_PD, PTR_CTX, FWD_PTRS };        /* per layer */
enum { PTR_DCTX, PTR_DP, PTR_DS, PTR_DQ, PTR_DK, PTR_DV, BWD_PTRS };   /* shared by the layers */

__global__ void fill_ptrs_kernel(void **out, char *base, long long batch_stride, long long head_stride, int heads, int count)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) out[i] = base + (i / heads) * batch_stride + (i % heads) * head_stride;
}

/* Pointers for (b, h) at base + b * batch_stride + h * head_stride (bytes). */
static void fill(gpu_model *g, int slot_index, void **table, const void *base, long long batch_stride, long long head_stride)
{
    int heads = g->m->cfg.heads, count = g->B * heads;
    void **out = table + (size_t)slot_index * g->opt.max_B * heads;
    fill_ptrs_kernel<<<(unsigned)((count + 255) / 256), 256, 0, g->stream>>>(out, (char *)base, batch_stride, head_stride, heads, count);
}

static void **ptrs(const gpu_model *g, void **table, int slot_index) { return table + (size_t)slot_index * g->opt.max_B * g->m->cfg.heads; }

/* Rebuilds every pointer table for the current B x T (stream-ordered, so earlier work that still
 * reads the old tables has finished reading them before the rebuild runs). */
static void build_tables(gpu_model *g)
{
    const model_config *c = &g->m->cfg;
    int T = g->T, H = c->hidden, nh = c->heads, dh = H / nh;
    long long e = g->bf ? 2 : 4, qkv_row = 3LL * H * e, tok = (long long)T * e;
    for (int l = 0; l < c->layers; l++) {
        layer_acts *a = &g->acts[l];
        const char *q = (const char *)op_of(g, a->qkv);
        fill(g, PTR_Q, a->ptrs, q, T * qkv_row, dh * e);
        fill(g, PTR_K, a->ptrs, q + H * e, T * qkv_row, dh * e);
        fill(g, PTR_V, a->ptrs, q + 2LL * H * e, T * qkv_row, dh * e);
        fill(g, PTR_P, a->ptrs, a->P, (long long)nh * T * T * 4, (long long)T * T * 4);
        fill(g, PTR_PD, a->ptrs, op_of(g, a->Pd), (long long)nh * T * tok, (long long)T * tok);
        fill(g, PTR_CTX, a->ptrs, op_of(g, a->ctx), (long long)T * H * e, dh * e);
    }
    if (g->bwd_ptrs) {
        const char *dq = (const char *)op_of(g, g->d_qkv);
        fill(g, PTR_DCTX, g->bwd_ptrs, op_of(g, g->d_ctx), (long long)T * H * e, dh * e);
        fill(g, PTR_DP, g->bwd_ptrs, g->dP, (long long)nh * T * T * 4, (long long)T * T * 4);
        fill(g, PTR_DS, g->bwd_ptrs, op_of(g, g->dS), (long long)nh * T * tok, (long long)T * tok);
        fill(g, PTR_DQ, g->bwd_ptrs, dq, T * qkv_row, dh * e);
        fill(g, PTR_DK, g->bwd_ptrs, dq + H * e, T * qkv_row, dh * e);
        fill(g, PTR_DV, g->bwd_ptrs, dq + 2LL * H * e, T * qkv_row, dh * e);
    }
    g->ptr_B = g->B;
    g->ptr_T = g->T;
}

size_t attention_ptr_count(const gpu_model *g, bool backward)
{
    return (size_t)(backward ? (int)BWD_PTRS : (int)FWD_PTRS) * g->opt.max_B * g->m->cfg.heads;
}

static bool use_fused(const gpu_model *g)
{
    int dh = g->m->cfg.hidden / g->m->cfg.heads;
    return g->fused_attention && (g->opt.train ? attention_train_fused_supported(g->T, dh) : attention_fused_supported(g->T, dh));
}

adapt_status attention_forward(gpu_model *g, int l)
{
    const model_config *c = &g->m->cfg;
    int B = g->B, T = g->T, H = c->hidden, nh = c->heads, dh = H / nh, n = B * nh;
    float pa = g->training ? g->opt.attn_dropout : 0.0f, scale = 1.0f / sqrtf((float)dh);
    layer_acts *a = &g->acts[l];
    const float *qkv_bias = g->L[l].qkv_b.w;
    if (use_fused(g) && !g->opt.train) {
        k_attention_fused(g, a->qkv.h, qkv_bias, a->ctx.h, B, nh, T, dh);
        return ADAPT_OK;
    }
    k_bias_act(g, a->qkv, qkv_bias, true, dbuf{}, g->N, 3 * H, ACT_IDENTITY); /* backward reads the biased q/k/v */
    if (use_fused(g)) {
        k_attention_train_fwd(g, a->qkv.h, a->ctx.h, a->row_stats, B, nh, T, dh, pa, SITE_PROBS(l));
        return ADAPT_OK;
    }
    if (g->ptr_B != B || g->ptr_T != T) build_tables(g);
    void **p = a->ptrs;
    TRY(gemm_ptrs(g, false, true, T, T, dh, scale, ptrs(g, p, PTR_Q), 3 * H, ptrs(g, p, PTR_K), 3 * H, 0.0f, ptrs(g, p, PTR_P), false, T, n));
    k_softmax_fwd(g, a->P, a->Pd, B, nh, T, pa, SITE_PROBS(l));
    return gemm_ptrs(g, false, false, T, dh, T, 1.0f, ptrs(g, p, PTR_PD), T, ptrs(g, p, PTR_V), 3 * H, 0.0f, ptrs(g, p, PTR_CTX), g->bf, H, n);
}

adapt_status attention_backward(gpu_model *g, int l)
{
    const model_config *c = &g->m->cfg;
    int B = g->B, T = g->T, H = c->hidden, nh = c->heads, dh = H / nh, n = B * nh;
    float pa = g->training ? g->opt.attn_dropout : 0.0f, scale = 1.0f / sqrtf((float)dh);
    const layer_acts *a = &g->acts[l];
    if (use_fused(g)) {
        k_attention_train_bwd(g, a->qkv.h, g->d_ctx.h, a->row_stats, g->d_qkv.h, B, nh, T, dh, pa, SITE_PROBS(l));
        return ADAPT_OK;
    }
    void **p = a->ptrs, **d = g->bwd_ptrs;
    TRY(gemm_ptrs(g, false, true, T, T, dh, 1.0f, ptrs(g, d, PTR_DCTX), H, ptrs(g, p, PTR_V), 3 * H, 0.0f, ptrs(g, d, PTR_DP), false, T, n));
    TRY(gemm_ptrs(g, true, false, T, dh, T, 1.0f, ptrs(g, p, PTR_PD), T, ptrs(g, d, PTR_DCTX), H, 0.0f, ptrs(g, d, PTR_DV), g->bf, 3 * H, n));
    k_softmax_bwd(g, g->dS, g->dP, a->P, B, nh, T, pa, SITE_PROBS(l));
    TRY(gemm_ptrs(g, false, false, T, dh, T, scale, ptrs(g, d, PTR_DS), T, ptrs(g, p, PTR_K), 3 * H, 0.0f, ptrs(g, d, PTR_DQ), g->bf, 3 * H, n));
    return gemm_ptrs(g, true, false, T, dh, T, scale, ptrs(g, d, PTR_DS), T, ptrs(g, p, PTR_Q), 3 * H, 0.0f, ptrs(g, d, PTR_DK), g->bf, 3 * H, n);
}
