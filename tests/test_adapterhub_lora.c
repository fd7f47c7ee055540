/* AdapterHub's LoRA folders (the `adapters` library's LoRAConfig): c10's PEFT LoRA rewritten by
 * hand in AdapterHub's layout loads as the same LoRA; the config's flags pick the modules
 * (attn_matrices, intermediate_lora, output_lora = the FFN's output.dense, leave_out); saving
 * writes that layout and reloads to the same outputs; what the layout cannot say is refused.
 * (IA)^3 (composition_mode "scale"): the model with each scaled layer's W and b rows multiplied by
 * alpha l by hand, merging, gradients against central differences, `adapt train --ia3`. */
#include "adapters/lora.h"
#include "case_batch.h"
#include "core/json.h"
#include "formats/param_io.h"
#include "lora_fixture.h"
#include "model/heads.h"
#include "model/model.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASE "c10_lora_tagging"
static const char *c10_lora(void) { return shared_path("fixtures/cases/" CASE "/lora"); }

/* c10's LoRA (r 4, alpha 8 on query and value) as AdapterHub writes it. */
#define C10_HUB_CONFIG                                                                                              \
    "{\"config\": {\"alpha\": 8, \"architecture\": \"lora\", \"attn_matrices\": [\"q\", \"v\"], \"composition_mode\": \"add\", " \
    "\"dropout\": 0.0, \"init_weights\": \"lora\", \"intermediate_lora\": false, \"leave_out\": [], \"output_lora\": false, "   \
    "\"r\": 4, \"selfattn_lora\": true, \"use_gating\": false}, \"hidden_size\": 32, \"model_class\": \"BertAdapterModel\", "   \
    "\"model_name\": \"tiny-bert\", \"model_type\": \"bert\", \"name\": \"ner_lora\", \"version\": \"adapters.1.1.0\"}"

static const char *const module_names[6] = {"attention.self.query", "attention.self.key", "attention.self.value",
                                            "attention.output.dense", "intermediate.dense", "output.dense"};

/* Writes dir/adapter_config.json and dir/adapter.safetensors with LoRA `from`'s factors of model m
 * under AdapterHub's names "<prefix>encoder.layer.N.<module>.loras.<saved>.lora_A" (names and
 * layout spelled out here, not by the product's writer). */
static void write_hub_folder(adapt_model *m, const char *from, const char *dir, const char *config, const char *prefix,
                             const char *saved)
{
    assert_int_equal(run_command("mkdir -p '%s'", dir), 0);
    write_file(path_in(dir, "adapter_config.json"), config, strlen(config));
    const lora_state *s = lora_find(m, from);
    assert_non_null(s);
    const char *names[64], *file_names[64];
    static char buf[64][256];
    size_t n = 0;
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < 6; k++) {
            if (!s->has[l][k]) continue;
            for (int f = 0; f < 2; f++) {
                names[n] = f ? s->pairs[l][k].B->name : s->pairs[l][k].A->name;
                snprintf(buf[n], sizeof buf[n], "%sencoder.layer.%d.%s.loras.%s.lora_%c", prefix, l, module_names[k], saved, f ? 'B' : 'A');
                file_names[n] = buf[n];
                n++;
            }
        }
    assert_int_equal(store_save_safetensors(&m->store, path_in(dir, "adapter.safetensors"), names, file_names, n, NULL, 0), ADAPT_OK);
}

static float *hidden_under(adapt_model *m, const char *lora, const case_batch *b)
{
    if (adapt_model_set_lora(m, lora)) fail_msg("%s", adapt_error());
    return encode_case_batch(m, b);
}

/* The hand-written folder, with and without the "bert." prefix in its names, loads as c10's LoRA:
 * the same hidden states bit for bit, and not the base model's. */
