/* The encoder forward pass: embeddings, then L post-LN layers (self-attention sublayer, FFN
 * sublayer), each ending in an adapter point. Activations live in the model's arena. */
#include "adapters/compose.h"
#include "adapters/lora.h"
#include "adapters/prefix_setup.h"
#include "adapters/setup.h"
#include "core/error.h"
#include "model/layers.h"
#include <string.h>

static adapt_status validate_batch(const adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask,
                                   const int32_t *type_ids)
{
    const model_config *c = &m->cfg;
    if (!ids) return adapt_fail(ADAPT_ERR_ARG, "no input ids");
    if (B <= 0 || T <= 0 || (int64_t)B * T > (1 << 24)) return adapt_fail(ADAPT_ERR_ARG, "batch %d x %d is out of range", B, T);
    for (int i = 0; i < B * T; i++) {
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return adapt_fail(ADAPT_ERR_ARG, "input id %d at position %d is outside the vocabulary (%d)", ids[i], i, c->vocab);
        if (mask && mask[i] != 0 && mask[i] != 1) return adapt_fail(ADAPT_ERR_ARG, "attention mask value %d is not 0 or 1", mask[i]);
        if (type_ids && (type_ids[i] < 0 || type_ids[i] >= (c->type_vocab ? c->type_vocab : 1)))
            return adapt_fail(ADAPT_ERR_ARG, "token type id %d is outside [0, %d)", type_ids[i], c->type_vocab);
    }
    return ADAPT_OK;
}

adapt_status model_position_ids(const model_config *c, int B, int T, const int32_t *ids, int32_t *pos)
{
    for (int b = 0; b < B; b++) {
        int count = 0;
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            if (c->family == FAMILY_BERT) pos[i] = t;
            else pos[i] = ids[i] != c->pad_id ? c->pad_id + ++count : c->pad_id;
            if (pos[i] >= c->max_positions)
                return adapt_fail(ADAPT_ERR_ARG, "sequence too long: position %d needs more than max_position_embeddings %d",
                                  pos[i], c->max_positions);
        }
    }
    return ADAPT_OK;
}

#define ALLOC(ptr, n)                                                                          \
    do {                                                                                       \
        if (!((ptr) = arena_floats(&m->acts, (n)))) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations"); \
    } while (0)

/* The LoRA branch of one linear layer (nothing without LoRA, or once merged into W); in a
 * mixed-LoRA pass each row group through its own LoRA (inference: A x is not kept). */
static adapt_status lora_branch(adapt_model *m, int l, lora_linear which, float *y, const float *x)
{
    if (m->n_lora_routes) {
        size_t row = 0;
        for (int k = 0; k < m->n_lora_routes; k++) {
            const lora_state *s = m->lora_route[k];
            int tokens = m->lora_route_rows[k] * m->fw.T;
            if (s && s->has[l][which] && s->cfg.ia3) {
                const lora_pair *p = &s->pairs[l][which];
                if (!p->scales_input) /* an input scaling acted before the GEMM (lora_input) */
                    TRY(ia3_forward(&m->acts, y + row * (size_t)p->B->shape[0], NULL, p, p->scaling, tokens));
            } else if (s && s->has[l][which]) {
                const lora_pair *p = &s->pairs[l][which];
                float *unused_ax, *rows_y = y + row * (size_t)p->B->shape[0];
                TRY(lora_forward(&m->acts, rows_y, &unused_ax, x + row * (size_t)p->A->shape[1], p, p->scaling, tokens));
                if (s->cfg.use_dora)
                    TRY(dora_rescale(linear_weight(&m->layers[l], which), linear_bias(&m->layers[l], which), p, p->scaling, rows_y, tokens));
            }
            row += (size_t)tokens;
        }
        return ADAPT_OK;
    }
    const lora_pair *p = lora_active_pair(m, l, which);
    const lora_state *s = m->lora;
    if (!p) return ADAPT_OK;
    if (s->cfg.ia3 && p->scales_input) return ADAPT_OK; /* it acted before the GEMM (lora_input) */
    if (s->cfg.ia3) /* the rows before scaling are kept where LoRA keeps A x */
        return ia3_forward(&m->acts, y, m->fw.no_grad ? NULL : &m->fw.layers[l].lora_ax[which], p, p->scaling, m->fw.N);
    float *dropped = NULL; /* PEFT's lora_dropout: the branch sees dropout(x) while training */
    if (m->training && s->cfg.dropout > 0) {
        if (s->cfg.use_dora) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "DoRA \"%s\" with lora_dropout: training it is not supported", s->name);
        size_t n = (size_t)m->fw.N * p->A->shape[1];
        if (!(dropped = arena_floats_raw(&m->acts, n))) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for LoRA activations");
        memcpy(dropped, x, n * sizeof(float));
        dropout_forward(dropped, n, (float)s->cfg.dropout, dropout_key(m->fw.drop_seed, DROP_SITE_LORA(l, which)));
        x = dropped;
    }
    if (!m->fw.no_grad) m->fw.layers[l].lora_x[which] = dropped;
    TRY(lora_forward(&m->acts, y, &m->fw.layers[l].lora_ax[which], x, p, p->scaling, m->fw.N));
    if (!s->cfg.use_dora) return ADAPT_OK;
    return dora_rescale(linear_weight(&m->layers[l], which), linear_bias(&m->layers[l], which), p, p->scaling, y, m->fw.N);
}

