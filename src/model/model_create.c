/* Creates the parameter tensors of an encoder under Hugging Face names. */
#include "adapters/lora.h"
#include "adapters/setup.h"
#include "core/error.h"
#include "model/model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static adapt_status add_as(adapt_model *m, param **out, const char *suffix_fmt, int layer, int ndim, int64_t d0, int64_t d1,
                           bool bf16)
{
    char name[256], suffix[200];
    snprintf(suffix, sizeof suffix, suffix_fmt, layer);
    if (!strncmp(suffix, "cls.", 4) || !strncmp(suffix, "lm_head", 7) || !strncmp(suffix, "classifier", 10))
        snprintf(name, sizeof name, "%s", suffix);
    else
        snprintf(name, sizeof name, "%s.%s", m->prefix, suffix);
    int64_t shape[2] = {d0, d1};
    return (bf16 ? store_add_bf16 : store_add)(&m->store, name, ndim, shape, out);
}

static adapt_status add(adapt_model *m, param **out, const char *suffix_fmt, int layer, int ndim, int64_t d0, int64_t d1)
{
    return add_as(m, out, suffix_fmt, layer, ndim, d0, d1, false);
}

/* An encoder linear weight: held as the model's weight dtype from the start, so that a bf16
 * model never allocates (and touches) their fp32 copies. */
static adapt_status add_linear(adapt_model *m, param **out, const char *suffix_fmt, int layer, int64_t d0, int64_t d1)
{
    return add_as(m, out, suffix_fmt, layer, 2, d0, d1, m->weight_dtype == ADAPT_WEIGHTS_BF16);
}

static adapt_status create_tensors(adapt_model *m)
{
    const model_config *c = &m->cfg;
    int H = c->hidden, I = c->intermediate;
    TRY(add(m, &m->word, "embeddings.word_embeddings.weight", 0, 2, c->vocab, H));
    TRY(add(m, &m->pos, "embeddings.position_embeddings.weight", 0, 2, c->max_positions, H));
    if (c->type_vocab > 0) TRY(add(m, &m->type, "embeddings.token_type_embeddings.weight", 0, 2, c->type_vocab, H));
    TRY(add(m, &m->emb_ln_w, "embeddings.LayerNorm.weight", 0, 1, H, 0));
    TRY(add(m, &m->emb_ln_b, "embeddings.LayerNorm.bias", 0, 1, H, 0));
    for (int l = 0; l < c->layers; l++) {
        encoder_layer *L = &m->layers[l];
        TRY(add_linear(m, &L->q_w, "encoder.layer.%d.attention.self.query.weight", l, H, H));
        TRY(add(m, &L->q_b, "encoder.layer.%d.attention.self.query.bias", l, 1, H, 0));
        TRY(add_linear(m, &L->k_w, "encoder.layer.%d.attention.self.key.weight", l, H, H));
        TRY(add(m, &L->k_b, "encoder.layer.%d.attention.self.key.bias", l, 1, H, 0));
        TRY(add_linear(m, &L->v_w, "encoder.layer.%d.attention.self.value.weight", l, H, H));
        TRY(add(m, &L->v_b, "encoder.layer.%d.attention.self.value.bias", l, 1, H, 0));
        TRY(add_linear(m, &L->attn_out_w, "encoder.layer.%d.attention.output.dense.weight", l, H, H));
        TRY(add(m, &L->attn_out_b, "encoder.layer.%d.attention.output.dense.bias", l, 1, H, 0));
        TRY(add(m, &L->attn_ln_w, "encoder.layer.%d.attention.output.LayerNorm.weight", l, 1, H, 0));
        TRY(add(m, &L->attn_ln_b, "encoder.layer.%d.attention.output.LayerNorm.bias", l, 1, H, 0));
        TRY(add_linear(m, &L->inter_w, "encoder.layer.%d.intermediate.dense.weight", l, I, H));
        TRY(add(m, &L->inter_b, "encoder.layer.%d.intermediate.dense.bias", l, 1, I, 0));
        TRY(add_linear(m, &L->out_w, "encoder.layer.%d.output.dense.weight", l, H, I));
        TRY(add(m, &L->out_b, "encoder.layer.%d.output.dense.bias", l, 1, H, 0));
        TRY(add(m, &L->out_ln_w, "encoder.layer.%d.output.LayerNorm.weight", l, 1, H, 0));
        TRY(add(m, &L->out_ln_b, "encoder.layer.%d.output.LayerNorm.bias", l, 1, H, 0));
    }
    return ADAPT_OK;
}