static void test_load_equals_peft(void **state)
{
    (void)state;
    case_batch b = case_batch_read(CASE, 0);
    size_t n = (size_t)b.B * b.T * 32;
    const char *prefixes[2] = {"bert.", ""};
    for (int i = 0; i < 2; i++) {
        adapt_model *m = load_tiny_bert();
        if (adapt_model_load_lora_as(m, c10_lora(), "peft")) fail_msg("%s", adapt_error());
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/hub-%d", test_tmp, i);
        write_hub_folder(m, "peft", dir, C10_HUB_CONFIG, prefixes[i], "ner_lora");
        if (adapt_model_load_lora_as(m, dir, "hub")) fail_msg("%s", adapt_error());
        assert_true(lora_find(m, "hub")->cfg.from_adapterhub);
        float *peft = hidden_under(m, "peft", &b), *hub = hidden_under(m, "hub", &b), *base = hidden_under(m, NULL, &b);
        assert_true(max_abs_difference(peft, hub, n) == 0);
        assert_true(max_abs_difference(peft, base, n) > 1e-3);
        free(peft), free(hub), free(base);
        adapt_model_free(m);
    }
    case_batch_free(&b);
}

/* Flags pick modules: attn_matrices ["k"], intermediate_lora, output_lora (the FFN's output.dense,
 * not attention.output.dense), leave_out [0]; each module's s B A is (alpha / r) B A. */
static void test_flags_pick_modules(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    lora_config cfg = {.r = 3, .alpha = 3, .n_targets = 3};
    snprintf(cfg.targets[0], 64, "key");
    snprintf(cfg.targets[1], 64, "intermediate.dense");
    snprintf(cfg.targets[2], 64, "layer.1.output.dense");
    uint64_t rng = 7;
    lora_state *made;
    if (lora_attach(m, &cfg, "made", true, &rng, &made)) fail_msg("%s", adapt_error());
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 6; k++) /* B starts at zero: give it values */
            if (made->has[l][k])
                for (size_t i = 0; i < made->pairs[l][k].B->numel; i++) made->pairs[l][k].B->data[i] = (float)test_uniform(&rng) - 0.5f;
    made->has[0][LIN_KEY] = made->has[0][LIN_INTER] = false; /* written for layer 1 only */
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/flags", test_tmp);
    write_hub_folder(m, "made", dir,
                     "{\"config\": {\"architecture\": \"lora\", \"r\": 3, \"alpha\": 6, \"attn_matrices\": [\"k\"], "
                     "\"intermediate_lora\": true, \"output_lora\": true, \"leave_out\": [0, 7]}, \"name\": \"f\", \"hidden_size\": 32}",
                     "bert.", "f");
    if (adapt_model_load_lora_as(m, dir, "hub")) fail_msg("%s", adapt_error());
    const lora_state *s = lora_find(m, "hub");
    for (int k = 0; k < 6; k++) {
        assert_false(s->has[0][k]);
        assert_int_equal(s->has[1][k], k == LIN_KEY || k == LIN_INTER || k == LIN_OUT);
    }
    for (int k = LIN_KEY; k <= LIN_OUT; k++) {
        if (!s->has[1][k]) continue;
        const lora_pair *p = &made->pairs[1][k];
        double *delta = lora_delta(m, "hub", 1, k);
        int64_t out = p->B->shape[0], in = p->A->shape[1];
        for (int64_t o = 0; o < out; o++)
            for (int64_t i = 0; i < in; i++) {
                double want = 0;
                for (int r = 0; r < 3; r++) want += 2.0 * p->B->data[o * 3 + r] * p->A->data[r * in + i]; /* alpha 6 / r 3 */
                assert_float_equal(delta[o * in + i], want, 1e-6);
            }
        free(delta);
    }
    made->has[0][LIN_KEY] = made->has[0][LIN_INTER] = true;
    adapt_model_free(m);
}

static bool name_ok(const char *file_name, char *out, size_t size, void *ctx)
{
    snprintf(out, size, "%s", file_name);
    (*(int *)ctx)++;
    return true;
}

/* Saving c10's LoRA in AdapterHub's layout: its LoRAConfig and the tensor names `adapters` looks
 * for; it reloads (and converts back to PEFT) to the same hidden states. A rsLoRA on the FFN of one
 * layer: alpha = s r, leave_out the other layer. */
