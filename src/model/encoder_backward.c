/* The encoder backward pass, layer by layer in reverse. Gradients flow only as deep as the lowest
 * trainable tensor: with a frozen base and adapters everywhere that is layer 0, with a head-only
 * baseline nothing below the head is visited. */
#include "adapters/compose.h"
#include "adapters/lora.h"
#include "adapters/prefix_setup.h"
#include "adapters/setup.h"
#include "core/error.h"
#include "model/heads.h"
#include "model/layers.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -2: nothing trainable in the encoder; -1: embeddings (or an invertible adapter) trainable;
 * otherwise the lowest layer index with a trainable tensor. */
static int lowest_trainable_layer(const adapt_model *m)
{
    int lowest = -2;
    size_t plen = strlen(m->prefix);
    for (size_t i = 0; i < m->store.count; i++) {
        const param *p = m->store.items[i];
        if (!p->trainable || strncmp(p->name, m->prefix, plen) || p->name[plen] != '.') continue;
        const char *rest = p->name + plen + 1;
        int layer;
        if (sscanf(rest, "encoder.layer.%d.", &layer) == 1) {
            if (lowest == -2 || layer < lowest) lowest = layer;
        } else if (!strncmp(rest, "embeddings.", 11) || !strncmp(rest, "invertible_adapters.", 20)) {
            lowest = -1;
        }
    }
    return lowest;
}

/* The LoRA branch's backward for one linear layer: A and B gradients, and its part of d_x. */
static adapt_status lora_branch_backward(adapt_model *m, int l, lora_linear which, float *d_x, const float *dy, const float *x)
{
    const lora_pair *p = lora_active_pair(m, l, which);
    const lora_state *s = m->lora;
    if (!p || s->cfg.ia3) return ADAPT_OK; /* (IA)^3: all done before the layer's */
    const float *dropped = m->fw.layers[l].lora_x[which];
    if (!dropped) return lora_backward(&m->acts, d_x, dy, m->fw.layers[l].lora_ax[which], x, p, p->scaling, m->fw.N);
    /* lora_dropout: A's gradient from the dropped input; d_x's part through the same mask */
    size_t n = (size_t)m->fw.N * p->A->shape[1];
    float *d_dropped = d_x ? arena_floats(&m->acts, n) : NULL;
    if (d_x && !d_dropped) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for gradients");
    TRY(lora_backward(&m->acts, d_dropped, dy, m->fw.layers[l].lora_ax[which], dropped, p, p->scaling, m->fw.N));
    if (!d_x) return ADAPT_OK;
    dropout_backward(d_dropped, n, (float)s->cfg.dropout, dropout_key(m->fw.drop_seed, DROP_SITE_LORA(l, which)));
    for (size_t i = 0; i < n; i++) d_x[i] += d_dropped[i];
    return ADAPT_OK;
}

/* DoRA's part ((IA)^3's too), before the layer's own backward: m's gradient, and dy turned into c dy (in place:
 * the layer's and the LoRA's backward then take it). The bias's gradient needs the unscaled dy,
 * which is gone: training the bias alongside is refused, and W with it, for simplicity. */
static adapt_status rescale_branch_backward(adapt_model *m, int l, lora_linear which, float *dy, const float *x)
{
    const lora_pair *p = lora_active_pair(m, l, which);
    const lora_state *s = m->lora;
    if (!p || (s->cfg.ia3 && p->scales_input)) return ADAPT_OK; /* an input scale: linear_backward_scaled's */
    if (s->cfg.ia3) { /* (IA)^3 likewise: l's gradient, and dy *= s l for the layer's backward (its bias inside the scaling) */
        ia3_backward(p, p->scaling, dy, m->fw.layers[l].lora_ax[which], m->fw.N);
        return ADAPT_OK;
    }
    if (!s->cfg.use_dora) return ADAPT_OK;
    const param *W = linear_weight(&m->layers[l], which), *b = linear_bias(&m->layers[l], which);
    if (W->grad || b->grad)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "DoRA LoRA \"%s\": training layer %d's %s itself alongside its DoRA is not supported",
                          s->name, l, lora_module_names[which]);
    return dora_backward(&m->acts, W, p, p->scaling, dy, x, m->fw.layers[l].lora_ax[which], m->fw.N);
}

/* A linear layer's backward. Where an (IA)^3 scales its input (PEFT's feedforward modules) the
 * layer's input gradient is taken at x * s l (kept by forward), then gives l's gradient and d_x's part. */