/* The MLM head is created separately: a checkpoint may or may not carry it. */
adapt_status model_add_mlm_head(adapt_model *m, bool untied_decoder)
{
    const model_config *c = &m->cfg;
    int H = c->hidden;
    mlm_head *h = &m->mlm;
    bool bert = c->family == FAMILY_BERT;
    h->act = bert ? c->hidden_act : ACT_GELU;
    TRY(add(m, &h->dense_w, bert ? "cls.predictions.transform.dense.weight" : "lm_head.dense.weight", 0, 2, H, H));
    TRY(add(m, &h->dense_b, bert ? "cls.predictions.transform.dense.bias" : "lm_head.dense.bias", 0, 1, H, 0));
    TRY(add(m, &h->ln_w, bert ? "cls.predictions.transform.LayerNorm.weight" : "lm_head.layer_norm.weight", 0, 1, H, 0));
    TRY(add(m, &h->ln_b, bert ? "cls.predictions.transform.LayerNorm.bias" : "lm_head.layer_norm.bias", 0, 1, H, 0));
    TRY(add(m, &h->bias, bert ? "cls.predictions.bias" : "lm_head.bias", 0, 1, c->vocab, 0));
    if (untied_decoder)
        TRY(add(m, &h->decoder, bert ? "cls.predictions.decoder.weight" : "lm_head.decoder.weight", 0, 2, c->vocab, H));
    return ADAPT_OK;
}

adapt_status model_add_pooler(adapt_model *m)
{
    int H = m->cfg.hidden;
    TRY(add(m, &m->pooler_w, "pooler.dense.weight", 0, 2, H, H));
    return add(m, &m->pooler_b, "pooler.dense.bias", 0, 1, H, 0);
}

adapt_status model_create(const model_config *cfg, adapt_model **out)
{
    return model_create_dtype(cfg, ADAPT_WEIGHTS_FP32, out);
}

adapt_status model_create_dtype(const model_config *cfg, adapt_weight_dtype dtype, adapt_model **out)
{
    *out = NULL;
    if (dtype != ADAPT_WEIGHTS_FP32 && dtype != ADAPT_WEIGHTS_BF16)
        return adapt_fail(ADAPT_ERR_ARG, "weight dtype %d is neither fp32 nor bf16", (int)dtype);
    adapt_model *m = calloc(1, sizeof *m);
    if (!m) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory creating the model");
    m->cfg = *cfg;
    m->cfg.id2label = NULL; /* ownership of the labels moves only on success, below */
    m->cfg.num_labels = 0;
    snprintf(m->prefix, sizeof m->prefix, "%s", cfg->family == FAMILY_BERT ? "bert" : "roberta");
    store_init(&m->store);
    arena_init(&m->acts);
    m->weight_dtype = dtype;
    m->layers = calloc((size_t)(cfg->layers ? cfg->layers : 1), sizeof *m->layers);
    adapt_status s = m->layers ? create_tensors(m) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory creating the model");
    if (!s && dtype == ADAPT_WEIGHTS_BF16) s = adapt_model_set_weight_dtype(m, dtype); /* the scratch; nothing to convert */
    if (s) {
        adapt_model_free(m);
        return s;
    }
    *out = m;
    return ADAPT_OK;
}

void adapt_model_free(adapt_model *m)
{
    if (!m) return;
    setup_free(m->setup);
    lora_free_all(m);
    store_free(&m->store);
    arena_free(&m->acts);
    hf_config_free(&m->cfg);
    free(m->layers);
    free(m->weight_scratch);
    free(m);
}