static void test_save_layout(void **state)
{
    (void)state;
    case_batch b = case_batch_read(CASE, 0);
    size_t n = (size_t)b.B * b.T * 32;
    adapt_model *m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, c10_lora(), "peft")) fail_msg("%s", adapt_error());
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/saved", test_tmp);
    if (adapt_model_save_lora_adapterhub(m, "peft", dir)) fail_msg("%s", adapt_error());
    cJSON *root = read_json(path_in(dir, "adapter_config.json"));
    const cJSON *c = cJSON_GetObjectItem(root, "config");
    assert_string_equal(cJSON_GetObjectItem(root, "name")->valuestring, "peft");
    assert_string_equal(cJSON_GetObjectItem(root, "model_class")->valuestring, "BertAdapterModel");
    assert_string_equal(cJSON_GetObjectItem(c, "architecture")->valuestring, "lora");
    assert_int_equal(cJSON_GetObjectItem(c, "r")->valueint, 4);
    assert_float_equal(cJSON_GetObjectItem(c, "alpha")->valuedouble, 8, 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c, "selfattn_lora")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(c, "intermediate_lora")) && cJSON_IsFalse(cJSON_GetObjectItem(c, "output_lora")));
    char *attn = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "attn_matrices")), *leave = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "leave_out"));
    assert_string_equal(attn, "[\"q\",\"v\"]");
    assert_string_equal(leave, "[]");
    free(attn), free(leave);
    cJSON_Delete(root);
    param_store st;
    store_init(&st);
    int count = 0;
    assert_int_equal(store_load_safetensors(&st, path_in(dir, "adapter.safetensors"), name_ok, &count, NULL), ADAPT_OK);
    assert_int_equal(count, 8);
    assert_non_null(store_get(&st, "bert.encoder.layer.1.attention.self.value.loras.peft.lora_B"));
    assert_int_equal(store_get(&st, "bert.encoder.layer.0.attention.self.query.loras.peft.lora_A")->shape[0], 4);
    store_free(&st);

    if (adapt_model_load_lora_as(m, dir, "again")) fail_msg("%s", adapt_error());
    float *peft = hidden_under(m, "peft", &b), *again = hidden_under(m, "again", &b);
    assert_true(max_abs_difference(peft, again, n) == 0);
    char back[1100];
    snprintf(back, sizeof back, "%s/back-to-peft", test_tmp);
    if (adapt_model_save_lora(m, "again", back)) fail_msg("%s", adapt_error()); /* a regex target_modules */
    adapt_model *m2 = load_tiny_bert();
    if (adapt_model_load_lora(m2, back)) fail_msg("%s", adapt_error());
    float *back_h = encode_case_batch(m2, &b);
    assert_true(max_abs_difference(peft, back_h, n) == 0);
    free(peft), free(again), free(back_h);
    adapt_model_free(m2);

    lora_config cfg = {.r = 4, .alpha = 6, .use_rslora = true, .n_targets = 2, .layers_set = true, .n_layers = 1, .layers = {1}};
    snprintf(cfg.targets[0], 64, "intermediate.dense");
    snprintf(cfg.targets[1], 64, "output.dense"); /* also attention.output.dense, as PEFT: refused */
    uint64_t rng = 3;
    assert_int_equal(lora_attach(m, &cfg, "ffn", true, &rng, NULL), ADAPT_OK);
    assert_int_equal(adapt_model_save_lora_adapterhub(m, "ffn", dir), ADAPT_ERR_UNSUPPORTED);
    assert_non_null(strstr(adapt_error(), "attention.output.dense"));
    snprintf(cfg.targets[1], 64, "layer.1.output.dense");
    assert_int_equal(lora_attach(m, &cfg, "ffn2", true, &rng, NULL), ADAPT_OK);
    snprintf(dir, sizeof dir, "%s/ffn", test_tmp);
    if (adapt_model_save_lora_adapterhub(m, "ffn2", dir)) fail_msg("%s", adapt_error());
    root = read_json(path_in(dir, "adapter_config.json"));
    c = cJSON_GetObjectItem(root, "config");
    assert_float_equal(cJSON_GetObjectItem(c, "alpha")->valuedouble, 12, 1e-5); /* s = 6 / sqrt(4) = 3 = alpha / r */
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(c, "selfattn_lora")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c, "intermediate_lora")) && cJSON_IsTrue(cJSON_GetObjectItem(c, "output_lora")));
    leave = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "leave_out"));
    assert_string_equal(leave, "[0]");
    free(leave);
    cJSON_Delete(root);
    lora_config out_only = {.r = 2, .alpha = 2, .dropout = 0.25, .n_targets = 2}; /* the FFN's output alone, with dropout */
    snprintf(out_only.targets[0], 64, "layer.0.output.dense");
    snprintf(out_only.targets[1], 64, "layer.1.output.dense");
    assert_int_equal(lora_attach(m, &out_only, "out", true, &rng, NULL), ADAPT_OK);
    snprintf(dir, sizeof dir, "%s/out-only", test_tmp);
    if (adapt_model_save_lora_adapterhub(m, "out", dir)) fail_msg("%s", adapt_error());
    root = read_json(path_in(dir, "adapter_config.json"));
    c = cJSON_GetObjectItem(root, "config");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(c, "intermediate_lora")) && cJSON_IsTrue(cJSON_GetObjectItem(c, "output_lora")));
    assert_float_equal(cJSON_GetObjectItem(c, "dropout")->valuedouble, 0.25, 0);
    cJSON_Delete(root);
    adapt_model_free(m);
    case_batch_free(&b);
}