static const lora_pair *input_scaling(const lora_state *s, int l, lora_linear which)
{
    return s && s->has[l][which] && s->pairs[l][which].scales_input ? &s->pairs[l][which] : NULL;
}

/* The input a linear layer's GEMM takes: x, or x times s l per column where an (IA)^3 of PEFT's
 * feedforward modules scales it (each row group by its own in a mixed-LoRA pass); training keeps
 * it where LoRA keeps A x (the layer's weight gradient takes it). */
static adapt_status lora_input(adapt_model *m, int l, lora_linear which, const float *x, int in, const float **used)
{
    *used = x;
    bool routed = m->n_lora_routes > 0, any = false;
    for (int k = 0; routed && k < m->n_lora_routes; k++) any |= input_scaling(m->lora_route[k], l, which) != NULL;
    const lora_pair *p = routed ? NULL : lora_active_pair(m, l, which);
    if (p && !p->scales_input) p = NULL;
    if (!any && !p) return ADAPT_OK;
    float *xs = arena_floats_raw(&m->acts, (size_t)m->fw.N * in);
    if (!xs) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for (IA)^3 activations");
    if (p) ia3_scale_input(xs, x, p, p->scaling, m->fw.N);
    if (p && !m->fw.no_grad) m->fw.layers[l].lora_ax[which] = xs;
    for (int k = 0, row = 0; routed && k < m->n_lora_routes; row += m->lora_route_rows[k] * m->fw.T, k++) {
        const lora_pair *q = input_scaling(m->lora_route[k], l, which);
        int tokens = m->lora_route_rows[k] * m->fw.T;
        if (q) ia3_scale_input(xs + (size_t)row * in, x + (size_t)row * in, q, q->scaling, tokens);
        else memcpy(xs + (size_t)row * in, x + (size_t)row * in, (size_t)tokens * in * sizeof(float));
    }
    *used = xs;
    return ADAPT_OK;
}

/* Forward buffers that no backward reads live in one scratch per pass instead of one per layer:
 * the dense outputs before their adapter point (the point keeps what it needs), the attention
 * context when the output projection is frozen, the FFN activation when the FFN's output
 * projection is frozen (their input gradients need only the weights). */
