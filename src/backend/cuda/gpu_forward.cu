/* Forward: embeddings, post-LN layers (one GEMM for query|key|value, attention in
 * gpu_attention.cu, bias + dropout + residual folded into the LayerNorm, the adapter where one is
 * active), then the head on its gathered rows with the loss. */
#include "backend/cuda/gpu_common.cuh"
#include <math.h>


/* The LayerNorm input is kept for backward only. */
point_io attention_point(const gpu_model *g, int l)
{
    const dlayer *D = &g->L[l];
    layer_acts *a = &g->acts[l];
    return point_io{g->scratch_h, D->ao_b.w, g->hidden[l].f, D->ln1_w.w, D->ln1_b.w, SITE_ATTN_OUT(l), a->a, g->opt.train ? a->sum1 : NULL, a->mean1, a->rstd1};
}

point_io output_point(const gpu_model *g, int l)
{
    const dlayer *D = &g->L[l];
    layer_acts *a = &g->acts[l];
    return point_io{g->scratch_h, D->out_b.w, a->a.f, D->ln2_w.w, D->ln2_b.w, SITE_FFN_OUT(l), g->hidden[l + 1], g->opt.train ? a->sum2 : NULL, a->mean2, a->rstd2};
}

/* dropout(y + bias) + x through the LayerNorm, or the adapter there when there is one. */
static adapt_status sublayer_end(gpu_model *g, int l, bool attention, const point_io &io)
{
    if (adapter_at(g, l, attention)) return adapter_point_forward(g, l, attention, io);
    ln_fwd_args e = {};
    e.out_f = io.out.f; e.out_h = io.out.h; e.sum_out = io.ln_sum; e.mean = io.ln_mean; e.rstd = io.ln_rstd;
    e.a = io.y.f; e.a_h = io.y.h; e.a_bias = io.bias; e.resid = io.x; e.w = io.ln_w; e.b = io.ln_b;
    e.N = g->N; e.H = g->m->cfg.hidden; e.eps = (float)g->m->cfg.layer_norm_eps;
    e.p_in = g->training ? g->opt.hidden_dropout : 0.0f; e.site_in = io.site;
    k_ln_fwd(g, e);
    return ADAPT_OK;
}

adapt_status encoder_forward(gpu_model *g)
{
    const model_config *c = &g->m->cfg;
    int N = g->N, H = c->hidden, I = c->intermediate;
    float ph = g->training ? g->opt.hidden_dropout : 0.0f, eps = (float)c->layer_norm_eps;
    prof_mark(g, "(step start)");
    k_embed_fwd(g, g->emb_sum, N, H);
    ln_fwd_args e = {};
    e.out_f = g->hidden[0].f; e.out_h = g->hidden[0].h; e.mean = g->emb_mean; e.rstd = g->emb_rstd;
    e.a = g->emb_sum; e.w = g->emb_ln_w.w; e.b = g->emb_ln_b.w; e.N = N; e.H = H; e.eps = eps;
    e.p_out = ph; e.site_out = SITE_EMB;
    k_ln_fwd(g, e);
    prof_mark(g, "fwd embeddings");
    for (int l = 0; l < c->layers; l++) {
        const dlayer *D = &g->L[l];
        layer_acts *a = &g->acts[l];
        dbuf x = g->hidden[l];
        TRY(gemm(g, false, true, N, 3 * H, H, 1.0f, {op_of(g, x), H, 0}, {op_of(g, D->qkv_w), H, 0}, 0.0f, out_of(g, a->qkv), g->bf, 3 * H, 0, 1));
        prof_mark(g, "fwd qkv gemm");
        TRY(attention_forward(g, l));
        prof_mark(g, "fwd attention (+ qkv bias)");
        TRY(gemm(g, false, true, N, H, H, 1.0f, {op_of(g, a->ctx), H, 0}, {op_of(g, D->ao_w), H, 0}, 0.0f, out_of(g, g->scratch_h), g->bf, H, 0, 1));
        prof_mark(g, "fwd attn-out gemm");
        TRY(sublayer_end(g, l, true, attention_point(g, l)));
        prof_mark(g, "fwd attn end: LN (adapter: its last LN)");
        TRY(gemm(g, false, true, N, I, H, 1.0f, {op_of(g, a->a), H, 0}, {op_of(g, D->in_w), H, 0}, 0.0f, out_of(g, a->ffn_pre), g->bf, I, 0, 1));
        prof_mark(g, "fwd ffn-in gemm");
        k_bias_act(g, a->ffn_pre, D->in_b.w, g->opt.train, a->ffn_act, N, I, ACT_GELU);
        prof_mark(g, "fwd ffn bias + gelu");
        TRY(gemm(g, false, true, N, H, I, 1.0f, {op_of(g, a->ffn_act), I, 0}, {op_of(g, D->out_w), I, 0}, 0.0f, out_of(g, g->scratch_h), g->bf, H, 0, 1));
        prof_mark(g, "fwd ffn-out gemm");
        TRY(sublayer_end(g, l, false, output_point(g, l)));
        prof_mark(g, "fwd ffn end: LN (adapter: its last LN)");
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
        k_bias_act(g, dbuf{g->m_pre, NULL}, g->mlm_dense_b.w, true, dbuf{g->m_act, NULL}, R, H, ACT_GELU);
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
    prof_mark(g, "fwd head + loss");
    return ADAPT_OK;
}