/* Writes a folder with c10's factors under `saved` names and this config member, and tries it. */
static adapt_status try_config(const char *config_member, const char *prefix, const char *saved_in_file)
{
    adapt_model *m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, c10_lora(), "peft")) fail_msg("%s", adapt_error());
    char dir[1100], config[2048];
    snprintf(dir, sizeof dir, "%s/try", test_tmp);
    snprintf(config, sizeof config, "{\"config\": %s, \"name\": \"ner_lora\", \"hidden_size\": 32}", config_member);
    write_hub_folder(m, "peft", dir, config, prefix, saved_in_file);
    adapt_model_free(m);
    m = load_tiny_bert();
    size_t tensors = m->store.count;
    adapt_status s = adapt_model_load_lora_as(m, dir, "x");
    if (s) { /* nothing of the folder stays behind */
        assert_int_equal(m->store.count, tensors);
        assert_int_equal(adapt_model_num_loras(m), 0);
    }
    adapt_model_free(m);
    return s;
}

static void test_refusals(void **state)
{
    (void)state;
    const char *ok = "{\"architecture\": \"lora\", \"r\": 4, \"alpha\": 8}";
    assert_int_equal(try_config(ok, "bert.", "ner_lora"), ADAPT_OK);
    expect_failure(try_config(ok, "bert.", "other"), ADAPT_ERR_FORMAT, "loras.ner_lora.lora_A|lora_B");
    expect_failure(try_config(ok, "roberta.", "ner_lora"), ADAPT_ERR_FORMAT, "another model type");
    expect_failure(try_config("{\"architecture\": \"lora\", \"r\": 4, \"attn_matrices\": [\"q\"]}", "bert.", "ner_lora"), ADAPT_ERR_FORMAT,
           "in no module");
    expect_failure(try_config("{\"architecture\": \"lora\", \"r\": 2}", "bert.", "ner_lora"), ADAPT_ERR_FORMAT, "shape");
    expect_failure(try_config("{\"architecture\": \"lora\", \"attn_matrices\": [\"x\"]}", "bert.", "ner_lora"), ADAPT_ERR_FORMAT,
           "\"attn_matrices\" must be");
    expect_failure(try_config("{\"architecture\": \"lora\", \"leave_out\": [1, 0]}", "bert.", "ner_lora"), ADAPT_ERR_FORMAT, "every layer");
    expect_failure(try_config("{\"architecture\": \"lora\", \"use_gating\": true}", "bert.", "ner_lora"), ADAPT_ERR_UNSUPPORTED, "UniPELT");
    expect_failure(try_config("{\"architecture\": \"lora\", \"vera_d\": 0.1}", "bert.", "ner_lora"), ADAPT_ERR_UNSUPPORTED, "VeRA");
    expect_failure(try_config("{\"architecture\": \"lora\", \"composition_mode\": \"mul\"}", "bert.", "ner_lora"), ADAPT_ERR_FORMAT, "composition_mode");
    expect_failure(try_config("{\"architecture\": \"lora\", \"composition_mode\": \"scale\", \"r\": 1}", "bert.", "ner_lora"), ADAPT_ERR_FORMAT,
           "loras.ner_lora.lora_B\""); /* (IA)^3 has no lora_A */
    expect_failure(try_config("{\"architecture\": \"lora\", \"dropout\": 1}", "bert.", "ner_lora"), ADAPT_ERR_FORMAT, "dropout");

    adapt_model *m = load_tiny_bert();
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/try", test_tmp);
    expect_failure(adapt_model_load_adapter(m, dir, NULL, NULL, 0), ADAPT_ERR_ARG, "load it as a LoRA");
    const char *wide = "{\"config\": \"lora\", \"name\": \"ner_lora\", \"hidden_size\": 64}";
    write_file(path_in(dir, "adapter_config.json"), wide, strlen(wide));
    expect_failure(adapt_model_load_lora(m, dir), ADAPT_ERR_FORMAT, "hidden_size 64");
    /* `adapters` before 1.1.0 ran LoRAs at scaling 1 and loads their files with alpha = r */
    const char *versions[3] = {"adapters.1.0.1", "adapters.1.1.0", "3.2.1"};
    const float scalings[3] = {1, 2, 2};
    for (int v = 0; v < 3; v++) {
        char config[2048];
        snprintf(config, sizeof config, "{\"config\": {\"architecture\": \"lora\", \"r\": 4, \"alpha\": 8}, \"name\": \"ner_lora\", "
                 "\"version\": \"%s\"}", versions[v]);
        write_file(path_in(dir, "adapter_config.json"), config, strlen(config));
        char name[16];
        snprintf(name, sizeof name, "v%d", v);
        if (adapt_model_load_lora_as(m, dir, name)) fail_msg("%s", adapt_error());
        assert_float_equal(lora_find(m, name)->pairs[0][LIN_QUERY].scaling, scalings[v], 0);
    }
    adapt_model_free(m);
    m = load_tiny_bert(); /* one tensor under two names (with and without "bert.") */
    if (adapt_model_load_lora_as(m, c10_lora(), "peft")) fail_msg("%s", adapt_error());
    const char *names[2] = {m->lora->pairs[0][LIN_QUERY].A->name, m->lora->pairs[0][LIN_QUERY].A->name};
    const char *twice[2] = {"bert.encoder.layer.0.attention.self.query.loras.ner_lora.lora_A",
                            "encoder.layer.0.attention.self.query.loras.ner_lora.lora_A"};
    assert_int_equal(store_save_safetensors(&m->store, path_in(dir, "adapter.safetensors"), names, twice, 2, NULL, 0), ADAPT_OK);
    size_t tensors = m->store.count;
    expect_failure(adapt_model_load_lora_as(m, dir, "x"), ADAPT_ERR_FORMAT, "in the file twice");
    assert_int_equal(m->store.count, tensors);
    lora_config cfg = {.r = 2, .alpha = 2, .use_dora = true, .n_targets = 1};
    snprintf(cfg.targets[0], 64, "query");
    uint64_t rng = 1;
    assert_int_equal(lora_attach(m, &cfg, "dora", true, &rng, NULL), ADAPT_OK);
    expect_failure(adapt_model_save_lora_adapterhub(m, "dora", dir), ADAPT_ERR_UNSUPPORTED, "DoRA");
    cfg.use_dora = false;
    cfg.n_rank_pattern = 1;
    snprintf(cfg.rank_pattern[0].key, sizeof cfg.rank_pattern[0].key, "layer.0.attention.self.query");
    cfg.rank_pattern[0].value = 3;
    assert_int_equal(lora_attach(m, &cfg, "ranks", true, &rng, NULL), ADAPT_OK);
    expect_failure(adapt_model_save_lora_adapterhub(m, "ranks", dir), ADAPT_ERR_UNSUPPORTED, "rank or scaling");
    lora_config mixed = {.r = 2, .alpha = 2, .n_targets = 2};
    snprintf(mixed.targets[0], 64, "layer.0.attention.self.query");
    snprintf(mixed.targets[1], 64, "layer.1.attention.self.value");
    assert_int_equal(lora_attach(m, &mixed, "mixed", true, &rng, NULL), ADAPT_OK);
    expect_failure(adapt_model_save_lora_adapterhub(m, "mixed", dir), ADAPT_ERR_UNSUPPORTED, "other modules in layer");
    adapt_model_free(m);
}

