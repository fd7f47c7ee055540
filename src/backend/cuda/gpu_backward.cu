/* Backward: the head into d(last hidden), then each layer in reverse. Weight gradients accumulate
 * (beta = 1) into gradients zeroed once per step, so the tied decoder and the embedding lookup
 * add into the same word-embedding gradient; frozen tensors (no gradient) skip their dW GEMM. */
#include "backend/cuda/gpu_common.cuh"
#include <math.h>

adapt_status weight_grad(gpu_model *g, const dparam &W, const void *dY, const void *X, int N, int in, int out)
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
        k_act_bwd(g, g->d_mpre, dbuf{g->d_act, NULL}, dbuf{g->m_pre, NULL}, R, H, ACT_GELU);
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
    prof_mark(g, "bwd head");
    return ADAPT_OK;
}

static bool base_trainable(const dlayer *D)
{
    const dparam *ps[] = {&D->qkv_w, &D->qkv_b, &D->ao_w, &D->ao_b, &D->ln1_w, &D->ln1_b,
                          &D->in_w, &D->in_b, &D->out_w, &D->out_b, &D->ln2_w, &D->ln2_b};
    for (const dparam *p : ps)
        if (p->g) return true;
    return false;
}

/* The backward of one sublayer end (see sublayer_end): d_out -> d_x (written) and g->d_branch. */
static adapt_status sublayer_end_backward(gpu_model *g, int l, bool attention, const float *d_out, float *d_x, bool stop)
{
    const dlayer *D = &g->L[l];
    point_io io = attention ? attention_point(g, l) : output_point(g, l);
    const dparam &ln_w = attention ? D->ln1_w : D->ln2_w, &ln_b = attention ? D->ln1_b : D->ln2_b;
    const dparam &bias = attention ? D->ao_b : D->out_b;
    if (adapter_at(g, l, attention))
        return adapter_point_backward(g, l, attention, io, point_grads{d_out, d_x, ln_w.g, ln_b.g, bias.g, stop});
    ln_bwd_args e = {};
    e.d_out = d_out; e.in = io.ln_sum; e.mean = io.ln_mean; e.rstd = io.ln_rstd; e.w = io.ln_w; e.N = g->N; e.H = g->m->cfg.hidden;
    e.dw = ln_w.g; e.db = ln_b.g; e.d_res = d_x;
    e.d_br_f = g->d_branch.f; e.d_br_h = g->d_branch.h; e.p_br = g->training ? g->opt.hidden_dropout : 0.0f; e.site_br = io.site;
    e.d_br_bias = bias.g;
    k_ln_bwd(g, e);
    return ADAPT_OK;
}

/* d_out: gradient of the layer output; writes the gradient of the layer input into d_x unless
 * !need_input: then it stops as soon as nothing below needs a gradient (a frozen layer below its
 * lowest adapter, the lowest layer with anything trainable). */
