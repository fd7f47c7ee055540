/* Host-side checks of the GPU tool that need no GPU (`make gpu-host-test`): the RoBERTa
 * initialisation, position ids, and the sharded bf16 Hugging Face save reloading through
 * adapt_model_load with the same values. */
#include "backend/cuda/gpu_host.h"
#include "core/error.h"
#include "formats/safetensors.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); return 1; } } while (0)

int main(void)
{
    model_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.model_type, sizeof c.model_type, "roberta");
    c.family = FAMILY_ROBERTA;
    c.hidden = 64; c.layers = 2; c.heads = 4; c.intermediate = 128; c.vocab = 3000; c.max_positions = 34;
    c.type_vocab = 1; c.pad_id = 1; c.hidden_act = ACT_GELU; c.layer_norm_eps = 1e-5;
    adapt_model *m = NULL;
    CHECK(!model_create(&c, &m) && !model_add_mlm_head(m, false), "create: %s", adapt_error());
    gpu_init_roberta(m, 5);
    param *ln = store_get(&m->store, "roberta.embeddings.LayerNorm.weight"), *q = store_get(&m->store, "roberta.encoder.layer.0.attention.self.query.weight");
    param *qb = store_get(&m->store, "roberta.encoder.layer.0.attention.self.query.bias");
    CHECK(ln && ln->data[0] == 1.0f && qb && qb->data[3] == 0.0f, "LayerNorm / bias init");
    double s = 0, ss = 0;
    for (size_t k = 0; k < q->numel; k++) { s += q->data[k]; ss += (double)q->data[k] * q->data[k]; }
    double sd = sqrt(ss / q->numel - (s / q->numel) * (s / q->numel));
    CHECK(fabs(sd - 0.02) < 0.002, "weight std %g, want 0.02", sd);
    CHECK(m->word->data[1 * 64 + 5] == 0.0f && m->pos->data[1 * 64 + 7] == 0.0f, "padding rows must start at zero");

    int32_t ids[8] = {0, 7, 8, 2, 1, 1, 1, 1}, pos[8];
    CHECK(!model_position_ids(&m->cfg, 2, 4, ids, pos), "positions: %s", adapt_error());
    int want[8] = {2, 3, 4, 5, 1, 1, 1, 1};
    for (int i = 0; i < 8; i++) CHECK(pos[i] == want[i], "position %d is %d, want %d", i, pos[i], want[i]);

    const char *dir = "/tmp/adapt-gpu-host-test";
    CHECK(!gpu_save_hf(m, dir, ADAPT_DTYPE_BF16, 200000, "\"k\": \"v\""), "save: %s", adapt_error());
    adapt_model *r = NULL;
    CHECK(!adapt_model_load(dir, &r), "reload: %s", adapt_error());
    CHECK(r->store.count == m->store.count, "reloaded %zu tensors, saved %zu", r->store.count, m->store.count);
    for (size_t i = 0; i < m->store.count; i++) {
        const param *p = m->store.items[i], *t = store_get(&r->store, p->name);
        CHECK(t && t->numel == p->numel, "tensor %s", p->name);
        for (size_t k = 0; k < p->numel; k++)
            CHECK(t->data[k] == bf16_to_f32(f32_to_bf16(p->data[k])), "%s[%zu] differs", p->name, k);
    }
    CHECK(!gpu_save_hf(m, dir, ADAPT_DTYPE_F32, (size_t)1 << 30, NULL), "save f32: %s", adapt_error());
    adapt_model_free(r);
    adapt_model_free(m);
    printf("gpu host checks: ok\n");
    return 0;
}