/* adapt adapters convert-lora both ways, and list naming the layout. */
static void test_convert_command(void **state)
{
    (void)state;
    const char *model = shared_path("fixtures/models/tiny-bert");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "adapters convert-lora --model %s --to adapterhub --output hub-c10 --name ner %s", model, c10_lora());
    assert_int_equal(run_adapt(test_tmp, cmd), 0);
    snprintf(cmd, sizeof cmd, "adapters list %s hub-c10", model);
    assert_int_equal(run_adapt(test_tmp, cmd), 0);
    assert_log_says(test_tmp, "AdapterHub layout");
    snprintf(cmd, sizeof cmd, "adapters convert-lora --model %s --to peft --output peft-c10 hub-c10", model);
    assert_int_equal(run_adapt(test_tmp, cmd), 0);
    assert_log_says(test_tmp, "LoRA \"ner\" in PEFT layout");
    case_batch b = case_batch_read(CASE, 0);
    size_t n = (size_t)b.B * b.T * 32;
    adapt_model *m = load_tiny_bert(), *m2 = load_tiny_bert();
    if (adapt_model_load_lora(m, c10_lora()) || adapt_model_load_lora(m2, path_in(test_tmp, "peft-c10"))) fail_msg("%s", adapt_error());
    float *a = encode_case_batch(m, &b), *c = encode_case_batch(m2, &b);
    assert_true(max_abs_difference(a, c, n) == 0);
    free(a), free(c);
    adapt_model_free(m), adapt_model_free(m2);
    case_batch_free(&b);
    snprintf(cmd, sizeof cmd, "adapters convert-lora --model %s --to onnx --output x %s", model, c10_lora());
    assert_int_equal(run_adapt(test_tmp, cmd), 2);
}

