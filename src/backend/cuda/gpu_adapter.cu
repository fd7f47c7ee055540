/* A sequential bottleneck adapter at the end of a sublayer (AdapterHub's Adapter.pre_forward, the
 * block, post_forward), forward and backward. With z = dropout(y + b) the sublayer's branch and x
 * its input:
 *   hs  = original_ln_before ? LN(z + x) : z                     (the adapter input)
 *   res = z (residual_before_ln true) | z + x ("post_add") | hs (false)
 *   o   = dropout((act(hs Wd^T + bd) Wu^T + bu) * scaling) + res
 *   out = LN(o + x)                                              (original_ln_after)
 * The sublayer's own LayerNorm serves both LN places, as in the library. The last LayerNorm is the
 * existing fused kernel: a = the up projection, a_bias = bu, a_mul = scaling, resid + resid2 =
 * res + x. Only configurations the device runs exactly are accepted (adapter_validate,
 * gpu_adapter_config.c). */
#include "backend/cuda/gpu_common.cuh"

bool adapter_input_is_residual(const gpu_adapter_cfg &c) { return !c.ln_before || c.residual == BN_RESIDUAL_AFTER_LN; }

/* The values the last LayerNorm adds to the adapter output: res + x, where res = z is read as
 * the kept z + x (so z itself is never stored). */
static void residuals_of(const gpu_model *g, const adapter_acts &s, const float *x, ln_fwd_args &post)
{
    bool res_is_hs = adapter_input_is_residual(g->ad);
    post.resid = res_is_hs ? s.hs.f : s.sum;
    post.resid2 = res_is_hs || g->ad.residual == BN_RESIDUAL_POST_ADD ? x : NULL;
}

adapt_status adapter_point_forward(gpu_model *g, int l, bool attention, const point_io &io)
{
    const dadapter &A = g->ad_points[attention][l];
    adapter_acts &s = g->ad_acts[attention][l];
    int N = g->N, H = g->m->cfg.hidden, m = A.m;
    float ph = g->training ? g->opt.hidden_dropout : 0.0f, eps = (float)g->m->cfg.layer_norm_eps;
    if (g->ad.ln_before) {
        ln_fwd_args pre = {};
        pre.out_f = s.hs.f; pre.out_h = s.hs.h; pre.sum_out = s.sum; pre.mean = s.mean; pre.rstd = s.rstd;
        pre.a = io.y.f; pre.a_h = io.y.h; pre.a_bias = io.bias; pre.resid = io.x; pre.w = io.ln_w; pre.b = io.ln_b;
        pre.N = N; pre.H = H; pre.eps = eps; pre.p_in = ph; pre.site_in = io.site;
        k_ln_fwd(g, pre);
    } else {
        k_bias_dropout(g, s.hs, io.y, io.bias, N, H, ph, io.site);
    }
    prof_mark(g, "fwd adapter input (LN / bias + dropout)");
    TRY(gemm(g, false, true, N, m, H, 1.0f, {op_of(g, s.hs), H, 0}, {op_of(g, A.down_w), H, 0}, 0.0f, s.dn, false, m, 0, 1));
    k_bias_act(g, dbuf{s.dn, NULL}, A.down_b.w, true, s.act, N, m, g->ad.act);
    TRY(gemm(g, false, true, N, H, m, 1.0f, {op_of(g, s.act), m, 0}, {op_of(g, A.up_w), m, 0}, 0.0f, out_of(g, g->ad_u), g->bf, H, 0, 1));
    prof_mark(g, "fwd adapter down + act + up");
    ln_fwd_args post = {};
    post.out_f = io.out.f; post.out_h = io.out.h; post.sum_out = io.ln_sum; post.mean = io.ln_mean; post.rstd = io.ln_rstd;
    post.a = g->ad_u.f; post.a_h = g->ad_u.h; post.a_bias = A.up_b.w; post.a_mul = g->ad.scaling;
    residuals_of(g, s, io.x, post);
    post.w = io.ln_w; post.b = io.ln_b; post.N = N; post.H = H; post.eps = eps;
    post.p_in = g->training ? g->ad.dropout : 0.0f; post.site_in = SITE_ADAPTER(l, attention);
    k_ln_fwd(g, post);
    return ADAPT_OK;
}