static adapt_status linear_backward_scaled(adapt_model *m, int l, lora_linear which, float *d_x, const float *dy, const float *x,
                                           const param *W, const param *b, int in, int out)
{
    const lora_pair *p = lora_active_pair(m, l, which);
    int N = m->fw.N;
    if (!p || !p->scales_input) {
        model_linear_backward(m, d_x, dy, x, W, b, N, in, out);
        return ADAPT_OK;
    }
    float *d_xs = arena_floats(&m->acts, (size_t)N * in);
    if (!d_xs) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for gradients");
    model_linear_backward(m, d_xs, dy, m->fw.layers[l].lora_ax[which], W, b, N, in, out);
    ia3_input_backward(p, p->scaling, d_x, d_xs, x, N);
    return ADAPT_OK;
}

static bool layer_has_attention_lora(const adapt_model *m, int l)
{
    const lora_state *s = m->lora;
    return s && !s->merged && (s->has[l][LIN_QUERY] || s->has[l][LIN_KEY] || s->has[l][LIN_VALUE] || s->has[l][LIN_ATTN_OUT]);
}

static bool layer_has_ffn_lora(const adapt_model *m, int l)
{
    const lora_state *s = m->lora;
    return s && !s->merged && (s->has[l][LIN_INTER] || s->has[l][LIN_OUT]);
}

static adapt_status layer_backward(adapt_model *m, int l, float *d_out, float *d_x, bool need_d_x)
{
    const model_config *c = &m->cfg;
    const forward_state *fw = &m->fw;
    const encoder_layer *L = &m->layers[l];
    const layer_cache *lc = &fw->layers[l];
    int N = fw->N, H = c->hidden, I = c->intermediate;
    size_t NH = (size_t)N * H;
    const float *x = fw->hidden[l];
    float *d_ffn_dense = arena_floats(&m->acts, NH), *d_a = arena_floats(&m->acts, NH);
    /* The activation's backward is elementwise, so d_ffn_pre overwrites d_ffn_act in place. */
    float *d_ffn_act = arena_floats(&m->acts, (size_t)N * I), *d_ffn_pre = d_ffn_act;
    float *d_attn_dense = arena_floats(&m->acts, NH), *d_ctx = arena_floats(&m->acts, NH);
    float *dq = arena_floats(&m->acts, NH), *dk = arena_floats(&m->acts, NH), *dv = arena_floats(&m->acts, NH);
    if (!d_ffn_dense || !d_a || !d_ffn_act || !d_attn_dense || !d_ctx || !dq || !dk || !dv)
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for gradients");
    TRY(adapter_point_backward(m, l, POINT_OUTPUT, d_ffn_dense, d_a, d_out, lc->out_point));
    bool need_attention = need_d_x || L->q_w->grad || L->k_w->grad || L->v_w->grad || L->q_b->grad || L->k_b->grad ||
                          L->v_b->grad || L->attn_out_w->grad || L->attn_out_b->grad || layer_has_attention_lora(m, l) ||
                          prefix_pass_layer_trained(m, l);
    /* The lowest trainable layer often trains only its output adapter (Pfeiffer): then the FFN's
     * backward GEMMs would compute gradients nobody reads. */
    bool need_ffn = need_attention || L->out_w->grad || L->out_b->grad || L->inter_w->grad || L->inter_b->grad ||
                    layer_has_ffn_lora(m, l) || adapter_point_needs_gradient(m, l, POINT_ATTENTION_OUTPUT, lc->attn_point);
    if (!need_ffn) return ADAPT_OK;
    dropout_backward(d_ffn_dense, NH, fw->p_hidden, dropout_key(fw->drop_seed, DROP_SITE_FFN_OUT(l)));
    TRY(rescale_branch_backward(m, l, LIN_OUT, d_ffn_dense, lc->ffn_act));
    TRY(linear_backward_scaled(m, l, LIN_OUT, d_ffn_act, d_ffn_dense, lc->ffn_act, L->out_w, L->out_b, I, H));
    TRY(lora_branch_backward(m, l, LIN_OUT, d_ffn_act, d_ffn_dense, lc->ffn_act));
    activation_backward_in_place(d_ffn_pre, lc->ffn_pre, (size_t)N * I, c->hidden_act);
    TRY(rescale_branch_backward(m, l, LIN_INTER, d_ffn_pre, lc->attn_out));
    TRY(linear_backward_scaled(m, l, LIN_INTER, d_a, d_ffn_pre, lc->attn_out, L->inter_w, L->inter_b, H, I));
    TRY(lora_branch_backward(m, l, LIN_INTER, d_a, d_ffn_pre, lc->attn_out));
    TRY(adapter_point_backward(m, l, POINT_ATTENTION_OUTPUT, d_attn_dense, d_x, d_a, lc->attn_point));
    if (!need_attention) return ADAPT_OK;
    dropout_backward(d_attn_dense, NH, fw->p_hidden, dropout_key(fw->drop_seed, DROP_SITE_ATTN_OUT(l)));
    TRY(rescale_branch_backward(m, l, LIN_ATTN_OUT, d_attn_dense, lc->ctx));
    TRY(linear_backward_scaled(m, l, LIN_ATTN_OUT, d_ctx, d_attn_dense, lc->ctx, L->attn_out_w, L->attn_out_b, H, H));
    TRY(lora_branch_backward(m, l, LIN_ATTN_OUT, d_ctx, d_attn_dense, lc->ctx));
    const attention_prefix *const *prefix;
    TRY(prefix_pass_layer_backward(m, l, &prefix));
    attention_backward(dq, dk, dv, d_ctx, lc->q, lc->k, lc->v, fw->mask, fw->B, fw->T, c->heads, H / c->heads, prefix,
                       fw->p_attn, dropout_key(fw->drop_seed, DROP_SITE_PROBS(l)));
    prefix_pass_layer_grads(m, l);
    float *dxi = need_d_x ? d_x : NULL;
    TRY(rescale_branch_backward(m, l, LIN_QUERY, dq, x));
    TRY(rescale_branch_backward(m, l, LIN_KEY, dk, x));
    TRY(rescale_branch_backward(m, l, LIN_VALUE, dv, x));
    TRY(linear_backward_scaled(m, l, LIN_QUERY, dxi, dq, x, L->q_w, L->q_b, H, H));
    TRY(linear_backward_scaled(m, l, LIN_KEY, dxi, dk, x, L->k_w, L->k_b, H, H));
    TRY(linear_backward_scaled(m, l, LIN_VALUE, dxi, dv, x, L->v_w, L->v_b, H, H));
    TRY(lora_branch_backward(m, l, LIN_QUERY, dxi, dq, x));
    TRY(lora_branch_backward(m, l, LIN_KEY, dxi, dk, x));
    TRY(lora_branch_backward(m, l, LIN_VALUE, dxi, dv, x));
    return ADAPT_OK;
}