/* An (IA)^3 on key and intermediate.dense of both layers, l drawn in [0.5, 1.5], alpha 2. */
static lora_state *make_ia3(adapt_model *m, const char *name, uint64_t seed)
{
    lora_config cfg = {.r = 1, .alpha = 2, .ia3 = true, .n_targets = 2};
    snprintf(cfg.targets[0], 64, "key");
    snprintf(cfg.targets[1], 64, "intermediate.dense");
    lora_state *s = attach_drawn_ia3(m, &cfg, name, seed);
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 6; k++) assert_int_equal(s->has[l][k], k == LIN_KEY || k == LIN_INTER);
    return s;
}

/* Saved as AdapterHub writes (IA)^3 and loaded again, it gives the base model with W and b rows
 * times alpha l folded in by hand; merged, the same; unmerged, the weights back. */
static void test_ia3_forward_and_merge(void **state)
{
    (void)state;
    case_batch b = case_batch_read(CASE, 0);
    size_t n = (size_t)b.B * b.T * 32;
    adapt_model *m = load_tiny_bert();
    lora_state *made = make_ia3(m, "ia", 5);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/ia3", test_tmp);
    if (adapt_model_save_lora_adapterhub(m, "ia", dir)) fail_msg("%s", adapt_error());
    cJSON *root = read_json(path_in(dir, "adapter_config.json"));
    const cJSON *c = cJSON_GetObjectItem(root, "config");
    assert_string_equal(cJSON_GetObjectItem(c, "composition_mode")->valuestring, "scale");
    assert_int_equal(cJSON_GetObjectItem(c, "r")->valueint, 1);
    assert_float_equal(cJSON_GetObjectItem(c, "alpha")->valuedouble, 2, 0);
    char *attn = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "attn_matrices"));
    assert_string_equal(attn, "[\"k\"]");
    free(attn);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c, "intermediate_lora")));
    cJSON_Delete(root);
    param_store st;
    store_init(&st);
    int count = 0;
    assert_int_equal(store_load_safetensors(&st, path_in(dir, "adapter.safetensors"), name_ok, &count, NULL), ADAPT_OK);
    assert_int_equal(count, 4); /* lora_B alone, [out, 1] */
    const param *l1 = store_get(&st, "bert.encoder.layer.1.intermediate.dense.loras.ia.lora_B");
    assert_non_null(l1);
    assert_int_equal(l1->ndim, 2);
    assert_int_equal(l1->shape[1], 1);
    assert_memory_equal(l1->data, made->pairs[1][LIN_INTER].B->data, l1->numel * sizeof(float));

    adapt_model *loaded = load_tiny_bert(), *folded = load_tiny_bert();
    if (adapt_model_load_lora(loaded, dir)) fail_msg("%s", adapt_error());
    for (int l = 0; l < 2; l++)
        for (int k = LIN_KEY; k <= LIN_INTER; k += LIN_INTER - LIN_KEY) {
            param *W = linear_weight(&folded->layers[l], (lora_linear)k), *bias = linear_bias(&folded->layers[l], (lora_linear)k);
            const float *lv = made->pairs[l][k].B->data;
            for (int64_t o = 0; o < W->shape[0]; o++) {
                for (int64_t i = 0; i < W->shape[1]; i++) W->data[o * W->shape[1] + i] *= 2 * lv[o];
                bias->data[o] *= 2 * lv[o];
            }
        }
    float *want = encode_case_batch(folded, &b), *got = encode_case_batch(loaded, &b), *base = hidden_under(m, NULL, &b);
    if (!(max_abs_difference(want, got, n) < 1e-5)) fail_msg("(IA)^3 differs from the folded model by %g", max_abs_difference(want, got, n));
    assert_true(max_abs_difference(want, base, n) > 1e-2);
    assert_merge_round_trip(loaded, &b, want, linear_weight(&loaded->layers[0], LIN_INTER));
    made->pairs[0][LIN_KEY].B->data[3] = 0; /* a zero scale could not be unmerged */
    assert_int_equal(adapt_model_set_lora(m, "ia"), ADAPT_OK);
    expect_failure(adapt_model_merge_lora(m), ADAPT_ERR_NUMERIC, "could not be undone");
    assert_false(made->merged);
    free(want), free(got), free(base);
    store_free(&st);
    adapt_model_free(m), adapt_model_free(loaded), adapt_model_free(folded);
    case_batch_free(&b);
}

