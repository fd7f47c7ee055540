/* LoRA on the embedding tables, PEFT's lora.Embedding: a looked-up row E[id] gains s B a_id, where
 * a_id is column id of A [r, num_embeddings] and B is [dim, r]; A starts at zero and B from a
 * standard normal (PEFT's init), so training starts from the base model. Merging adds
 * s (B A)^T into E. */
#include "adapters/adapter_params.h"
#include "adapters/lora.h"
#include "core/error.h"
#include "core/random.h"
#include "model/model.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const lora_embedding_names[EMB_COUNT] = {"embeddings.word_embeddings", "embeddings.position_embeddings",
                                                     "embeddings.token_type_embeddings"};

param *lora_embedding_table(const adapt_model *m, lora_embedding which)
{
    return which == EMB_WORD ? m->word : which == EMB_POSITION ? m->pos : m->type;
}

bool lora_has_embedding(const lora_state *s)
{
    for (int e = 0; s && e < EMB_COUNT; e++)
        if (s->has_emb[e]) return true;
    return false;
}

adapt_status lora_embedding_attach(adapt_model *m, lora_state *s, bool create, uint64_t *rng, int *attached)
{
    const lora_config *cfg = &s->cfg;
    char a_name[LORA_NAME_MAX + 40], b_name[LORA_NAME_MAX + 40];
    lora_factor_name(s->name, "lora_embedding_A", a_name, sizeof a_name);
    lora_factor_name(s->name, "lora_embedding_B", b_name, sizeof b_name);
    for (int e = 0; e < EMB_COUNT; e++) {
        param *E = lora_embedding_table(m, (lora_embedding)e);
        char module[256];
        lora_module_path(m, m->cfg.layers * LIN_COUNT + e, module, sizeof module);
        lora_module_settings ms;
        TRY(lora_module_settings_of(cfg, module, &ms));
        if (!ms.targeted || !E) continue;
        if (cfg->ia3 || cfg->use_dora)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: %s on an embedding table is not supported", module, cfg->ia3 ? "(IA)^3" : "DoRA");
        char prefix[300];
        snprintf(prefix, sizeof prefix, "%s.", module);
        lora_pair *p = &s->emb[e];
        int64_t rows = E->shape[0], dim = E->shape[1], r = ms.r;
        p->scaling = lora_scaling(ms.alpha, ms.r, cfg->use_rslora);
        if (!isfinite(p->scaling))
            return adapt_fail(ADAPT_ERR_FORMAT, "LoRA %s: lora_alpha %g over r %lld is no float scaling", module, ms.alpha, (long long)r);
        if (create) {
            TRY(adapter_param_add(&m->store, prefix, a_name, r, rows, &p->A)); /* zeros */
            TRY(adapter_param_add(&m->store, prefix, b_name, dim, r, &p->B));
            for (size_t i = 0; i < p->B->numel; i++) p->B->data[i] = (float)adapt_rng_normal(rng);
            TRY(store_set_trainable(p->A, true));
            TRY(store_set_trainable(p->B, true));
        } else {
            TRY(lora_bind_loaded(m, prefix, a_name, lora_embedding_names[e], "lora_embedding_A ([r, num_embeddings])", r, rows, &p->A));
            TRY(lora_bind_loaded(m, prefix, b_name, lora_embedding_names[e], "lora_embedding_B ([dim, r])", dim, r, &p->B));
        }
        s->has_emb[e] = true;
        (*attached)++;
    }
    return ADAPT_OK;
}

/* The ids row i of table `which` looks up. */
static int32_t lookup_id(const forward_state *fw, lora_embedding which, int i)
{
    return which == EMB_WORD ? fw->ids[i] : which == EMB_POSITION ? fw->pos_ids[i] : fw->type_ids[i];
}

/* rows [from, from + n) of out [N, dim] += s B a_id. */
static void add_rows(const forward_state *fw, const lora_pair *p, lora_embedding which, float *out, int from, int n)
{
    int64_t r = p->A->shape[0], rows = p->A->shape[1], dim = p->B->shape[0];
    for (int i = from; i < from + n; i++) {
        int64_t id = lookup_id(fw, which, i);
        float *o = out + (size_t)i * dim;
        for (int64_t c = 0; c < r; c++) {
            float a = p->scaling * p->A->data[c * rows + id];
            if (a == 0.0f) continue;
            for (int64_t j = 0; j < dim; j++) o[j] += p->B->data[j * r + c] * a;
        }
    }
}

void lora_embedding_forward(adapt_model *m, float *out)
{
    const forward_state *fw = &m->fw;
    if (m->n_lora_routes) { /* a mixed-LoRA pass: each row group through its own LoRA */
        for (int k = 0, row = 0; k < m->n_lora_routes; row += m->lora_route_rows[k] * fw->T, k++)
            for (int e = 0; m->lora_route[k] && e < EMB_COUNT; e++)
                if (m->lora_route[k]->has_emb[e])
                    add_rows(fw, &m->lora_route[k]->emb[e], (lora_embedding)e, out, row, m->lora_route_rows[k] * fw->T);
        return;
    }
    const lora_state *s = m->lora;
    for (int e = 0; s && !s->merged && e < EMB_COUNT; e++)
        if (s->has_emb[e]) add_rows(fw, &s->emb[e], (lora_embedding)e, out, 0, fw->N);
}

bool lora_embedding_trainable(const adapt_model *m)
{
    const lora_state *s = m->lora;
    for (int e = 0; s && !s->merged && e < EMB_COUNT; e++)
        if (s->has_emb[e] && (s->emb[e].A->grad || s->emb[e].B->grad)) return true;
    return false;
}

void lora_embedding_backward(adapt_model *m, const float *d_out)
{
    const forward_state *fw = &m->fw;
    const lora_state *s = m->lora;
    for (int e = 0; s && !s->merged && e < EMB_COUNT; e++) {
        if (!s->has_emb[e]) continue;
        const lora_pair *p = &s->emb[e];
        int64_t r = p->A->shape[0], rows = p->A->shape[1], dim = p->B->shape[0];
        for (int i = 0; i < fw->N; i++) {
            int64_t id = lookup_id(fw, (lora_embedding)e, i);
            const float *g = d_out + (size_t)i * dim;
            for (int64_t c = 0; c < r; c++) {
                float a = p->A->data[c * rows + id], dot = 0;
                for (int64_t j = 0; j < dim; j++) {
                    dot += p->B->data[j * r + c] * g[j];
                    if (p->B->grad) p->B->grad[j * r + c] += p->scaling * g[j] * a;
                }
                if (p->A->grad) p->A->grad[c * rows + id] += p->scaling * dot;
            }
        }
    }
}

adapt_status lora_embedding_check(const adapt_model *m, const lora_state *s, const char *what)
{
    for (int e = 0; e < EMB_COUNT; e++)
        if (s->has_emb[e]) TRY(param_require_fp32(lora_embedding_table(m, (lora_embedding)e), what));
    return ADAPT_OK;
}

void lora_embedding_merge(adapt_model *m, const lora_state *s, float sign)
{
    for (int e = 0; e < EMB_COUNT; e++) {
        if (!s->has_emb[e]) continue;
        const lora_pair *p = &s->emb[e];
        param *E = lora_embedding_table(m, (lora_embedding)e);
        int rows = (int)E->shape[0], dim = (int)E->shape[1], r = (int)p->A->shape[0];
        /* E [rows, dim] += sign s A^T B^T, A [r, rows], B [dim, r] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, rows, dim, r, sign * p->scaling, p->A->data, rows, p->B->data, r, 1.0f,
                    E->data, dim);
    }
}
