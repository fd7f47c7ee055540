/* Host-side checks of the GPU tool that need no GPU (`make gpu-host-test`): the RoBERTa
 * initialisation, position ids, the sharded bf16 Hugging Face save reloading through
 * adapt_model_load with the same values, and which adapter setups the device accepts. */
#include "backend/cuda/gpu_adapter_config.h"
#include "backend/cuda/gpu_host.h"
#include "core/error.h"
#include "formats/safetensors.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); return 1; } } while (0)

/* adapter_validate on a fresh model with adapter "a" of config `cfg` active (and "b" too when
 * composition is not NULL, e.g. "Stack(a, b)"): 0 when accepted, else the status. */
static adapt_status validate_setup(const char *cfg, const char *composition, gpu_adapter_cfg *out)
{
    model_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.model_type, sizeof c.model_type, "bert");
    c.family = FAMILY_BERT;
    c.hidden = 32; c.layers = 2; c.heads = 2; c.intermediate = 64; c.vocab = 100; c.max_positions = 16;
    c.type_vocab = 2; c.hidden_act = ACT_GELU; c.layer_norm_eps = 1e-12;
    adapt_model *m = NULL;
    bn_config bc;
    const adapter_def *def = NULL;
    adapt_status s = model_create(&c, &m);
    if (!s) s = bn_config_parse_string(cfg, &bc);
    if (!s) s = setup_add_adapter(m, "a", &bc, true);
    if (!s && composition) s = setup_add_adapter(m, "b", &bc, true);
    if (!s) s = setup_activate(m, composition ? composition : "a");
    if (!s) s = adapter_validate(m, out, &def);
    if (!s && (!def || strcmp(def->name, "a"))) s = adapt_fail(ADAPT_ERR_ARG, "the accepted adapter is not \"a\"");
    adapt_model_free(m);
    return s;
}

static int check_adapter_rules(void)
{
    gpu_adapter_cfg g;
    CHECK(!validate_setup("seq_bn", NULL, &g), "seq_bn refused: %s", adapt_error());
    CHECK(g.on && g.ln_before && g.residual == BN_RESIDUAL_BEFORE_LN && g.act == ACT_RELU && g.scaling == 1.0f, "seq_bn read wrongly");
    CHECK(!validate_setup("double_seq_bn", "Stack(a)", &g), "double_seq_bn refused: %s", adapt_error());
    CHECK(g.on && !g.ln_before && g.act == ACT_SILU, "double_seq_bn read wrongly");
    CHECK(!validate_setup("seq_bn[residual_before_ln=post_add,non_linearity=gelu,scaling=0.5,dropout=0.1]", NULL, &g),
          "seq_bn variant refused: %s", adapt_error());
    CHECK(g.residual == BN_RESIDUAL_POST_ADD && g.act == ACT_GELU && g.scaling == 0.5f && fabsf(g.dropout - 0.1f) < 1e-7f,
          "seq_bn variant read wrongly");
    CHECK(!validate_setup("double_seq_bn[residual_before_ln=False]", NULL, &g) && g.residual == BN_RESIDUAL_BEFORE_LN,
          "without original_ln_before every residual is the branch output");
    const char *refused[][3] = {
        {"par_bn", NULL, "parallel adapters"},
        {"seq_bn[ln_before=True]", NULL, "adapter LayerNorms"},
        {"scaled_par_bn", NULL, "parallel adapters"},
        {"seq_bn[scaling=learned]", NULL, "learned scaling"},
        {"seq_bn_inv", NULL, "invertible adapters"},
        {"seq_bn[original_ln_after=False]", NULL, "original_ln_after = false"},
        {"seq_bn[non_linearity=tanh]", NULL, "this non-linearity"},
        {"seq_bn", "Stack(a, b)", "composition blocks"},
        {"seq_bn", "Parallel(a, b)", "composition blocks"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        adapt_status s = validate_setup(refused[i][0], refused[i][1], &g);
        CHECK(s == ADAPT_ERR_UNSUPPORTED && strstr(adapt_error(), refused[i][2]), "%s %s: want refused for %s, got %d (%s)",
              refused[i][0], refused[i][1] ? refused[i][1] : "", refused[i][2], (int)s, adapt_error());
    }
    return 0;
}

int main(void)
{
    if (check_adapter_rules()) return 1;
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