static adapt_status layer_backward(gpu_model *g, int l, const float *d_out, float *d_x, bool need_input)
{
    const model_config *c = &g->m->cfg;
    int N = g->N, H = c->hidden, I = c->intermediate;
    const dlayer *D = &g->L[l];
    const layer_acts *a = &g->acts[l];
    bool frozen = !base_trainable(D), attn_adapter = adapter_at(g, l, true);
    bool stop_out = !need_input && frozen && !attn_adapter;
    TRY(sublayer_end_backward(g, l, false, d_out, g->d_a, stop_out));
    prof_mark(g, "bwd ffn end: LN (adapter: down gemm + first LN)");
    if (stop_out) return ADAPT_OK;
    const void *dbr = op_of(g, g->d_branch);
    TRY(weight_grad(g, D->out_w, dbr, op_of(g, a->ffn_act), N, I, H));
    TRY(gemm(g, false, false, N, I, H, 1.0f, {dbr, H, 0}, {op_of(g, D->out_w), I, 0}, 0.0f, out_of(g, g->d_ffn_act), g->bf, I, 0, 1));
    prof_mark(g, "bwd ffn-out gemms");
    k_act_bwd(g, g->d_ffn_pre, g->d_ffn_act, a->ffn_pre, N, I, ACT_GELU);
    prof_mark(g, "bwd gelu");
    const void *dpre = op_of(g, g->d_ffn_pre);
    k_colsum(g, D->in_b.g, dpre, g->bf, N, I);
    TRY(weight_grad(g, D->in_w, dpre, op_of(g, a->a), N, H, I));
    TRY(gemm(g, false, false, N, H, I, 1.0f, {dpre, I, 0}, {op_of(g, D->in_w), H, 0}, 1.0f, g->d_a, false, H, 0, 1));
    prof_mark(g, "bwd ffn-in gemms + bias grad");
    bool stop_attn = !need_input && frozen;
    TRY(sublayer_end_backward(g, l, true, g->d_a, d_x, stop_attn));
    prof_mark(g, "bwd attn end: LN (adapter: down gemm + first LN)");
    if (stop_attn) return ADAPT_OK;
    TRY(weight_grad(g, D->ao_w, dbr, op_of(g, a->ctx), N, H, H));
    TRY(gemm(g, false, false, N, H, H, 1.0f, {dbr, H, 0}, {op_of(g, D->ao_w), H, 0}, 0.0f, out_of(g, g->d_ctx), g->bf, H, 0, 1));
    prof_mark(g, "bwd attn-out gemms");
    TRY(attention_backward(g, l));
    prof_mark(g, "bwd attention");
    const void *dqkv = op_of(g, g->d_qkv);
    k_colsum(g, D->qkv_b.g, dqkv, g->bf, N, 3 * H);
    TRY(weight_grad(g, D->qkv_w, dqkv, op_of(g, g->hidden[l]), N, H, 3 * H));
    if (need_input) TRY(gemm(g, false, false, N, H, 3 * H, 1.0f, {dqkv, 3 * H, 0}, {op_of(g, D->qkv_w), H, 0}, 1.0f, d_x, false, H, 0, 1));
    prof_mark(g, "bwd qkv gemms + bias grad");
    return ADAPT_OK;
}

/* The lowest layer whose backward has work (-1: the embeddings are trainable). */
static int lowest_trainable_layer(const gpu_model *g)
{
    if (g->word.g || g->pos.g || g->type.g || g->emb_ln_w.g || g->emb_ln_b.g) return -1;
    for (int l = 0; l < g->m->cfg.layers; l++) {
        if (base_trainable(&g->L[l])) return l;
        for (int at = 0; at < 2; at++)
            if (adapter_at(g, l, at) && adapter_at(g, l, at)->down_w.g) return l;
    }
    return g->m->cfg.layers;
}

adapt_status encoder_backward(gpu_model *g, float *d_last)
{
    const model_config *c = &g->m->cfg;
    int N = g->N, H = c->hidden;
    float *cur = d_last, *next = cur == g->d_h[0] ? g->d_h[1] : g->d_h[0];
    int lowest = lowest_trainable_layer(g);
    for (int l = c->layers - 1; l >= 0 && l >= lowest; l--) {
        TRY(layer_backward(g, l, cur, next, l > lowest));
        float *t = cur;
        cur = next;
        next = t;
    }
    if (lowest >= 0) return ADAPT_OK;
    ln_bwd_args e = {};
    e.d_out = cur; e.p_dout = g->training ? g->opt.hidden_dropout : 0.0f; e.site_dout = SITE_EMB;
    e.in = g->emb_sum; e.mean = g->emb_mean; e.rstd = g->emb_rstd; e.w = g->emb_ln_w.w; e.N = N; e.H = H;
    e.dw = g->emb_ln_w.g; e.db = g->emb_ln_b.g; e.d_res = g->d_a;
    k_ln_bwd(g, e);
    k_embed_bwd(g, g->d_a, N, H);
    prof_mark(g, "bwd embeddings");
    return ADAPT_OK;
}
