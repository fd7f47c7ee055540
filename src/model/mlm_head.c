/* The checkpoint's pretrained masked-LM head: dense -> activation -> LayerNorm -> decoder (tied to
 * the word embeddings unless the checkpoint stores its own) + bias. */
#include "core/error.h"
#include "model/layers.h"
#include "model/model.h"

adapt_status model_mlm_forward(adapt_model *m, float *logits)
{
    const model_config *c = &m->cfg;
    const mlm_head *h = &m->mlm;
    if (!h->dense_w) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "the checkpoint has no masked-LM head");
    forward_state *fw = &m->fw;
    int N = fw->N, H = c->hidden, V = c->vocab;
    float *pre = arena_floats(&m->acts, (size_t)N * H), *act = arena_floats(&m->acts, (size_t)N * H);
    float *t = arena_floats(&m->acts, (size_t)N * H);
    float *mean = arena_floats(&m->acts, N), *rstd = arena_floats(&m->acts, N);
    if (!pre || !act || !t || !mean || !rstd) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
    linear_forward(pre, fw->hidden[c->layers], h->dense_w->data, h->dense_b->data, N, H, H);
    activation_forward(act, pre, (size_t)N * H, h->act);
    layernorm_forward(t, mean, rstd, act, h->ln_w->data, h->ln_b->data, N, H, c->layer_norm_eps);
    const float *decoder = h->decoder ? h->decoder->data : m->word->data;
    linear_forward(logits, t, decoder, h->bias->data, N, H, V);
    return ADAPT_OK;
}

adapt_status adapt_model_mlm_logits(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask,
                                    const int32_t *type_ids, float *logits)
{
    TRY(model_forward(m, B, T, ids, mask, type_ids));
    return model_mlm_forward(m, logits);
}