/* l's gradient and the gradient through a frozen (IA)^3 (a layer-0 weight below a scaled layer 1)
 * against central differences. */
static void test_ia3_gradients(void **state)
{
    (void)state;
    for (int frozen = 0; frozen < 2; frozen++) {
        grad_run g;
        adapt_model *m = load_tiny_bert();
        lora_state *s = make_ia3(m, "ia", 11);
        grad_run_init(&g, m, 4);
        param *below = linear_weight(&m->layers[0], LIN_QUERY);
        if (frozen) {
            for (int l = 0; l < 2; l++)
                for (int k = 0; k < 6; k++)
                    if (s->has[l][k]) assert_int_equal(store_set_trainable(s->pairs[l][k].B, false), ADAPT_OK);
            assert_int_equal(store_set_trainable(below, true), ADAPT_OK);
        }
        grad_run_loss(&g, true);
        param *checks[5];
        int nc = 0;
        if (frozen) checks[nc++] = below;
        else
            for (int l = 0; l < 2; l++)
                for (int k = 0; k < 6; k++)
                    if (s->has[l][k]) checks[nc++] = s->pairs[l][k].B;
        for (int i = 0; i < nc; i++) assert_largest_gradient(&g, checks[i]);
        assert_int_equal(nc, frozen ? 1 : 4);
        grad_run_free(&g);
        adapt_model_free(m);
    }
}

