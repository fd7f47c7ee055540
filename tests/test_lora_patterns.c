/* PEFT's per-module LoRA settings: rank_pattern and alpha_pattern (a module's own rank and
 * lora_alpha: the first key, in file order, matching the end of its name after a '.'),
 * layers_to_transform and layers_pattern (some layer indices only). A LoRA made with them runs,
 * saves and reloads as the base model with each module's s B A folded in by hand. */
#include "adapters/lora.h"
#include "case_batch.h"
#include "formats/peft.h"
#include "lora_fixture.h"
#include "model/model.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASE "c10_lora_tagging"
#define Q0 "bert.encoder.layer.0.attention.self.query"
#define Q1 "bert.encoder.layer.1.attention.self.query"
#define V0 "bert.encoder.layer.0.attention.self.value"
#define K1 "bert.encoder.layer.1.attention.self.key"

static const char *lora_plain_dir(void) { return shared_path("fixtures/cases/" CASE "/lora"); }

static lora_config config_from(const char *json)
{
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    lora_config cfg;
    if (lora_config_from_json(root, "(test)", &cfg)) fail_msg("%s", adapt_error());
    cJSON_Delete(root);
    return cfg;
}

static adapt_status config_status(const char *json)
{
    cJSON *root = cJSON_Parse(json);
    assert_non_null(root);
    lora_config cfg;
    adapt_status s = lora_config_from_json(root, "(test)", &cfg);
    cJSON_Delete(root);
    return s;
}

static lora_module_settings settings(const lora_config *c, const char *name)
{
    lora_module_settings ms;
    if (lora_module_settings_of(c, name, &ms)) fail_msg("%s", adapt_error());
    return ms;
}