adapt_status adapter_point_backward(gpu_model *g, int l, bool attention, const point_io &io, const point_grads &gr)
{
    const dadapter &A = g->ad_points[attention][l];
    const adapter_acts &s = g->ad_acts[attention][l];
    int N = g->N, H = g->m->cfg.hidden, m = A.m;
    float ph = g->training ? g->opt.hidden_dropout : 0.0f;
    /* the last LayerNorm: d_x gets its input gradient (x was added there), d_branch the up projection's */
    ln_bwd_args post = {};
    post.d_out = gr.d_out; post.in = io.ln_sum; post.mean = io.ln_mean; post.rstd = io.ln_rstd; post.w = io.ln_w;
    post.N = N; post.H = H; post.dw = gr.ln_dw; post.db = gr.ln_db; post.d_res = gr.d_x;
    post.d_br_f = g->d_branch.f; post.d_br_h = g->d_branch.h; post.br_mul = g->ad.scaling;
    post.p_br = g->training ? g->ad.dropout : 0.0f; post.site_br = SITE_ADAPTER(l, attention); post.d_br_bias = A.up_b.g;
    k_ln_bwd(g, post);
    prof_mark(g, "bwd adapter last LN");
    const void *d_up = op_of(g, g->d_branch);
    TRY(weight_grad(g, A.up_w, d_up, op_of(g, s.act), N, m, H));
    TRY(gemm(g, false, false, N, m, H, 1.0f, {d_up, H, 0}, {op_of(g, A.up_w), m, 0}, 0.0f, g->ad_dact, false, m, 0, 1));
    k_act_bwd(g, g->ad_ddn, dbuf{g->ad_dact, NULL}, dbuf{s.dn, NULL}, N, m, g->ad.act);
    const void *d_dn = op_of(g, g->ad_ddn);
    k_colsum(g, A.down_b.g, d_dn, g->bf, N, m);
    TRY(weight_grad(g, A.down_w, d_dn, op_of(g, s.hs), N, H, m));
    prof_mark(g, "bwd adapter weight grads + up / act backward");
    if (gr.stop) return ADAPT_OK;
    TRY(gemm(g, false, false, N, H, m, 1.0f, {d_dn, m, 0}, {op_of(g, A.down_w), H, 0}, 0.0f, g->ad_dhs, false, H, 0, 1));
    /* d_x holds the last LayerNorm's input gradient: the residual's share and x's share at once */
    if (!g->ad.ln_before) {
        k_branch_bwd(g, g->d_branch, g->ad_dhs, gr.d_x, N, H, ph, io.site, gr.d_bias);
        return ADAPT_OK;
    }
    ln_bwd_args pre = {};
    pre.d_out = g->ad_dhs; pre.in = s.sum; pre.mean = s.mean; pre.rstd = s.rstd; pre.w = io.ln_w; pre.N = N; pre.H = H;
    pre.dw = gr.ln_dw; pre.db = gr.ln_db; pre.d_res = gr.d_x; pre.res_accum = true;
    pre.old_into_d_out = g->ad.residual == BN_RESIDUAL_AFTER_LN;   /* res = hs */
    pre.old_into_d_in = g->ad.residual == BN_RESIDUAL_POST_ADD;    /* res = z + x */
    pre.old_into_branch = g->ad.residual == BN_RESIDUAL_BEFORE_LN; /* res = z */
    pre.d_br_f = g->d_branch.f; pre.d_br_h = g->d_branch.h; pre.p_br = ph; pre.site_br = io.site; pre.d_br_bias = gr.d_bias;
    k_ln_bwd(g, pre);
    return ADAPT_OK;
}