/* The config string "ia3" is AdapterHub's IA3Config (k, v, intermediate); the refusals. */
static void test_ia3_folders(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    make_ia3(m, "ia", 2);
    lora_config cfg = {.r = 1, .alpha = 1, .ia3 = true, .n_targets = 1};
    snprintf(cfg.targets[0], 64, "value");
    uint64_t rng = 1;
    assert_int_equal(lora_attach(m, &cfg, "iv", true, &rng, NULL), ADAPT_OK);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/ia3-default", test_tmp);
    if (adapt_model_save_lora_adapterhub(m, "ia", dir)) fail_msg("%s", adapt_error());
    const char *named = "{\"config\": \"ia3\", \"name\": \"ia\", \"hidden_size\": 32}";
    write_file(path_in(dir, "adapter_config.json"), named, strlen(named));
    adapt_model *m2 = load_tiny_bert();
    expect_failure(adapt_model_load_lora(m2, dir), ADAPT_ERR_FORMAT, "layer 0 attention.self.value: the file has no (IA)^3 vector"); /* IA3Config: k, v */
    adapt_model_free(m2);
    const char *r2 = "{\"config\": {\"architecture\": \"lora\", \"composition_mode\": \"scale\", \"r\": 2}, \"name\": \"ia\"}";
    write_file(path_in(dir, "adapter_config.json"), r2, strlen(r2));
    m2 = load_tiny_bert();
    expect_failure(adapt_model_load_lora(m2, dir), ADAPT_ERR_FORMAT, "takes r 1");
    adapt_model_free(m2);
    snprintf(dir, sizeof dir, "%s/peft-ia3", test_tmp);
    expect_failure(adapt_model_save_lora(m, "ia", dir), ADAPT_ERR_UNSUPPORTED, "(IA)^3");
    const char *names[2] = {"ia", "iv"};
    const double w[2] = {1, 1};
    expect_failure(adapt_model_add_weighted_lora(m, names, w, 2, "both", "svd"), ADAPT_ERR_UNSUPPORTED, "(IA)^3"); /* a sum only */
    adapt_model_free(m);
}

/* `adapt train --method lora --ia3` saves AdapterHub's (IA)^3 folder, whose scales moved from 1. */
static void test_ia3_train_command(void **state)
{
    (void)state;
    const char *tmp = test_tmp, *dir = train_tiny_lora("--ia3", "ia3-trained");
    assert_int_equal(run_command("grep -q '\"composition_mode\":\\s*\"scale\"' '%s/adapter_config.json'", dir), 0);
    adapt_model *m = NULL;
    if (adapt_model_load("models/default", &m) || adapt_model_load_lora(m, dir)) fail_msg("%s", adapt_error());
    double moved = 0;
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < 6; k++) {
            assert_int_equal(m->lora->has[l][k], k == LIN_KEY || k == LIN_VALUE || k == LIN_INTER);
            const param *B = m->lora->pairs[l][k].B;
            for (size_t o = 0; m->lora->has[l][k] && o < B->numel; o++) moved = fmax(moved, fabs(B->data[o] - 1));
        }
    if (!(moved > 1e-3)) fail_msg("the (IA)^3 scales stayed at 1 (largest |l - 1| %g)", moved);
    adapt_model_free(m);
    assert_int_equal(run_command("'%s' train --task ner --model models/default --train '%s/ner.conll' --output '%s/x' --method lora "
                                 "--ia3 --dora --max-steps 1 --quiet > '%s/x.log' 2>&1",
                                 build_path("adapt"), tmp, tmp, tmp) != 0, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_equals_peft),  cmocka_unit_test(test_flags_pick_modules), cmocka_unit_test(test_save_layout),
        cmocka_unit_test(test_refusals),          cmocka_unit_test(test_convert_command),    cmocka_unit_test(test_ia3_forward_and_merge),
        cmocka_unit_test(test_ia3_gradients),     cmocka_unit_test(test_ia3_folders),        cmocka_unit_test(test_ia3_train_command),
    };
    return cmocka_run_group_tests(tests, test_tmp_setup, test_tmp_teardown);
}