/* Embedding LayerNorm and the (sparse) embedding tables. */
static adapt_status embeddings_backward_all(adapt_model *m, float *d_h0)
{
    forward_state *fw = &m->fw;
    int N = fw->N, H = m->cfg.hidden;
    float *d_sum = arena_floats(&m->acts, (size_t)N * H);
    if (!d_sum) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for gradients");
    if (fw->inv_cache) {
        float *d_ln = arena_floats(&m->acts, (size_t)N * H);
        if (!d_ln) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for gradients");
        nice_backward(&m->acts, d_ln, d_h0, fw->inv_cache, &setup_invertible(m)->inv, N);
        d_h0 = d_ln;
    }
    bool embeddings_frozen = !m->emb_ln_w->grad && !m->emb_ln_b->grad && !m->word->grad && !m->pos->grad &&
                             !(m->type && m->type->grad) && !lora_embedding_trainable(m);
    if (embeddings_frozen) return ADAPT_OK;
    dropout_backward(d_h0, (size_t)N * H, fw->p_hidden, dropout_key(fw->drop_seed, DROP_SITE_EMB));
    layernorm_backward(d_sum, m->emb_ln_w->grad, m->emb_ln_b->grad, d_h0, fw->emb_sum, fw->emb_mean, fw->emb_rstd,
                       m->emb_ln_w->data, N, H);
    embeddings_backward(m->word->grad, m->pos->grad, m->type ? m->type->grad : NULL, d_sum, fw->ids, fw->pos_ids,
                        fw->type_ids, N, H);
    lora_embedding_backward(m, d_sum);
    return ADAPT_OK;
}

adapt_status model_backward(adapt_model *m, float *d_last)
{
    const model_config *c = &m->cfg;
    forward_state *fw = &m->fw;
    int N = fw->N, H = c->hidden;
    if (fw->no_grad) return adapt_fail(ADAPT_ERR_ARG, "model_backward after model_forward_inference: that pass kept no activations");
    int lowest = lowest_trainable_layer(m), prefix_lowest = prefix_pass_lowest_trained_layer(m);
    if (prefix_lowest != -2 && (lowest == -2 || prefix_lowest < lowest)) lowest = prefix_lowest;
    if (lowest == -2) return ADAPT_OK;
    float *d_out = d_last;
    for (int l = c->layers - 1; l >= (lowest < 0 ? 0 : lowest); l--) {
        float *d_x = arena_floats(&m->acts, (size_t)N * H);
        if (!d_x) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for gradients");
        /* d_x is needed below this layer, and also here: the residual path of the attention point
         * feeds the layer input even when only the lower layers train. */
        /* The layer's scratch gradients are dead once d_x is out: one region serves every layer. */
        arena_mark_t mark = arena_mark(&m->acts);
        TRY(layer_backward(m, l, d_out, d_x, l > lowest));
        arena_release(&m->acts, mark);
        d_out = d_x;
    }
    TRY(prefix_pass_backward(m));
    if (lowest >= 0) return ADAPT_OK;
    return embeddings_backward_all(m, d_out);
}
