/* Forward: embeddings, post-LN layers (one GEMM for query|key|value, per-head strided-batched
 * GEMMs around the masked softmax, bias + dropout + residual folded into the LayerNorm), then the
 * head on its gathered rows with the loss. */
#include "backend/cuda/gpu_common.cuh"
#include <math.h>

static size_t esz(const gpu_model *g) { return g->bf ? 2 : 4; }
static const void *at(const gpu_model *g, const void *p, size_t elems) { return (const char *)p + elems * esz(g); }
/* GEMM output into a dbuf that is only a GEMM operand: bf16 in bf16 mode, else fp32. */
static void *out_of(const gpu_model *g, dbuf d) { return g->bf ? (void *)d.h : (void *)d.f; }

adapt_status encoder_forward(gpu_model *g)
{
    const model_config *c = &g->m->cfg;
    int B = g->B, T = g->T, N = g->N, H = c->hidden, I = c->intermediate, nh = c->heads, dh = H / nh;
    float ph = g->training ? g->opt.hidden_dropout : 0.0f, pa = g->training ? g->opt.attn_dropout : 0.0f;
    float scale = 1.0f / sqrtf((float)dh), eps = (float)c->layer_norm_eps;
    long long sQ = (long long)T * 3 * H, sP = (long long)nh * T * T, sC = (long long)T * H;
    k_embed_fwd(g, g->emb_sum, N, H);
    ln_fwd_args e = {};
    e.out_f = g->hidden[0].f; e.out_h = g->hidden[0].h; e.mean = g->emb_mean; e.rstd = g->emb_rstd;
    e.a = g->emb_sum; e.w = g->emb_ln_w.w; e.b = g->emb_ln_b.w; e.N = N; e.H = H; e.eps = eps;
    e.p_out = ph; e.site_out = SITE_EMB;
    k_ln_fwd(g, e);
    for (int l = 0; l < c->layers; l++) {
        const dlayer *D = &g->L[l];
        layer_acts *a = &g->acts[l];
        dbuf x = g->hidden[l];
        TRY(gemm(g, false, true, N, 3 * H, H, 1.0f, {op_of(g, x), H, 0}, {op_of(g, D->qkv_w), H, 0}, 0.0f, a->qkv.f, false, 3 * H, 0, 1));
        k_bias_act(g, a->qkv.f, D->qkv_b.w, dbuf{NULL, a->qkv.h}, N, 3 * H, 0);
        const void *q = op_of(g, a->qkv);
        for (int h = 0; h < nh; h++)
            TRY(gemm(g, false, true, T, T, dh, scale, {at(g, q, (size_t)h * dh), 3 * H, sQ}, {at(g, q, (size_t)H + h * dh), 3 * H, sQ},
                     0.0f, a->P + (size_t)h * T * T, false, T, sP, B));
        k_softmax_fwd(g, a->P, a->Pd, B, nh, T, pa, SITE_PROBS(l));
        const void *pd = op_of(g, a->Pd);
        for (int h = 0; h < nh; h++)
            TRY(gemm(g, false, false, T, dh, T, 1.0f, {at(g, pd, (size_t)h * T * T), T, sP}, {at(g, q, (size_t)2 * H + h * dh), 3 * H, sQ},
                     0.0f, (char *)out_of(g, a->ctx) + (size_t)h * dh * esz(g), g->bf, H, sC, B));
        TRY(gemm(g, false, true, N, H, H, 1.0f, {op_of(g, a->ctx), H, 0}, {op_of(g, D->ao_w), H, 0}, 0.0f, g->scratch_h, false, H, 0, 1));
        ln_fwd_args l1 = {};
        l1.out_f = a->a.f; l1.out_h = a->a.h; l1.sum_out = a->sum1; l1.mean = a->mean1; l1.rstd = a->rstd1;
        l1.a = g->scratch_h; l1.a_bias = D->ao_b.w; l1.resid = x.f; l1.w = D->ln1_w.w; l1.b = D->ln1_b.w;
        l1.N = N; l1.H = H; l1.eps = eps; l1.p_in = ph; l1.site_in = SITE_ATTN_OUT(l);
        k_ln_fwd(g, l1);
        TRY(gemm(g, false, true, N, I, H, 1.0f, {op_of(g, a->a), H, 0}, {op_of(g, D->in_w), H, 0}, 0.0f, a->ffn_pre, false, I, 0, 1));
        k_bias_act(g, a->ffn_pre, D->in_b.w, a->ffn_act, N, I, 1);
        TRY(gemm(g, false, true, N, H, I, 1.0f, {op_of(g, a->ffn_act), I, 0}, {op_of(g, D->out_w), I, 0}, 0.0f, g->scratch_h, false, H, 0, 1));
        ln_fwd_args l2 = {};
        l2.out_f = g->hidden[l + 1].f; l2.out_h = g->hidden[l + 1].h; l2.sum_out = a->sum2; l2.mean = a->mean2; l2.rstd = a->rstd2;
        l2.a = g->scratch_h; l2.a_bias = D->out_b.w; l2.resid = a->a.f; l2.w = D->ln2_w.w; l2.b = D->ln2_b.w;
        l2.N = N; l2.H = H; l2.eps = eps; l2.p_in = ph; l2.site_in = SITE_FFN_OUT(l);
        k_ln_fwd(g, l2);
    }
    return ADAPT_OK;
}

adapt_status head_forward(gpu_model *g)
{
    const model_config *c = &g->m->cfg;
    int H = c->hidden, R = g->n_rows, V = c->vocab;
    const int32_t *labels = g->has_labels ? g->d_labels : NULL;
    if (g->opt.head == GPU_HEAD_MLM) {
        k_gather_rows(g, g->xm, g->hidden[c->layers].f, g->d_rows, R, H);
        TRY(gemm(g, false, true, R, H, H, 1.0f, {op_of(g, g->xm), H, 0}, {op_of(g, g->mlm_dense_w), H, 0}, 0.0f, g->m_pre, false, H, 0, 1));
        k_bias_act(g, g->m_pre, g->mlm_dense_b.w, dbuf{g->m_act, NULL}, R, H, 1);
        ln_fwd_args t = {};
        t.out_f = g->m_t.f; t.out_h = g->m_t.h; t.mean = g->m_mean; t.rstd = g->m_rstd; t.a = g->m_act;
        t.w = g->mlm_ln_w.w; t.b = g->mlm_ln_b.w; t.N = R; t.H = H; t.eps = (float)c->layer_norm_eps;
        k_ln_fwd(g, t);
        TRY(gemm(g, false, true, R, V, H, 1.0f, {op_of(g, g->m_t), H, 0}, {op_of(g, g->mlm_decoder), H, 0}, 0.0f, g->logits, false, V, 0, 1));
        k_cross_entropy(g, g->logits, g->mlm_bias.w, labels, g->dlogits, R, V, g->label_scale);
    } else if (g->opt.head == GPU_HEAD_TOKEN) {
        int C = g->head_classes;
        TRY(gemm(g, false, true, R, C, H, 1.0f, {op_of(g, g->hidden[c->layers]), H, 0}, {op_of(g, g->head_w), H, 0}, 0.0f, g->logits,
                 false, C, 0, 1));
        k_cross_entropy(g, g->logits, g->head_b.w, labels, g->dlogits, R, C, g->label_scale);
    }
    return ADAPT_OK;
}
