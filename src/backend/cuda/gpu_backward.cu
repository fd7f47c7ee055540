/* Backward: the head into d(last hidden), then each layer in reverse. Weight gradients accumulate
 * (beta = 1) into gradients zeroed once per step, so the tied decoder and the embedding lookup
 * add into the same word-embedding gradient; frozen tensors (no gradient) skip their dW GEMM. */
#include "backend/cuda/gpu_common.cuh"
#include <math.h>

static size_t esz(const gpu_model *g) { return g->bf ? 2 : 4; }
static const void *at(const gpu_model *g, const void *p, size_t elems) { return (const char *)p + elems * esz(g); }
static void *out_at(const gpu_model *g, dbuf d, size_t elems) { return (char *)(g->bf ? (void *)d.h : (void *)d.f) + elems * esz(g); }

/* dW[out,in] += dY^T X for Y = X W^T (skipped when W is frozen). */
static adapt_status weight_grad(gpu_model *g, const dparam &W, const void *dY, const void *X, int N, int in, int out)
{
    if (!W.g) return ADAPT_OK;
    return gemm(g, true, false, out, in, N, 1.0f, {dY, out, 0}, {X, in, 0}, 1.0f, W.g, false, in, 0, 1);
}

adapt_status head_backward(gpu_model *g, float *d_last)
{
    const model_config *c = &g->m->cfg;
    int H = c->hidden, R = g->n_rows, N = g->N;
    CUDA_TRY(cudaMemsetAsync(d_last, 0, (size_t)N * H * sizeof(float), g->stream));
    const void *dl = op_of(g, g->dlogits);
    if (g->opt.head == GPU_HEAD_MLM) {
        int V = c->vocab;
        const dparam &dec = g->mlm_decoder;
        k_colsum(g, g->mlm_bias.g, dl, g->bf, R, V);
        TRY(weight_grad(g, dec, dl, op_of(g, g->m_t), R, H, V));
        TRY(gemm(g, false, false, R, H, V, 1.0f, {dl, V, 0}, {op_of(g, dec), H, 0}, 0.0f, g->d_t, false, H, 0, 1));
        ln_bwd_args t = {};
        t.d_out = g->d_t; t.in = g->m_act; t.mean = g->m_mean; t.rstd = g->m_rstd; t.w = g->mlm_ln_w.w; t.N = R; t.H = H;
        t.dw = g->mlm_ln_w.g; t.db = g->mlm_ln_b.g; t.d_res = g->d_act;
        k_ln_bwd(g, t);
        k_gelu_bwd(g, g->d_mpre, g->d_act, g->m_pre, (size_t)R * H);
        k_colsum(g, g->mlm_dense_b.g, op_of(g, g->d_mpre), g->bf, R, H);
        TRY(weight_grad(g, g->mlm_dense_w, op_of(g, g->d_mpre), op_of(g, g->xm), R, H, H));
        TRY(gemm(g, false, false, R, H, H, 1.0f, {op_of(g, g->d_mpre), H, 0}, {op_of(g, g->mlm_dense_w), H, 0}, 0.0f, g->d_xm, false, H, 0, 1));
        k_scatter_add_rows(g, d_last, g->d_xm, g->d_rows, R, H);
    } else if (g->opt.head == GPU_HEAD_TOKEN) {
        int C = g->head_classes;
        k_colsum(g, g->head_b.g, dl, g->bf, R, C);
        TRY(weight_grad(g, g->head_w, dl, op_of(g, g->hidden[c->layers]), R, H, C));
        TRY(gemm(g, false, false, R, H, C, 1.0f, {dl, C, 0}, {op_of(g, g->head_w), H, 0}, 0.0f, d_last, false, H, 0, 1));
    }
    return ADAPT_OK;
}

static adapt_status attention_backward(gpu_model *g, const layer_acts *a)
{
    const model_config *c = &g->m->cfg;
    int B = g->B, T = g->T, H = c->hidden, nh = c->heads, dh = H / nh;
    float scale = 1.0f / sqrtf((float)dh), pa = g->training ? g->opt.attn_dropout : 0.0f;
    long long sQ = (long long)T * 3 * H, sP = (long long)nh * T * T, sC = (long long)T * H;
    const void *q = op_of(g, a->qkv), *pd = op_of(g, a->Pd), *dctx = op_of(g, g->d_ctx), *ds = op_of(g, g->dS);
    for (int h = 0; h < nh; h++) {
        /* dPd = dC V^T ; dV = Pd^T dC */
        TRY(gemm(g, false, true, T, T, dh, 1.0f, {at(g, dctx, (size_t)h * dh), H, sC}, {at(g, q, (size_t)2 * H + h * dh), 3 * H, sQ}, 0.0f,
                 g->dP + (size_t)h * T * T, false, T, sP, B));
        TRY(gemm(g, true, false, T, dh, T, 1.0f, {at(g, pd, (size_t)h * T * T), T, sP}, {at(g, dctx, (size_t)h * dh), H, sC}, 0.0f,
                 out_at(g, g->d_qkv, (size_t)2 * H + h * dh), g->bf, 3 * H, sQ, B));
    }
    k_softmax_bwd(g, g->dS, g->dP, a->P, B, nh, T, pa, SITE_PROBS(a - g->acts));
    for (int h = 0; h < nh; h++) {
        /* S = scale Q K^T: dQ = scale dS K ; dK = scale dS^T Q */
        TRY(gemm(g, false, false, T, dh, T, scale, {at(g, ds, (size_t)h * T * T), T, sP}, {at(g, q, (size_t)H + h * dh), 3 * H, sQ}, 0.0f,
                 out_at(g, g->d_qkv, (size_t)h * dh), g->bf, 3 * H, sQ, B));
        TRY(gemm(g, true, false, T, dh, T, scale, {at(g, ds, (size_t)h * T * T), T, sP}, {at(g, q, (size_t)h * dh), 3 * H, sQ}, 0.0f,
                 out_at(g, g->d_qkv, (size_t)H + h * dh), g->bf, 3 * H, sQ, B));
    }
    return ADAPT_OK;
}

