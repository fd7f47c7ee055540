/* Small host helpers of the GPU tool: the RoBERTa initialisation, a clock. */
#include "backend/cuda/gpu_host.h"
#include "core/error.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double normal(uint64_t *s)
{
    double u1 = ((next_u64(s) >> 11) + 1.0) * (1.0 / 9007199254740993.0), u2 = (next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double gpu_l2_diff(const float *a, const float *e, size_t n, double *ref_norm)
{
    double d = 0, r = 0;
    for (size_t k = 0; k < n; k++) {
        d += ((double)a[k] - e[k]) * ((double)a[k] - e[k]);
        r += (double)e[k] * e[k];
    }
    *ref_norm = sqrt(r);
    return sqrt(d);
}

adapt_status gpu_bert_model(int hidden, int layers, int heads, int intermediate, int vocab, int classes, uint64_t seed,
                            adapt_model **out)
{
    model_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.model_type, sizeof c.model_type, "bert");
    c.family = FAMILY_BERT;
    c.hidden = hidden; c.layers = layers; c.heads = heads; c.intermediate = intermediate; c.vocab = vocab;
    c.max_positions = 512; c.type_vocab = 2; c.pad_id = 0; c.hidden_act = ACT_GELU; c.layer_norm_eps = 1e-12;
    TRY(model_create(&c, out));
    int64_t w[2] = {classes, hidden}, b[1] = {classes};
    param *pw, *pb;
    TRY(store_add(&(*out)->store, "classifier.weight", 2, w, &pw));
    TRY(store_add(&(*out)->store, "classifier.bias", 1, b, &pb));
    gpu_init_roberta(*out, seed);
    return ADAPT_OK;
}

void gpu_init_roberta(adapt_model *m, uint64_t seed)
{
    uint64_t s = seed;
    for (size_t i = 0; i < m->store.count; i++) {
        param *p = m->store.items[i];
        const char *n = p->name;
        size_t len = strlen(n);
        bool is_ln = strstr(n, "LayerNorm.") || strstr(n, "layer_norm.");
        if (is_ln && len > 7 && !strcmp(n + len - 7, ".weight")) {
            for (size_t k = 0; k < p->numel; k++) p->data[k] = 1.0f;
        } else if (p->ndim == 2) {
            for (size_t k = 0; k < p->numel; k++) p->data[k] = (float)(0.02 * normal(&s));
        } else {
            memset(p->data, 0, p->numel * sizeof(float));
        }
    }
    /* nn.Embedding(padding_idx=pad): that row starts at zero (word and, in RoBERTa, position) */
    int pad = m->cfg.pad_id, H = m->cfg.hidden;
    if (pad >= 0 && pad < m->cfg.vocab) memset(m->word->data + (size_t)pad * H, 0, (size_t)H * sizeof(float));
    if (m->cfg.family == FAMILY_ROBERTA && pad >= 0 && pad < m->cfg.max_positions)
        memset(m->pos->data + (size_t)pad * H, 0, (size_t)H * sizeof(float));
}