#define ALLOC_RAW(ptr, n)                                                                      \
    do {                                                                                       \
        if (!((ptr) = arena_floats_raw(&m->acts, (n)))) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations"); \
    } while (0)

static bool lora_on(const adapt_model *m, int l, lora_linear which) { return lora_active_pair(m, l, which) != NULL; }

/* *out: the layer's output, in `dest` (optional) where its last operation can write it there. */
static adapt_status layer_forward(adapt_model *m, int l, const float *x, float *dest, float **out)
{
    const model_config *c = &m->cfg;
    forward_state *fw = &m->fw;
    encoder_layer *L = &m->layers[l];
    layer_cache *lc = &fw->layers[l];
    int N = fw->N, H = c->hidden, I = c->intermediate;
    size_t NH = (size_t)N * H;
    if (fw->no_grad) { /* nothing is kept for backward: every layer reuses one set of buffers */
        const layer_cache *shared = &fw->inference_scratch;
        lc->q = shared->q, lc->k = shared->k, lc->v = shared->v, lc->ctx = shared->ctx;
    } else {
        ALLOC_RAW(lc->q, NH); ALLOC_RAW(lc->k, NH); ALLOC_RAW(lc->v, NH);
        if (L->attn_out_w->grad || lora_on(m, l, LIN_ATTN_OUT)) ALLOC_RAW(lc->ctx, NH);
        else lc->ctx = fw->scratch_nh[0];
    }
    lc->attn_dense = fw->scratch_nh[1];
    const float *xq, *xk, *xv, *x_attn_out, *x_inter, *x_out;
    TRY(lora_input(m, l, LIN_QUERY, x, H, &xq));
    TRY(lora_input(m, l, LIN_KEY, x, H, &xk));
    TRY(lora_input(m, l, LIN_VALUE, x, H, &xv));
    model_linear_forward(m, lc->q, xq, L->q_w, L->q_b, N, H, H);
    model_linear_forward(m, lc->k, xk, L->k_w, L->k_b, N, H, H);
    model_linear_forward(m, lc->v, xv, L->v_w, L->v_b, N, H, H);
    TRY(lora_branch(m, l, LIN_QUERY, lc->q, x));
    TRY(lora_branch(m, l, LIN_KEY, lc->k, x));
    TRY(lora_branch(m, l, LIN_VALUE, lc->v, x));
    const attention_prefix *const *prefix;
    TRY(prefix_pass_layer(m, l, &prefix));
    attention_forward(lc->ctx, lc->q, lc->k, lc->v, fw->mask, fw->B, fw->T, c->heads, H / c->heads, prefix, fw->p_attn,
                      dropout_key(fw->drop_seed, DROP_SITE_PROBS(l)));
    TRY(lora_input(m, l, LIN_ATTN_OUT, lc->ctx, H, &x_attn_out));
    model_linear_forward(m, lc->attn_dense, x_attn_out, L->attn_out_w, L->attn_out_b, N, H, H);
    TRY(lora_branch(m, l, LIN_ATTN_OUT, lc->attn_dense, lc->ctx));
    /* BertSelfOutput: dense, dropout, then the adapter point (add & LayerNorm) */
    dropout_forward(lc->attn_dense, NH, fw->p_hidden, dropout_key(fw->drop_seed, DROP_SITE_ATTN_OUT(l)));
    TRY(adapter_point_forward(m, l, POINT_ATTENTION_OUTPUT, lc->attn_dense, x, NULL, &lc->attn_out, &lc->attn_point));
    const float *a = lc->attn_out;
    if (fw->no_grad) lc->ffn_pre = fw->inference_scratch.ffn_pre;
    else ALLOC_RAW(lc->ffn_pre, (size_t)N * I);
    if (fw->no_grad) lc->ffn_act = lc->ffn_pre; /* nothing reads the pre-activation again: GELU in place */
    else if (L->out_w->grad || lora_on(m, l, LIN_OUT)) ALLOC_RAW(lc->ffn_act, (size_t)N * I);
    else lc->ffn_act = fw->scratch_ni;
    lc->ffn_dense = fw->scratch_nh[1];
    TRY(lora_input(m, l, LIN_INTER, a, H, &x_inter));
    model_linear_forward(m, lc->ffn_pre, x_inter, L->inter_w, L->inter_b, N, H, I);
    TRY(lora_branch(m, l, LIN_INTER, lc->ffn_pre, a));
    activation_forward(lc->ffn_act, lc->ffn_pre, (size_t)N * I, c->hidden_act);
    TRY(lora_input(m, l, LIN_OUT, lc->ffn_act, I, &x_out));
    model_linear_forward(m, lc->ffn_dense, x_out, L->out_w, L->out_b, N, I, H);
    TRY(lora_branch(m, l, LIN_OUT, lc->ffn_dense, lc->ffn_act));
    dropout_forward(lc->ffn_dense, NH, fw->p_hidden, dropout_key(fw->drop_seed, DROP_SITE_FFN_OUT(l)));
    return adapter_point_forward(m, l, POINT_OUTPUT, lc->ffn_dense, a, dest, out, &lc->out_point);
}

/* A mixed batch (adapter_setup's routes): each row group gets the invertible adapter of its own
 * composition's first adapter, or none, on the embedding output (inference: no cache kept). */
static adapt_status routed_invertible_forward(adapt_model *m)
{
    forward_state *fw = &m->fw;
    const adapter_setup *s = m->setup;
    size_t H = (size_t)m->cfg.hidden;
    ALLOC(fw->hidden[0], (size_t)fw->N * H);
    for (int g = 0, row0 = 0; g < s->n_routes; row0 += s->route_rows[g] * fw->T, g++) {
        int rows = s->route_rows[g] * fw->T;
        float *out = fw->hidden[0] + (size_t)row0 * H;
        const float *in = fw->emb_ln_out + (size_t)row0 * H;
        const adapter_def *inv = setup_invertible_of(m, s->route_roots[g]);
        nice_cache *nc = inv ? arena_alloc(&m->acts, sizeof *nc) : NULL;
        if (inv && !nc) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
        if (inv) nice_forward(&m->acts, nc, out, in, &inv->inv, false, rows);
        else memcpy(out, in, (size_t)rows * H * sizeof(float));
    }
    return ADAPT_OK;
}

static adapt_status forward(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask, const int32_t *type_ids,
                            bool allow_parallel, bool no_grad, int *channels_out)
{
    const model_config *c = &m->cfg;
    TRY(validate_batch(m, B, T, ids, mask, type_ids));
    int channels = m->setup ? comp_parallel_channels(m->setup->active) : 1;
    if (channels > 1 && !allow_parallel)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "the active setup has a Parallel block (%d channels): this command handles one "
                                                 "output per sequence (adapt_model_encode_channels gives one per channel)",
                          channels);
    if ((int64_t)B * T * channels > (1 << 24)) return adapt_fail(ADAPT_ERR_ARG, "batch %d x %d x %d channels is out of range", B, T, channels);
    if (channels_out) *channels_out = channels;
    arena_reset(&m->acts);
    forward_state *fw = &m->fw;
    memset(fw, 0, sizeof *fw);
    fw->channels = channels;
    fw->no_grad = no_grad;
    fw->B_in = B;
    fw->B = B * channels;
    fw->T = T;
    fw->N = fw->B * T;
    int N_in = B * T;
    if (m->training) { /* one seed per pass from the model's dropout stream */
        uint64_t z = (m->dropout_rng += 0x9E3779B97F4A7C15ull);
        fw->drop_seed = dropout_key(z, 0x5eedu);
        fw->p_hidden = (float)c->hidden_dropout;
        fw->p_attn = (float)c->attn_dropout;
    }
    int N = fw->N, H = c->hidden;
    /* Integer inputs are kept beside the activations for backward. */
    fw->ids = arena_alloc(&m->acts, N * sizeof(int32_t));
    fw->pos_ids = arena_alloc(&m->acts, N * sizeof(int32_t));
    fw->type_ids = arena_alloc(&m->acts, N * sizeof(int32_t));
    fw->mask = arena_alloc(&m->acts, N * sizeof(int32_t));
    if (!fw->ids || !fw->pos_ids || !fw->type_ids || !fw->mask) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
    for (int i = 0; i < N; i++) { /* channel-major replicas of the caller's batch */
        fw->ids[i] = ids[i % N_in];
        fw->mask[i] = mask ? mask[i % N_in] : 1;
        fw->type_ids[i] = type_ids ? type_ids[i % N_in] : 0;
    }
    TRY(model_position_ids(&m->cfg, fw->B, T, fw->ids, fw->pos_ids));
    TRY(prefix_pass_begin(m)); /* before the embeddings: a PEFT prefix moves the positions */
    TRY(prefix_pass_shift_positions(m));
    fw->hidden = arena_alloc(&m->acts, (size_t)(c->layers + 1) * sizeof(float *));
    fw->layers = arena_alloc(&m->acts, (size_t)(c->layers + 1) * sizeof(layer_cache));
    if (!fw->hidden || !fw->layers) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
    ALLOC(fw->emb_sum, (size_t)N * H); ALLOC(fw->emb_mean, N); ALLOC(fw->emb_rstd, N); ALLOC(fw->emb_ln_out, (size_t)N * H);
    embeddings_forward(fw->emb_sum, fw->ids, fw->pos_ids, fw->type_ids, m->word->data, m->pos->data,
                       m->type ? m->type->data : NULL, N, H);
    lora_embedding_forward(m, fw->emb_sum);
    layernorm_forward(fw->emb_ln_out, fw->emb_mean, fw->emb_rstd, fw->emb_sum, m->emb_ln_w->data, m->emb_ln_b->data, N, H,
                      c->layer_norm_eps);
    /* The embeddings end in dropout; LayerNorm's backward does not need its output, so in place. */
    dropout_forward(fw->emb_ln_out, (size_t)N * H, fw->p_hidden, dropout_key(fw->drop_seed, DROP_SITE_EMB));
    fw->hidden[0] = fw->emb_ln_out;
    const adapter_def *inv = setup_invertible(m);
    if (m->setup && m->setup->n_routes) {
        TRY(routed_invertible_forward(m));
    } else if (inv) { /* MAD-X: the language adapter's invertible adapter on the embedding output */
        nice_cache *nc = arena_alloc(&m->acts, sizeof *nc);
        ALLOC(fw->hidden[0], (size_t)N * H);
        if (!nc) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
        nice_forward(&m->acts, nc, fw->hidden[0], fw->emb_ln_out, &inv->inv, false, N);
        fw->inv_cache = nc;
    }
    size_t NH = (size_t)N * H, NI = (size_t)N * c->intermediate;
    ALLOC_RAW(fw->scratch_nh[0], NH); ALLOC_RAW(fw->scratch_nh[1], NH); ALLOC_RAW(fw->scratch_ni, NI);
    if (!no_grad) {
        for (int l = 0; l < c->layers; l++) TRY(layer_forward(m, l, fw->hidden[l], NULL, &fw->hidden[l + 1]));
        return ADAPT_OK;
    }
    layer_cache *shared = &fw->inference_scratch;
    ALLOC_RAW(shared->q, NH); ALLOC_RAW(shared->k, NH); ALLOC_RAW(shared->v, NH); ALLOC_RAW(shared->ctx, NH);
    ALLOC_RAW(shared->ffn_pre, NI);
    /* Inference: each layer's own allocations (adapter points, LoRA) are dead once its output is
     * in hidden[l + 1] (written there directly, or copied), so one region serves every layer and
     * the pass needs a layer's worth of memory. */
    for (int l = 0; l < c->layers; l++) {
        ALLOC_RAW(fw->hidden[l + 1], NH);
        arena_mark_t mark = arena_mark(&m->acts);
        float *out;
        TRY(layer_forward(m, l, fw->hidden[l], fw->hidden[l + 1], &out));
        if (out != fw->hidden[l + 1]) memcpy(fw->hidden[l + 1], out, NH * sizeof(float));
        arena_release(&m->acts, mark);
        memset(&fw->layers[l], 0, sizeof fw->layers[l]); /* its caches are gone */
    }
    return ADAPT_OK;
}

adapt_status model_forward(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask, const int32_t *type_ids)
{
    return forward(m, B, T, ids, mask, type_ids, false, false, NULL);
}

adapt_status model_forward_inference(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask,
                                     const int32_t *type_ids)
{
    return forward(m, B, T, ids, mask, type_ids, false, true, NULL);
}

adapt_status model_forward_channels(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask,
                                    const int32_t *type_ids, int *channels)
{
    return forward(m, B, T, ids, mask, type_ids, true, false, channels);
}

adapt_status adapt_model_encode(adapt_model *m, int B, int T, const int32_t *ids, const int32_t *mask,
                                const int32_t *type_ids, float *hidden_out, float *all_hidden)
{
    TRY(model_forward_inference(m, B, T, ids, mask, type_ids));
    size_t NH = (size_t)B * T * m->cfg.hidden;
    if (hidden_out) memcpy(hidden_out, m->fw.hidden[m->cfg.layers], NH * sizeof(float));
    for (int l = 0; all_hidden && l <= m->cfg.layers; l++) memcpy(all_hidden + l * NH, m->fw.hidden[l], NH * sizeof(float));
    return ADAPT_OK;
}
