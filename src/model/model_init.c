/* Random initialisation as Hugging Face's BertPreTrainedModel._init_weights does it: linear and
 * embedding weights N(0, initializer_range), biases 0, LayerNorm weight 1 / bias 0; the padding
 * row of the word and position embeddings is zero. */
#include "core/bf16.h"
#include "core/error.h"
#include "core/random.h"
#include "formats/hf_config.h"
#include "model/model.h"
#include <math.h>
#include <string.h>

static double normal(uint64_t *s)
{
    double u[2];
    for (int i = 0; i < 2; i++) u[i] = adapt_rng_uniform(s);
    return sqrt(-2.0 * log(u[0] + 1e-300)) * cos(6.283185307179586 * u[1]);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* A tensor held as bf16 (weight-only bf16) receives the same values rounded. */
static void set(param *p, size_t k, float v)
{
    if (p->bf16) p->bf16[k] = bf16_round(v);
    else p->data[k] = v;
}

void model_init_random(adapt_model *m, double std, uint64_t seed)
{
    uint64_t rng = seed ? seed : 42;
    for (size_t i = 0; i < m->store.count; i++) {
        param *p = m->store.items[i];
        bool norm = strstr(p->name, "LayerNorm") || strstr(p->name, "layer_norm");
        if (norm && ends_with(p->name, ".weight")) {
            for (size_t k = 0; k < p->numel; k++) set(p, k, 1.0f);
        } else if (ends_with(p->name, ".bias") || norm || p->ndim == 1) {
            for (size_t k = 0; k < p->numel; k++) set(p, k, 0.0f);
        } else {
            for (size_t k = 0; k < p->numel; k++) set(p, k, (float)(std * normal(&rng)));
        }
    }
    int H = m->cfg.hidden, pad = m->cfg.pad_id;
    memset(m->word->data + (size_t)pad * H, 0, (size_t)H * sizeof(float));
    if (m->cfg.family == FAMILY_ROBERTA) memset(m->pos->data + (size_t)pad * H, 0, (size_t)H * sizeof(float));
}

adapt_status model_create_random(const char *config_path, uint64_t seed, adapt_model **out)
{
    *out = NULL;
    model_config cfg;
    TRY(hf_config_load(config_path, &cfg));
    adapt_model *m = NULL;
    adapt_status s = model_create(&cfg, &m);
    hf_config_free(&cfg);
    if (!s) s = model_add_mlm_head(m, false);
    if (s) {
        adapt_model_free(m);
        return s;
    }
    m->base_tensor_count = m->store.count; /* as after loading: the encoder and its MLM head */
    model_init_random(m, 0.02, seed);
    *out = m;
    return ADAPT_OK;
}

int model_max_tokens(const model_config *c)
{
    /* RoBERTa positions start after the padding id (see model_position_ids) */
    return c->family == FAMILY_BERT ? c->max_positions : c->max_positions - c->pad_id - 1;
}

adapt_status model_check_max_tokens(const model_config *c, int max_len)
{
    int limit = model_max_tokens(c);
    if (max_len <= limit) return ADAPT_OK;
    return adapt_fail(ADAPT_ERR_ARG, "--max-length %d is longer than the model's position embeddings allow (%d tokens with "
                      "max_position_embeddings %d)", max_len, limit, c->max_positions);
}