/* Which key gives a module its rank or alpha; which layers layers_to_transform selects. */
static void test_matching(void **state)
{
    (void)state;
    lora_config c = config_from("{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"query\", \"key\", \"value\"], "
                                "\"rank_pattern\": {\"layer.0.attention.self.query\": 8, \"query\": 2, \"layer\\\\.[01]\\\\.attention\\\\.self\\\\.key\": 6}, "
                                "\"alpha_pattern\": {\"value\": 32}}");
    assert_int_equal(settings(&c, Q0).r, 8); /* the first key that matches, in file order */
    assert_int_equal(settings(&c, Q1).r, 2);
    assert_int_equal(settings(&c, K1).r, 6); /* a key is a regular expression */
    assert_int_equal(settings(&c, V0).r, 4); /* no key: the config's r */
    assert_false(settings(&c, "bert.encoder.layer.0.attention.self.query_x").targeted);
    assert_float_equal(settings(&c, V0).alpha, 32, 0);
    assert_float_equal(settings(&c, Q0).alpha, 8, 0);
    assert_true(settings(&c, Q0).targeted && settings(&c, Q1).targeted); /* no layers_to_transform: every layer */
    c = config_from("{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"rank_pattern\": {\"query\": 2, \"query\": 6}}");
    assert_int_equal(settings(&c, Q0).r, 6); /* a repeated key: the last value, as Python's json */

    c = config_from("{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"layers_to_transform\": [1]}");
    assert_false(settings(&c, Q0).targeted);
    assert_true(settings(&c, Q1).targeted);
    c = config_from("{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"layers_to_transform\": 0, \"layers_pattern\": \"layer\"}");
    assert_true(settings(&c, Q0).targeted);
    assert_false(settings(&c, Q1).targeted);
    c = config_from("{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"layers_to_transform\": [0, 1], \"layers_pattern\": [\"h\"]}");
    assert_false(settings(&c, Q0).targeted); /* no "h.<index>." in a BERT name: nothing, as in PEFT */
    c = config_from("{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"layers_to_transform\": [], \"layers_pattern\": \"\"}");
    assert_true(settings(&c, Q0).targeted && settings(&c, Q1).targeted); /* [] and "": unset, as PEFT reads them */
    c = config_from("{\"peft_type\": \"LORA\", \"target_modules\": [\"" Q0 "\"], \"layers_to_transform\": [1]}");
    assert_true(settings(&c, Q0).targeted); /* an exact module name skips the layer filter (PEFT) */

    /* a file from PEFT on a bare BertModel names modules "encoder.layer...": its anchored keys match that */
    c = config_from("{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"lora_alpha\": 8, \"alpha_pattern\": "
                    "{\"^encoder.layer.0.attention.self.query\": 64}}");
    assert_float_equal(settings(&c, Q0).alpha, 8, 0);
    c.names_without_root = true;
    assert_float_equal(settings(&c, Q0).alpha, 64, 0);

    /* a key that backtracks without end fails instead of taking minutes */
    c = config_from("{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"rank_pattern\": {\"(.*.*)*a\": 8}}");
    lora_module_settings ms;
    assert_int_equal(lora_module_settings_of(&c, Q0, &ms), ADAPT_ERR_FORMAT);
    assert_non_null(strstr(adapt_error(), "match limit"));

    /* hostile or malformed values, by name */
    const char *bad[] = {
        "{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"rank_pattern\": {\"query\": 0}}",
        "{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"rank_pattern\": {\"query\": 1.5}}",
        "{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"rank_pattern\": {\"query\": \"8\"}}",
        "{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"rank_pattern\": [8]}",
        "{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"alpha_pattern\": {\"(\": 8}}",
        "{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"layers_to_transform\": [-1]}",
        "{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"layers_to_transform\": [1.5]}",
        "{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"layers_to_transform\": \"1\"}",
        "{\"peft_type\": \"LORA\", \"target_modules\": \".*query\", \"layers_to_transform\": [1]}",
        "{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"layers_pattern\": \"la.yer\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (config_status(bad[i]) != ADAPT_ERR_FORMAT) fail_msg("accepted: %s", bad[i]);
}

/* A LoRA made with per-module settings, B set away from zero, saved as a PEFT folder. */
static adapt_model *made_with(const char *json, const char *dir)
{
    adapt_model *m = load_tiny_bert();
    lora_config cfg = config_from(json);
    uint64_t rng = 3;
    if (lora_attach(m, &cfg, LORA_DEFAULT_NAME, true, &rng, NULL)) fail_msg("%s", adapt_error());
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++)
            for (size_t i = 0; m->lora->has[l][k] && i < m->lora->pairs[l][k].B->numel; i++)
                m->lora->pairs[l][k].B->data[i] = (float)(0.1 * (2 * test_uniform(&rng) - 1));
    if (peft_save(m, dir, NULL)) fail_msg("%s", adapt_error());
    return m;
}

/* The base model with s B A folded into each adapted module's W, `scaling` given per module by
 * the test (not read from the LoRA). */
static adapt_model *folded(adapt_model *lm, const double scaling[2][LIN_COUNT])
{
    adapt_model *f = load_tiny_bert();
    for (int l = 0; l < lm->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!lm->lora->has[l][k]) continue;
            const lora_pair *p = &lm->lora->pairs[l][k];
            param *W = linear_weight(&f->layers[l], (lora_linear)k);
            int64_t r = p->A->shape[0], in = p->A->shape[1], out = p->B->shape[0];
            for (int64_t o = 0; o < out; o++)
                for (int64_t i = 0; i < in; i++) {
                    double d = 0;
                    for (int64_t c = 0; c < r; c++) d += (double)p->B->data[o * r + c] * p->A->data[c * in + i];
                    W->data[o * in + i] += (float)(scaling[l][k] * d);
                }
        }
    return f;
}

