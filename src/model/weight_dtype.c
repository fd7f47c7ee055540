/* Weight-only bf16 (adapt_weight_dtype in adapt.h): the encoder's frozen linear weights held as
 * bf16 and widened to fp32 right before each GEMM. On CPUs without AMX a bf16 GEMM runs at about
 * 0.6x of sgemm (docs/performance.md), so the GEMMs stay sgemm: what bf16 buys here is memory. */
#include "adapters/lora.h"
#include "core/error.h"
#include "model/layers.h"
#include "model/model.h"
#include <stdlib.h>

static void layer_linear_weights(adapt_model *m, int l, param *w[6])
{
    const encoder_layer *L = &m->layers[l];
    w[0] = L->q_w, w[1] = L->k_w, w[2] = L->v_w, w[3] = L->attn_out_w, w[4] = L->inter_w, w[5] = L->out_w;
}

/* One buffer the size of the largest linear weight serves every GEMM of a pass, one at a time. */
static adapt_status ensure_scratch(adapt_model *m)
{
    if (m->weight_scratch) return ADAPT_OK;
    size_t H = (size_t)m->cfg.hidden, I = (size_t)m->cfg.intermediate;
    m->weight_scratch = alloc_floats(H * (I > H ? I : H));
    return m->weight_scratch ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory for the bf16 weights' fp32 scratch");
}

adapt_status adapt_model_set_weight_dtype(adapt_model *m, adapt_weight_dtype dtype)
{
    if (dtype != ADAPT_WEIGHTS_FP32 && dtype != ADAPT_WEIGHTS_BF16)
        return adapt_fail(ADAPT_ERR_ARG, "weight dtype %d is neither fp32 nor bf16", (int)dtype);
    bool bf16 = dtype == ADAPT_WEIGHTS_BF16;
    if (bf16 && m->lora && m->lora->merged)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "the LoRA weights are merged into the base: unmerge them before holding the weights as bf16");
    for (int i = 0; bf16 && i < m->n_loras; i++) /* their values are swapped in and out of the encoder's tensors */
        if (lora_encoder_module(m, m->loras[i]))
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "LoRA \"%s\" replaces the encoder's \"%s\" (modules_to_save): the weights "
                              "stay fp32 while it is loaded", m->loras[i]->name, lora_encoder_module(m, m->loras[i]));
        else if (m->loras[i]->cfg.use_dora)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "DoRA LoRA \"%s\" takes norms of the fp32 weights: they stay fp32 while it is loaded",
                              m->loras[i]->name);
    for (int l = 0; bf16 && l < m->cfg.layers; l++) { /* refuse before changing anything */
        param *w[6];
        layer_linear_weights(m, l, w);
        for (int k = 0; k < 6; k++)
            if (w[k]->trainable)
                return adapt_fail(ADAPT_ERR_UNSUPPORTED, "\"%s\" is trainable: weight-only bf16 holds frozen weights only", w[k]->name);
    }
    if (bf16) TRY(ensure_scratch(m));
    for (int l = 0; l < m->cfg.layers; l++) {
        param *w[6];
        layer_linear_weights(m, l, w);
        for (int k = 0; k < 6; k++) TRY(bf16 ? param_hold_bf16(w[k]) : param_hold_fp32(w[k]));
    }
    if (!bf16) {
        free(m->weight_scratch);
        m->weight_scratch = NULL;
    }
    m->weight_dtype = dtype;
    return ADAPT_OK;
}

void model_linear_forward(adapt_model *m, float *out, const float *in, const param *W, const param *b, int N, int in_dim,
                          int out_dim)
{
    if (W->bf16) linear_forward_bf16(out, in, W->bf16, m->weight_scratch, b->data, N, in_dim, out_dim);
    else linear_forward(out, in, W->data, b->data, N, in_dim, out_dim);
}

void model_linear_backward(adapt_model *m, float *d_in, const float *d_out, const float *in, const param *W, const param *b,
                           int N, int in_dim, int out_dim)
{
    if (W->bf16) linear_backward_bf16(d_in, b->grad, d_out, W->bf16, m->weight_scratch, N, in_dim, out_dim);
    else linear_backward(d_in, W->grad, b->grad, d_out, in, W->data, N, in_dim, out_dim);
}