/* d_out: gradient of the layer output; writes the gradient of the layer input into d_x. */
static adapt_status layer_backward(gpu_model *g, int l, const float *d_out, float *d_x)
{
    const model_config *c = &g->m->cfg;
    int N = g->N, H = c->hidden, I = c->intermediate;
    float ph = g->training ? g->opt.hidden_dropout : 0.0f;
    const dlayer *D = &g->L[l];
    const layer_acts *a = &g->acts[l];
    ln_bwd_args l2 = {};
    l2.d_out = d_out; l2.in = a->sum2; l2.mean = a->mean2; l2.rstd = a->rstd2; l2.w = D->ln2_w.w; l2.N = N; l2.H = H;
    l2.dw = D->ln2_w.g; l2.db = D->ln2_b.g; l2.d_res = g->d_a;
    l2.d_br_f = g->d_branch.f; l2.d_br_h = g->d_branch.h; l2.p_br = ph; l2.site_br = SITE_FFN_OUT(l); l2.d_br_bias = D->out_b.g;
    k_ln_bwd(g, l2);
    const void *dbr = op_of(g, g->d_branch);
    TRY(weight_grad(g, D->out_w, dbr, op_of(g, a->ffn_act), N, I, H));
    TRY(gemm(g, false, false, N, I, H, 1.0f, {dbr, H, 0}, {op_of(g, D->out_w), I, 0}, 0.0f, g->d_ffn_act, false, I, 0, 1));
    k_gelu_bwd(g, g->d_ffn_pre, g->d_ffn_act, a->ffn_pre, (size_t)N * I);
    const void *dpre = op_of(g, g->d_ffn_pre);
    k_colsum(g, D->in_b.g, dpre, g->bf, N, I);
    TRY(weight_grad(g, D->in_w, dpre, op_of(g, a->a), N, H, I));
    TRY(gemm(g, false, false, N, H, I, 1.0f, {dpre, I, 0}, {op_of(g, D->in_w), H, 0}, 1.0f, g->d_a, false, H, 0, 1));
    ln_bwd_args l1 = {};
    l1.d_out = g->d_a; l1.in = a->sum1; l1.mean = a->mean1; l1.rstd = a->rstd1; l1.w = D->ln1_w.w; l1.N = N; l1.H = H;
    l1.dw = D->ln1_w.g; l1.db = D->ln1_b.g; l1.d_res = d_x;
    l1.d_br_f = g->d_branch.f; l1.d_br_h = g->d_branch.h; l1.p_br = ph; l1.site_br = SITE_ATTN_OUT(l); l1.d_br_bias = D->ao_b.g;
    k_ln_bwd(g, l1);
    TRY(weight_grad(g, D->ao_w, dbr, op_of(g, a->ctx), N, H, H));
    TRY(gemm(g, false, false, N, H, H, 1.0f, {dbr, H, 0}, {op_of(g, D->ao_w), H, 0}, 0.0f, out_at(g, g->d_ctx, 0), g->bf, H, 0, 1));
    TRY(attention_backward(g, a));
    const void *dqkv = op_of(g, g->d_qkv);
    k_colsum(g, D->qkv_b.g, dqkv, g->bf, N, 3 * H);
    TRY(weight_grad(g, D->qkv_w, dqkv, op_of(g, g->hidden[l]), N, H, 3 * H));
    return gemm(g, false, false, N, H, 3 * H, 1.0f, {dqkv, 3 * H, 0}, {op_of(g, D->qkv_w), H, 0}, 1.0f, d_x, false, H, 0, 1);
}

adapt_status encoder_backward(gpu_model *g, float *d_last)
{
    const model_config *c = &g->m->cfg;
    int N = g->N, H = c->hidden;
    float *cur = d_last, *next = cur == g->d_h[0] ? g->d_h[1] : g->d_h[0];
    for (int l = c->layers - 1; l >= 0; l--) {
        TRY(layer_backward(g, l, cur, next));
        float *t = cur;
        cur = next;
        next = t;
    }
    bool emb_trainable = g->word.g || g->pos.g || g->type.g || g->emb_ln_w.g || g->emb_ln_b.g;
    if (!emb_trainable) return ADAPT_OK;
    ln_bwd_args e = {};
    e.d_out = cur; e.p_dout = g->training ? g->opt.hidden_dropout : 0.0f; e.site_dout = SITE_EMB;
    e.in = g->emb_sum; e.mean = g->emb_mean; e.rstd = g->emb_rstd; e.w = g->emb_ln_w.w; e.N = N; e.H = H;
    e.dw = g->emb_ln_w.g; e.db = g->emb_ln_b.g; e.d_res = g->d_a;
    k_ln_bwd(g, e);
    k_embed_bwd(g, g->d_a, N, H);
    return ADAPT_OK;
}