/* rank_pattern and alpha_pattern end to end: shapes, scalings, outputs, the saved config. */
static void test_patterns_end_to_end(void **state)
{
    (void)state;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/patterns", test_tmp);
    adapt_model *made = made_with("{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"query\", \"value\"], "
                                  "\"rank_pattern\": {\"value\": 2}, \"alpha_pattern\": {\"layer.1.attention.self.query\": 32}}",
                                  dir);
    assert_int_equal(made->lora->pairs[0][LIN_VALUE].A->shape[0], 2);
    assert_int_equal(made->lora->pairs[0][LIN_QUERY].A->shape[0], 4);
    /* query 8/4 = 2 (layer 1: 32/4 = 8), value 8/2 = 4 */
    const double scaling[2][LIN_COUNT] = {{[LIN_QUERY] = 2, [LIN_VALUE] = 4}, {[LIN_QUERY] = 8, [LIN_VALUE] = 4}};
    assert_int_equal(run_command("grep -q '\"value\":\\s*2' '%s/adapter_config.json' && grep -q 'layer.1.attention.self.query\":\\s*32' "
                                 "'%s/adapter_config.json'", dir, dir),
                     0);
    case_batch b = case_batch_read(CASE, 0);
    size_t n = (size_t)b.B * b.T * made->cfg.hidden;
    adapt_model *reloaded = load_tiny_bert(), *by_hand = folded(made, scaling), *plain = load_tiny_bert();
    if (adapt_model_load_lora(reloaded, dir)) fail_msg("%s", adapt_error());
    float *h_made = encode_case_batch(made, &b), *h_reloaded = encode_case_batch(reloaded, &b), *h_hand = encode_case_batch(by_hand, &b), *h_plain = encode_case_batch(plain, &b);
    assert_true(max_abs_difference(h_made, h_reloaded, n) < 1e-6);
    double err = max_abs_difference(h_reloaded, h_hand, n), moved = max_abs_difference(h_plain, h_hand, n);
    if (!(err < 1e-4 && moved > 1e-3)) fail_msg("against the hand-folded weights: off by %g (the LoRA moves the outputs by %g)", err, moved);
    /* merging uses each module's own scaling too */
    assert_int_equal(adapt_model_merge_lora(reloaded), ADAPT_OK);
    float *h_merged = encode_case_batch(reloaded, &b);
    assert_true(max_abs_difference(h_merged, h_hand, n) < 1e-4);
    free(h_made), free(h_reloaded), free(h_hand), free(h_plain), free(h_merged);
    adapt_model_free(made), adapt_model_free(reloaded), adapt_model_free(by_hand), adapt_model_free(plain);
    case_batch_free(&b);
}

/* layers_to_transform: only layer 1 adapted, saved and reloaded; a file whose tensors name a layer
 * the config leaves out is refused. */
static void test_layers_to_transform(void **state)
{
    (void)state;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/layer1", test_tmp);
    adapt_model *made = made_with("{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"query\", \"value\"], "
                                  "\"layers_to_transform\": [1], \"layers_pattern\": \"layer\"}",
                                  dir);
    assert_false(made->lora->has[0][LIN_QUERY] || made->lora->has[0][LIN_VALUE]);
    assert_true(made->lora->has[1][LIN_QUERY] && made->lora->has[1][LIN_VALUE]);
    const double scaling[2][LIN_COUNT] = {{0}, {[LIN_QUERY] = 2, [LIN_VALUE] = 2}};
    case_batch b = case_batch_read(CASE, 0);
    size_t n = (size_t)b.B * b.T * made->cfg.hidden;
    adapt_model *reloaded = load_tiny_bert(), *by_hand = folded(made, scaling);
    if (adapt_model_load_lora(reloaded, dir)) fail_msg("%s", adapt_error());
    float *h_reloaded = encode_case_batch(reloaded, &b), *h_hand = encode_case_batch(by_hand, &b);
    assert_true(max_abs_difference(h_reloaded, h_hand, n) < 1e-4);
    free(h_reloaded), free(h_hand);
    adapt_model_free(made), adapt_model_free(reloaded), adapt_model_free(by_hand);
    case_batch_free(&b);
    /* the folder's tensors are layer 1's; a config that names layer 0 only leaves them unbound */
    assert_int_equal(run_command("sed -i 's/\"layers_to_transform\":\\s*\\[1\\]/\"layers_to_transform\": [0]/' '%s/adapter_config.json' && "
                                 "grep -q '\"layers_to_transform\": \\[0\\]' '%s/adapter_config.json'", dir, dir),
                     0);
    adapt_model *m = load_tiny_bert();
    assert_int_equal(adapt_model_load_lora(m, dir), ADAPT_ERR_FORMAT);
    /* an alpha whose scaling overflows a float is refused by module */
    lora_config huge = config_from("{\"peft_type\": \"LORA\", \"target_modules\": [\"query\"], \"alpha_pattern\": {\"query\": 1e300}}");
    uint64_t rng = 1;
    assert_int_equal(lora_attach(m, &huge, "huge", true, &rng, NULL), ADAPT_ERR_FORMAT);
    assert_int_equal(adapt_model_num_loras(m), 0);
    adapt_model_free(m);
}

