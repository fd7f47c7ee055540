/* The checkpoint's pretrained masked-LM head: dense -> activation -> LayerNorm -> decoder (tied to
 * the word embeddings unless the checkpoint stores its own) + bias. */
#include "adapters/setup.h"
#include "core/error.h"
#include "model/layers.h"
#include "model/model.h"
#include <string.h>

adapt_status model_mlm_forward(adapt_model *m, float *logits) { return model_mlm_forward_rows(m, NULL, m->fw.N, logits); }

adapt_status model_mlm_forward_rows(adapt_model *m, const int32_t *rows, int N, float *logits)
{
    const model_config *c = &m->cfg;
    const mlm_head *h = &m->mlm;
    if (!h->dense_w) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "the checkpoint has no masked-LM head");
    forward_state *fw = &m->fw;
    int H = c->hidden, V = c->vocab;
    const float *last = fw->hidden[c->layers];
    fw->mlm_rows = rows;
    fw->mlm_n = N;
    fw->mlm_in = (float *)last;
    if (rows) {
        fw->mlm_in = arena_floats(&m->acts, (size_t)N * H);
        if (!fw->mlm_in) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
        for (int i = 0; i < N; i++) {
            if (rows[i] < 0 || rows[i] >= fw->N) return adapt_fail(ADAPT_ERR_ARG, "MLM row %d outside the batch", rows[i]);
            memcpy(fw->mlm_in + (size_t)i * H, last + (size_t)rows[i] * H, (size_t)H * sizeof(float));
        }
    }
    fw->mlm_pre = arena_floats(&m->acts, (size_t)N * H);
    fw->mlm_act = arena_floats(&m->acts, (size_t)N * H);
    fw->mlm_t = arena_floats(&m->acts, (size_t)N * H);
    fw->mlm_mean = arena_floats(&m->acts, N);
    fw->mlm_rstd = arena_floats(&m->acts, N);
    if (!fw->mlm_pre || !fw->mlm_act || !fw->mlm_t || !fw->mlm_mean || !fw->mlm_rstd)
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
    linear_forward(fw->mlm_pre, fw->mlm_in, h->dense_w->data, h->dense_b->data, N, H, H);
    activation_forward(fw->mlm_act, fw->mlm_pre, (size_t)N * H, h->act);
    layernorm_forward(fw->mlm_t, fw->mlm_mean, fw->mlm_rstd, fw->mlm_act, h->ln_w->data, h->ln_b->data, N, H, c->layer_norm_eps);
    fw->mlm_dec_in = fw->mlm_t;
    fw->mlm_inv_cache = NULL;
    const adapter_def *inv = setup_invertible(m);
    if (inv) { /* MAD-X: the inverse of the embedding-side invertible adapter before the tied decoder */
        nice_cache *nc = arena_alloc(&m->acts, sizeof *nc);
        fw->mlm_dec_in = arena_floats(&m->acts, (size_t)N * H);
        if (!nc || !fw->mlm_dec_in) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
        nice_forward(&m->acts, nc, fw->mlm_dec_in, fw->mlm_t, &inv->inv, true, N);
        fw->mlm_inv_cache = nc;
    }
    const float *decoder = h->decoder ? h->decoder->data : m->word->data;
    linear_forward(logits, fw->mlm_dec_in, decoder, h->bias->data, N, H, V);
    return ADAPT_OK;
}

adapt_status model_mlm_backward(adapt_model *m, const float *d_logits, float *d_hidden)
{
    const model_config *c = &m->cfg;
    const mlm_head *h = &m->mlm;
    forward_state *fw = &m->fw;
    int N = fw->mlm_n, H = c->hidden, V = c->vocab;
    float *d_t = arena_floats(&m->acts, (size_t)N * H), *d_act = arena_floats(&m->acts, (size_t)N * H);
    float *d_pre = arena_floats(&m->acts, (size_t)N * H);
    if (!d_t || !d_act || !d_pre) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
    param *decoder = h->decoder ? h->decoder : m->word;
    if (fw->mlm_inv_cache) {
        float *d_dec_in = arena_floats(&m->acts, (size_t)N * H);
        if (!d_dec_in) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
        linear_backward(d_dec_in, decoder->grad, h->bias->grad, d_logits, fw->mlm_dec_in, decoder->data, N, H, V);
        nice_backward(&m->acts, d_t, d_dec_in, fw->mlm_inv_cache, &setup_invertible(m)->inv, N);
    } else {
        linear_backward(d_t, decoder->grad, h->bias->grad, d_logits, fw->mlm_dec_in, decoder->data, N, H, V);
    }
    layernorm_backward(d_act, h->ln_w->grad, h->ln_b->grad, d_t, fw->mlm_act, fw->mlm_mean, fw->mlm_rstd, h->ln_w->data, N, H);
    activation_backward(d_pre, d_act, fw->mlm_pre, (size_t)N * H, h->act);
    if (!fw->mlm_rows) {
        linear_backward(d_hidden, h->dense_w->grad, h->dense_b->grad, d_pre, fw->mlm_in, h->dense_w->data, N, H, H);
        return ADAPT_OK;
    }
    float *d_in = arena_floats(&m->acts, (size_t)N * H);
    if (!d_in) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
    linear_backward(d_in, h->dense_w->grad, h->dense_b->grad, d_pre, fw->mlm_in, h->dense_w->data, N, H, H);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < H; j++) d_hidden[(size_t)fw->mlm_rows[i] * H + j] += d_in[(size_t)i * H + j];
    return ADAPT_OK;
}

adapt_status adapt_model_mlm_logits(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask,
                                    const int32_t *type_ids, float *logits)
{
    TRY(model_forward_inference(m, B, T, ids, mask, type_ids));
    return model_mlm_forward(m, logits);
}