/* alpha_pattern's scaling in the other passes: gradients of A and B against central differences
 * (query's s = 2, value's s = 8), and a mixed batch's rows against each LoRA (or none) alone. */
static void test_backward_and_mixed(void **state)
{
    (void)state;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/alpha", test_tmp);
    adapt_model *m = made_with("{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"query\", \"value\"], "
                               "\"alpha_pattern\": {\"value\": 32}}",
                               dir);
    assert_float_equal(m->lora->pairs[1][LIN_VALUE].scaling, 8, 0);
    assert_float_equal(m->lora->pairs[1][LIN_QUERY].scaling, 2, 0);
    m->training = false;
    grad_run g;
    grad_run_init(&g, m, 4);
    grad_run_loss(&g, true);
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!m->lora->has[l][k]) continue;
            param *ps[2] = {m->lora->pairs[l][k].A, m->lora->pairs[l][k].B};
            for (int f = 0; f < 2; f++) {
                size_t at = 0; /* the largest gradient: the best signal over float noise */
                for (size_t i = 1; i < ps[f]->numel; i++)
                    if (fabsf(ps[f]->grad[i]) > fabsf(ps[f]->grad[at])) at = i;
                double got = ps[f]->grad[at], want = grad_run_numeric(&g, ps[f]->data, at);
                if (!(fabs(got - want) <= 0.03 * fabs(want) + 2e-3))
                    fail_msg("layer %d %s %s[%zu]: gradient %g, central difference %g", l, lora_module_names[k], f ? "B" : "A", at, got, want);
            }
        }
    grad_run_free(&g);
    adapt_model_free(m);

    case_batch b = case_batch_read(CASE, 2);
    adapt_model *both = load_tiny_bert(), *alone = load_tiny_bert(), *base = load_tiny_bert();
    if (adapt_model_load_lora_as(both, lora_plain_dir(), "c10") || adapt_model_load_lora_as(both, dir, "pat") || adapt_model_load_lora(alone, dir))
        fail_msg("%s", adapt_error());
    size_t row = (size_t)b.T * both->cfg.hidden, n = (size_t)b.B * row;
    float *h_alone = encode_case_batch(alone, &b), *h_base = encode_case_batch(base, &b), *mixed = malloc(n * sizeof *mixed);
    const char *names[2] = {"pat", NULL};
    if (adapt_model_encode_mixed_lora(both, b.B, b.T, b.ids, b.mask, b.type_ids, names, mixed)) fail_msg("%s", adapt_error());
    assert_true(max_abs_difference(mixed, h_alone, row) < 1e-5);
    assert_true(max_abs_difference(mixed + row, h_base + row, row) < 1e-5);
    free(h_alone), free(h_base), free(mixed);
    adapt_model_free(both), adapt_model_free(alone), adapt_model_free(base);
    case_batch_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_patterns_end_to_end),
        cmocka_unit_test(test_layers_to_transform),
        cmocka_unit_test(test_backward_and_mixed),
    };
    return cmocka_run_group_tests(tests, test_tmp_setup, test_tmp_teardown);
}
