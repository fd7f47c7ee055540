/* PEFT's IA3 folders (peft_type "IA3"), exclude_modules and LoRA biases. IA3: a folder written by hand with PEFT's defaults for BERT
 * (target_modules key, value, output.dense; feedforward_modules output.dense, which by PEFT's
 * suffix match is attention.output.dense too) gives the base model with key / value W and b rows
 * and the two dense layers' W columns times l, folded in by hand; merging gives the same and
 * unmerging gives W back; gradients through input scales against central differences; saving
 * writes PEFT's names and config and reloads to the same outputs; a mixed-LoRA batch; refusals;
 * exclude_modules; `adapt train --ia3-peft`. A LoRA with bias "lora_only" brings its biases. */
#include "adapters/lora.h"
#include "case_batch.h"
#include "core/json.h"
#include "formats/param_io.h"
#include "lora_fixture.h"
#include "model/model.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASE "c10_lora_tagging"
#define HIDDEN 32
#define INTER 64

static const char *const module_names[6] = {"attention.self.query", "attention.self.key", "attention.self.value",
                                            "attention.output.dense", "intermediate.dense", "output.dense"};

#define BERT_DEFAULTS                                                                                                     \
    "{\"base_model_name_or_path\": \"tiny-bert\", \"fan_in_fan_out\": false, \"feedforward_modules\": [\"output.dense\"], " \
    "\"inference_mode\": true, \"init_ia3_weights\": true, \"modules_to_save\": null, \"peft_type\": \"IA3\", "             \
    "\"revision\": null, \"target_modules\": [\"key\", \"value\", \"output.dense\"], \"task_type\": null}"

static bool scaled_by_default(int k) { return k == LIN_KEY || k == LIN_VALUE || k == LIN_ATTN_OUT || k == LIN_OUT; }
static bool input_scaled(int k) { return k == LIN_ATTN_OUT || k == LIN_OUT; }

/* The vectors l of a folder: [layer][module], drawn in [0.5, 1.5]. */
typedef struct vectors {
    float v[2][6][INTER];
} vectors;

static int64_t vector_length(int k) { return k == LIN_OUT ? INTER : HIDDEN; } /* output.dense's input is the FFN's */

/* Writes dir/adapter_config.json (config) and dir/adapter_model.safetensors with PEFT's names
 * "base_model.model.<root>encoder.layer.N.<module>.ia3_l<suffix>", shapes [out, 1] or [1, in]. */
static void write_peft_ia3(const char *dir, const char *config, const char *root, const char *suffix, const vectors *vs)
{
    assert_int_equal(run_command("mkdir -p '%s'", dir), 0);
    write_file(path_in(dir, "adapter_config.json"), config, strlen(config));
    param_store st;
    store_init(&st);
    const char *names[16];
    static char buf[16][200];
    size_t n = 0;
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 6; k++) {
            if (!scaled_by_default(k)) continue;
            snprintf(buf[n], sizeof buf[n], "base_model.model.%sencoder.layer.%d.%s.ia3_l%s", root, l, module_names[k], suffix);
            int64_t shape[2] = {input_scaled(k) ? 1 : vector_length(k), input_scaled(k) ? vector_length(k) : 1};
            param *p;
            assert_int_equal(store_add(&st, buf[n], 2, shape, &p), ADAPT_OK);
            memcpy(p->data, vs->v[l][k], (size_t)vector_length(k) * sizeof(float));
            names[n] = buf[n];
            n++;
        }
    static const char *const meta[] = {"format", "pt"};
    assert_int_equal(store_save_safetensors(&st, path_in(dir, "adapter_model.safetensors"), names, names, n, meta, 1), ADAPT_OK);
    store_free(&st);
}

static void draw_vectors(vectors *vs, uint64_t seed)
{
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 6; k++)
            for (int i = 0; i < INTER; i++) vs->v[l][k][i] = (float)(0.5 + test_uniform(&seed));
}

/* The tiny BERT with the scales folded into its weights by hand. */
static adapt_model *folded_model(const vectors *vs)
{
    adapt_model *m = load_tiny_bert();
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 6; k++) {
            if (!scaled_by_default(k)) continue;
            param *W = linear_weight(&m->layers[l], (lora_linear)k), *b = linear_bias(&m->layers[l], (lora_linear)k);
            int64_t out = W->shape[0], in = W->shape[1];
            for (int64_t o = 0; o < out; o++)
                for (int64_t i = 0; i < in; i++) W->data[o * in + i] *= vs->v[l][k][input_scaled(k) ? i : o];
            for (int64_t o = 0; !input_scaled(k) && o < out; o++) b->data[o] *= vs->v[l][k][o];
        }
    return m;
}

/* PEFT's default IA3 for BERT, written as PEFT names it on BertForTokenClassification ("bert.")
 * and on a bare BertModel with older PEFT's ".default" suffix: the folded model's outputs, and
 * merging gives them too. */
static void test_defaults_equal_folded(void **state)
{
    (void)state;
    case_batch b = case_batch_read(CASE, 0);
    size_t n = (size_t)b.B * b.T * HIDDEN;
    vectors vs;
    draw_vectors(&vs, 3);
    adapt_model *folded = folded_model(&vs), *base = load_tiny_bert();
    float *want = encode_case_batch(folded, &b), *plain = encode_case_batch(base, &b);
    assert_true(max_abs_difference(want, plain, n) > 1e-2);
    const char *roots[2] = {"bert.", ""}, *suffixes[2] = {"", ".default"};
    for (int v = 0; v < 2; v++) {
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/peft-ia3-%d", test_tmp, v);
        write_peft_ia3(dir, BERT_DEFAULTS, roots[v], suffixes[v], &vs);
        adapt_model *m = load_tiny_bert();
        if (adapt_model_load_lora(m, dir)) fail_msg("%s", adapt_error());
        const lora_state *s = m->lora;
        assert_true(s->cfg.ia3);
        for (int l = 0; l < 2; l++)
            for (int k = 0; k < 6; k++) {
                assert_int_equal(s->has[l][k], scaled_by_default(k));
                assert_int_equal(s->pairs[l][k].scales_input, scaled_by_default(k) && input_scaled(k));
            }
        float *got = encode_case_batch(m, &b);
        if (!(max_abs_difference(want, got, n) < 1e-5)) fail_msg("PEFT IA3 differs from the folded model by %g", max_abs_difference(want, got, n));
        assert_merge_round_trip(m, &b, want, linear_weight(&m->layers[1], LIN_OUT));
        free(got);
        adapt_model_free(m);
    }
    free(want), free(plain);
    adapt_model_free(folded), adapt_model_free(base);
    case_batch_free(&b);
}

/* An (IA)^3 made in memory: key scales outputs, both dense layers their inputs. */
static lora_state *make_input_ia3(adapt_model *m, const char *name, uint64_t seed)
{
    lora_config cfg = {.r = 1, .alpha = 1, .ia3 = true, .n_targets = 2, .n_feedforward = 1};
    snprintf(cfg.targets[0], 64, "key");
    snprintf(cfg.targets[1], 64, "output.dense");
    snprintf(cfg.feedforward[0], 64, "output.dense");
    lora_state *s = attach_drawn_ia3(m, &cfg, name, seed);
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 6; k++) {
            if (!s->has[l][k]) continue;
            assert_int_equal(s->pairs[l][k].B->shape[0], input_scaled(k) ? 1 : HIDDEN);
            assert_int_equal(s->pairs[l][k].B->shape[1], input_scaled(k) ? vector_length(k) : 1);
        }
    return s;
}

/* l's gradient on inputs (and outputs), and through frozen input scales: the weight of a scaled
 * layer itself (its gradient taken at x * l) and a weight below, against central differences. */
static void test_input_scale_gradients(void **state)
{
    (void)state;
    for (int frozen = 0; frozen < 2; frozen++) {
        grad_run g;
        adapt_model *m = load_tiny_bert();
        lora_state *s = make_input_ia3(m, "ia", 17);
        grad_run_init(&g, m, 5);
        param *checks[8];
        int nc = 0;
        if (frozen) {
            for (int l = 0; l < 2; l++)
                for (int k = 0; k < 6; k++)
                    if (s->has[l][k]) assert_int_equal(store_set_trainable(s->pairs[l][k].B, false), ADAPT_OK);
            checks[nc++] = linear_weight(&m->layers[1], LIN_OUT);
            checks[nc++] = linear_weight(&m->layers[0], LIN_QUERY);
            for (int i = 0; i < nc; i++) assert_int_equal(store_set_trainable(checks[i], true), ADAPT_OK);
        } else {
            for (int l = 0; l < 2; l++)
                for (int k = 0; k < 6; k++)
                    if (s->has[l][k]) checks[nc++] = s->pairs[l][k].B;
        }
        grad_run_loss(&g, true);
        for (int i = 0; i < nc; i++) assert_largest_gradient(&g, checks[i]);
        assert_int_equal(nc, frozen ? 2 : 6);
        grad_run_free(&g);
        adapt_model_free(m);
    }
}

static char *json_of(const cJSON *root, const char *key) { return cJSON_PrintUnformatted(cJSON_GetObjectItem(root, key)); }

/* Saved under a name other than "default": PEFT's config (IA3, the lists) and tensor names
 * (".ia3_l", shapes kept); it reloads to the same hidden states bit for bit. A mixed-LoRA batch
 * gives each row its own (IA)^3's output. */
static void test_save_reload_and_mixed(void **state)
{
    (void)state;
    case_batch b = case_batch_read(CASE, 0);
    size_t n = (size_t)b.B * b.T * HIDDEN;
    adapt_model *m = load_tiny_bert();
    make_input_ia3(m, "mine", 9);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/saved-ia3", test_tmp);
    if (adapt_model_save_lora(m, "mine", dir)) fail_msg("%s", adapt_error());
    cJSON *root = read_json(path_in(dir, "adapter_config.json"));
    assert_string_equal(cJSON_GetObjectItem(root, "peft_type")->valuestring, "IA3");
    char *targets = json_of(root, "target_modules"), *ff = json_of(root, "feedforward_modules");
    assert_string_equal(targets, "[\"key\",\"output.dense\"]");
    assert_string_equal(ff, "[\"output.dense\"]");
    assert_null(cJSON_GetObjectItem(root, "r"));
    free(targets), free(ff);
    cJSON_Delete(root);
    param_store st;
    store_init(&st);
    assert_int_equal(store_load_safetensors(&st, path_in(dir, "adapter_model.safetensors"), NULL, NULL, NULL), ADAPT_OK);
    assert_int_equal(st.count, 6);
    const param *v = store_get(&st, "base_model.model.bert.encoder.layer.1.output.dense.ia3_l");
    assert_non_null(v);
    assert_int_equal(v->shape[0], 1);
    assert_int_equal(v->shape[1], INTER);
    assert_non_null(store_get(&st, "base_model.model.bert.encoder.layer.0.attention.self.key.ia3_l"));
    store_free(&st);

    if (adapt_model_load_lora_as(m, dir, "again")) fail_msg("%s", adapt_error());
    if (adapt_model_set_lora(m, "mine")) fail_msg("%s", adapt_error());
    float *mine = encode_case_batch(m, &b);
    if (adapt_model_set_lora(m, "again")) fail_msg("%s", adapt_error());
    float *again = encode_case_batch(m, &b);
    assert_true(max_abs_difference(mine, again, n) == 0);
    if (adapt_model_set_lora(m, NULL)) fail_msg("%s", adapt_error());
    float *base = encode_case_batch(m, &b);
    assert_true(max_abs_difference(mine, base, n) > 1e-2);
    assert_true(b.B >= 2);
    const char **names = calloc((size_t)b.B, sizeof *names);
    for (int i = 0; i < b.B; i++) names[i] = i % 2 ? NULL : "again";
    float *mixed = malloc(n * sizeof *mixed);
    if (adapt_model_encode_mixed_lora(m, b.B, b.T, b.ids, b.mask, b.type_ids, names, mixed)) fail_msg("%s", adapt_error());
    size_t row = (size_t)b.T * HIDDEN;
    for (int i = 0; i < b.B; i++) {
        const float *want = (i % 2 ? base : mine) + i * row;
        if (!(max_abs_difference(want, mixed + i * row, row) < 1e-5)) fail_msg("mixed row %d differs by %g", i, max_abs_difference(want, mixed + i * row, row));
    }
    free(names), free(mixed), free(mine), free(again), free(base);
    adapt_model_free(m);
    case_batch_free(&b);
}

/* What PEFT refuses or we cannot write. */
static void test_refusals(void **state)
{
    (void)state;
    vectors vs;
    draw_vectors(&vs, 4);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/bad-ia3", test_tmp);
    write_peft_ia3(dir, BERT_DEFAULTS, "bert.", "", &vs);
    const char *configs[3] = {
        "{\"peft_type\": \"IA3\", \"target_modules\": [\"key\", \"value\"], \"feedforward_modules\": [\"output.dense\"]}",
        "{\"peft_type\": \"IA3\", \"target_modules\": [\"key\", \"value\", \"output.dense\"]}",
        "{\"peft_type\": \"IA3\", \"target_modules\": [\"key\", \"value\", \"output.dense\"], \"feedforward_modules\": [], "
        "\"fan_in_fan_out\": true}",
    };
    const char *says[3] = {"is not in target_modules", "missing \"feedforward_modules\"", "fan_in_fan_out"};
    for (int i = 0; i < 3; i++) {
        write_file(path_in(dir, "adapter_config.json"), configs[i], strlen(configs[i]));
        adapt_model *m = load_tiny_bert();
        size_t tensors = m->store.count;
        adapt_status st = adapt_model_load_lora(m, dir);
        assert_int_not_equal(st, ADAPT_OK);
        if (!strstr(adapt_error(), says[i])) fail_msg("message \"%s\" should say \"%s\"", adapt_error(), says[i]);
        assert_int_equal(m->store.count, tensors);
        adapt_model_free(m);
    }
    /* feedforward_modules [] makes every scale an output scale: [1, in] vectors no longer fit */
    const char *no_ff = "{\"peft_type\": \"IA3\", \"target_modules\": [\"key\", \"value\", \"output.dense\"], \"feedforward_modules\": []}";
    write_file(path_in(dir, "adapter_config.json"), no_ff, strlen(no_ff));
    adapt_model *m = load_tiny_bert();
    assert_int_not_equal(adapt_model_load_lora(m, dir), ADAPT_OK);
    assert_non_null(strstr(adapt_error(), "layer 0 attention.output.dense: its (IA)^3 vector (an output scale, [out, 1]) has shape [1,32]"));
    /* an input-scaling (IA)^3 has no AdapterHub layout; one with alpha 2 no PEFT file */
    make_input_ia3(m, "ia", 2);
    expect_failure(adapt_model_save_lora_adapterhub(m, "ia", dir), ADAPT_ERR_UNSUPPORTED, "input");
    lora_config cfg = {.r = 1, .alpha = 2, .ia3 = true, .n_targets = 1};
    snprintf(cfg.targets[0], 64, "value");
    uint64_t rng = 1;
    assert_int_equal(lora_attach(m, &cfg, "alpha2", true, &rng, NULL), ADAPT_OK);
    expect_failure(adapt_model_save_lora(m, "alpha2", dir), ADAPT_ERR_UNSUPPORTED, "no alpha");
    adapt_model_free(m);
    /* one vector twice, with and without older PEFT's ".default": refused, not overwritten */
    write_file(path_in(dir, "adapter_config.json"), BERT_DEFAULTS, strlen(BERT_DEFAULTS));
    param_store twice;
    store_init(&twice);
    int64_t shape[2] = {HIDDEN, 1};
    param *p;
    assert_int_equal(store_add(&twice, "base_model.model.bert.encoder.layer.0.attention.self.key.ia3_l", 2, shape, &p), ADAPT_OK);
    assert_int_equal(store_add(&twice, "base_model.model.bert.encoder.layer.0.attention.self.key.ia3_l.default", 2, shape, &p), ADAPT_OK);
    const char *names[2] = {twice.items[0]->name, twice.items[1]->name};
    assert_int_equal(store_save_safetensors(&twice, path_in(dir, "adapter_model.safetensors"), names, names, 2, NULL, 0), ADAPT_OK);
    store_free(&twice);
    m = load_tiny_bert();
    expect_failure(adapt_model_load_lora(m, dir), ADAPT_ERR_FORMAT, "in the file twice");
    adapt_model_free(m);
    /* a LoRA factor in an IA3 file */
    write_file(path_in(dir, "adapter_config.json"), BERT_DEFAULTS, strlen(BERT_DEFAULTS));
    m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, shared_path("fixtures/cases/" CASE "/lora"), "c10")) fail_msg("%s", adapt_error());
    assert_int_equal(run_command("cp '%s/adapter_model.safetensors' '%s/adapter_model.safetensors'",
                                 shared_path("fixtures/cases/" CASE "/lora"), dir), 0);
    expect_failure(adapt_model_load_lora_as(m, dir, "x"), ADAPT_ERR_FORMAT, "is not an (IA)^3 vector");
    adapt_model_free(m);
}

/* exclude_modules (PEFT >= 0.14), a list (exact names or suffixes) or a regex, keeps modules out
 * of a LoRA; saved and reloaded, the same modules. */
static void test_exclude_modules(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    lora_config cfg = {.r = 2, .alpha = 4, .n_targets = 2, .n_exclude = 1};
    snprintf(cfg.targets[0], 64, "query");
    snprintf(cfg.targets[1], 64, "value");
    snprintf(cfg.exclude[0], 64, "layer.1.attention.self.query");
    uint64_t rng = 3;
    lora_state *s;
    if (lora_attach(m, &cfg, "listed", true, &rng, &s)) fail_msg("%s", adapt_error());
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 6; k++) assert_int_equal(s->has[l][k], k == LIN_VALUE || (k == LIN_QUERY && l == 0));
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/excluded", test_tmp);
    if (adapt_model_save_lora(m, "listed", dir)) fail_msg("%s", adapt_error());
    cJSON *root = read_json(path_in(dir, "adapter_config.json"));
    char *ex = json_of(root, "exclude_modules");
    assert_string_equal(ex, "[\"layer.1.attention.self.query\"]");
    free(ex);
    cJSON_Delete(root);
    if (adapt_model_load_lora_as(m, dir, "again")) fail_msg("%s", adapt_error());
    const lora_state *again = lora_find(m, "again");
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 6; k++) assert_int_equal(again->has[l][k], s->has[l][k]);
    cfg.n_exclude = 0;
    snprintf(cfg.exclude_regex, sizeof cfg.exclude_regex, "bert\\.encoder\\.layer\\.0\\..*");
    if (lora_attach(m, &cfg, "regex", true, &rng, &s)) fail_msg("%s", adapt_error());
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 6; k++) assert_int_equal(s->has[l][k], l == 1 && (k == LIN_VALUE || k == LIN_QUERY));
    snprintf(cfg.exclude[0], 64, "query"); /* a suffix after a '.' */
    cfg.n_exclude = 1;
    cfg.exclude_regex[0] = '\0';
    if (lora_attach(m, &cfg, "suffix", true, &rng, &s)) fail_msg("%s", adapt_error());
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 6; k++) assert_int_equal(s->has[l][k], k == LIN_VALUE);
    adapt_model_free(m);
}

/* AdapterHub's (IA)^3 with alpha 1 converts to PEFT's IA3 (adapt adapters convert-lora) and back:
 * the same hidden states; adapters list names the input scales of PEFT's default. */
static void test_convert_between_layouts(void **state)
{
    (void)state;
    case_batch b = case_batch_read(CASE, 0);
    size_t n = (size_t)b.B * b.T * HIDDEN;
    adapt_model *m = load_tiny_bert();
    lora_config cfg = {.r = 1, .alpha = 1, .ia3 = true, .n_targets = 2};
    snprintf(cfg.targets[0], 64, "value");
    snprintf(cfg.targets[1], 64, "intermediate.dense");
    attach_drawn_ia3(m, &cfg, "hub", 8);
    if (adapt_model_save_lora_adapterhub(m, "hub", path_in(test_tmp, "hub-ia3"))) fail_msg("%s", adapt_error());
    const char *model = shared_path("fixtures/models/tiny-bert");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "adapters convert-lora --model %s --to peft --output peft-ia3 hub-ia3", model);
    assert_int_equal(run_adapt(test_tmp, cmd), 0);
    snprintf(cmd, sizeof cmd, "adapters convert-lora --model %s --to adapterhub --output hub-ia3-back peft-ia3", model);
    assert_int_equal(run_adapt(test_tmp, cmd), 0);
    cJSON *root = read_json(path_in(test_tmp, "peft-ia3/adapter_config.json"));
    assert_string_equal(cJSON_GetObjectItem(root, "peft_type")->valuestring, "IA3");
    cJSON_Delete(root);
    float *want = encode_case_batch(m, &b);
    const char *dirs[2] = {"peft-ia3", "hub-ia3-back"};
    for (int i = 0; i < 2; i++) {
        adapt_model *m2 = load_tiny_bert();
        if (adapt_model_load_lora(m2, path_in(test_tmp, dirs[i]))) fail_msg("%s", adapt_error());
        float *got = encode_case_batch(m2, &b);
        assert_true(max_abs_difference(want, got, n) == 0);
        free(got);
        adapt_model_free(m2);
    }
    vectors vs;
    draw_vectors(&vs, 6);
    write_peft_ia3(path_in(test_tmp, "defaults"), BERT_DEFAULTS, "bert.", "", &vs);
    snprintf(cmd, sizeof cmd, "adapters list %s defaults", model);
    assert_int_equal(run_adapt(test_tmp, cmd), 0);
    assert_log_says(test_tmp, "inputs: feedforward_modules");
    snprintf(cmd, sizeof cmd, "adapters combine-loras --model %s --output summed defaults=0.5 peft-ia3=0.5", model);
    assert_int_equal(run_adapt(test_tmp, cmd), 0); /* no --type: the sum, as PEFT's IA3 */
    assert_log_says(test_tmp, "the weighted sum of their vectors");
    free(want);
    adapt_model_free(m);
    case_batch_free(&b);
}

/* bias "lora_only": c10's LoRA with the query and value biases PEFT trains beside it (in the file
 * under their plain names) gives the model with those biases and the LoRA; without the LoRA, the
 * base model; saved, the config says lora_only and the biases are written back. */
static void test_bias_lora_only(void **state)
{
    (void)state;
    const char *c10 = shared_path("fixtures/cases/" CASE "/lora");
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/lora-only", test_tmp);
    assert_int_equal(run_command("mkdir -p '%s'", dir), 0);
    cJSON *cfg = read_json(path_in(c10, "adapter_config.json"));
    cJSON_ReplaceItemInObject(cfg, "bias", cJSON_CreateString("lora_only"));
    char *text = cJSON_Print(cfg);
    write_file(path_in(dir, "adapter_config.json"), text, strlen(text));
    free(text);
    cJSON_Delete(cfg);
    param_store st;
    store_init(&st);
    assert_int_equal(store_load_safetensors(&st, path_in(c10, "adapter_model.safetensors"), NULL, NULL, NULL), ADAPT_OK);
    adapt_model *hand = load_tiny_bert(); /* the biases put in by hand */
    uint64_t rng = 12;
    static char bias_names[4][128];
    for (int l = 0, i = 0; l < 2; l++)
        for (int k = LIN_QUERY; k <= LIN_VALUE; k += LIN_VALUE - LIN_QUERY, i++) {
            /* PEFT >= 0.7 names a targeted layer's bias "<module>.base_layer.bias", earlier "<module>.bias" */
            snprintf(bias_names[i], sizeof bias_names[i], "base_model.model.bert.encoder.layer.%d.%s.%sbias", l, module_names[k],
                     l ? "base_layer." : "");
            param *b = linear_bias(&hand->layers[l], (lora_linear)k), *p;
            assert_int_equal(store_add(&st, bias_names[i], 1, b->shape, &p), ADAPT_OK);
            for (int64_t o = 0; o < b->shape[0]; o++) p->data[o] = b->data[o] += (float)(test_uniform(&rng) - 0.5);
        }
    const char *names[64];
    assert_true(st.count <= 64);
    for (size_t i = 0; i < st.count; i++) names[i] = st.items[i]->name;
    assert_int_equal(store_save_safetensors(&st, path_in(dir, "adapter_model.safetensors"), names, names, st.count, NULL, 0), ADAPT_OK);
    store_free(&st);
    case_batch b = case_batch_read(CASE, 0);
    size_t n = (size_t)b.B * b.T * HIDDEN;
    adapt_model *m = load_tiny_bert(), *base = load_tiny_bert();
    if (adapt_model_load_lora(hand, c10) || adapt_model_load_lora(m, dir)) fail_msg("%s", adapt_error());
    float *want = encode_case_batch(hand, &b), *got = encode_case_batch(m, &b), *plain = encode_case_batch(base, &b);
    assert_true(max_abs_difference(want, got, n) == 0);
    if (adapt_model_set_lora(m, NULL)) fail_msg("%s", adapt_error());
    float *off = encode_case_batch(m, &b);
    assert_true(max_abs_difference(off, plain, n) == 0);
    if (adapt_model_set_lora(m, LORA_DEFAULT_NAME)) fail_msg("%s", adapt_error());
    snprintf(dir, sizeof dir, "%s/lora-only-saved", test_tmp);
    if (adapt_model_save_lora(m, LORA_DEFAULT_NAME, dir)) fail_msg("%s", adapt_error());
    cfg = read_json(path_in(dir, "adapter_config.json"));
    assert_string_equal(cJSON_GetObjectItem(cfg, "bias")->valuestring, "lora_only");
    cJSON_Delete(cfg);
    store_init(&st);
    assert_int_equal(store_load_safetensors(&st, path_in(dir, "adapter_model.safetensors"), NULL, NULL, NULL), ADAPT_OK);
    const param *q1 = store_get(&st, bias_names[2]); /* written as PEFT >= 0.7 does */
    assert_non_null(strstr(bias_names[2], ".query.base_layer.bias"));
    assert_null(store_get(&st, "base_model.model.bert.encoder.layer.0.attention.self.query.bias"));
    assert_non_null(store_get(&st, "base_model.model.bert.encoder.layer.0.attention.self.query.base_layer.bias"));
    assert_non_null(q1);
    assert_memory_equal(q1->data, linear_bias(&hand->layers[1], LIN_QUERY)->data, q1->numel * sizeof(float));
    store_free(&st);
    free(want), free(got), free(plain), free(off);
    adapt_model_free(m), adapt_model_free(hand), adapt_model_free(base);
    case_batch_free(&b);
}

/* PEFT's IA3 add_weighted_adapter: each module's l the weighted sum of the inputs' s l that have
 * it (an AdapterHub (IA)^3's alpha folded in), saved as PEFT's IA3 and reloaded to the same
 * outputs; other combinations, a LoRA among them and a module scaled on both sides are refused. */
static void test_ia3_combine(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    lora_state *a = make_input_ia3(m, "a", 21);
    lora_config cfg = {.r = 1, .alpha = 2, .ia3 = true, .n_targets = 2, .n_feedforward = 1};
    snprintf(cfg.targets[0], 64, "value");
    snprintf(cfg.targets[1], 64, "output.dense");
    snprintf(cfg.feedforward[0], 64, "output.dense");
    lora_state *b = attach_drawn_ia3(m, &cfg, "b", 22);
    const char *names[2] = {"a", "b"};
    const double w[2] = {0.5, 2};
    if (adapt_model_add_weighted_lora(m, names, w, 2, "ab", "linear")) fail_msg("%s", adapt_error());
    const lora_state *ab = lora_find(m, "ab");
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 6; k++) {
            bool in_a = a->has[l][k], in_b = b->has[l][k];
            assert_int_equal(ab->has[l][k], in_a || in_b);
            if (!ab->has[l][k]) continue;
            assert_int_equal(ab->pairs[l][k].scales_input, input_scaled(k));
            assert_float_equal(ab->pairs[l][k].scaling, 1, 0);
            for (size_t o = 0; o < ab->pairs[l][k].B->numel; o++) {
                double want = (in_a ? 0.5 * a->pairs[l][k].B->data[o] : 0) + (in_b ? 2 * 2 * b->pairs[l][k].B->data[o] : 0);
                assert_float_equal(ab->pairs[l][k].B->data[o], want, 1e-5);
            }
        }
    case_batch bt = case_batch_read(CASE, 0);
    size_t n = (size_t)bt.B * bt.T * HIDDEN;
    if (adapt_model_set_lora(m, "ab")) fail_msg("%s", adapt_error());
    float *want = encode_case_batch(m, &bt);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/ia3-ab", test_tmp);
    if (adapt_model_save_lora(m, "ab", dir)) fail_msg("%s", adapt_error());
    adapt_model *m2 = load_tiny_bert();
    if (adapt_model_load_lora(m2, dir)) fail_msg("%s", adapt_error());
    float *got = encode_case_batch(m2, &bt);
    assert_true(max_abs_difference(want, got, n) == 0);
    free(want), free(got);
    adapt_model_free(m2);
    case_batch_free(&bt);
    expect_failure(adapt_model_add_weighted_lora(m, names, w, 2, "x", "svd"), ADAPT_ERR_UNSUPPORTED, "weighted sum");
    lora_config plain = {.r = 2, .alpha = 2, .n_targets = 1};
    snprintf(plain.targets[0], 64, "query");
    uint64_t rng = 3;
    assert_int_equal(lora_attach(m, &plain, "lora", true, &rng, NULL), ADAPT_OK);
    const char *mixed[2] = {"a", "lora"};
    expect_failure(adapt_model_add_weighted_lora(m, mixed, w, 2, "x", "linear"), ADAPT_ERR_ARG, "do not combine");
    lora_config out_scaled = {.r = 1, .alpha = 1, .ia3 = true, .n_targets = 1};
    snprintf(out_scaled.targets[0], 64, "output.dense"); /* outputs here, inputs in "a" */
    attach_drawn_ia3(m, &out_scaled, "c", 23);
    const char *clash[2] = {"a", "c"};
    expect_failure(adapt_model_add_weighted_lora(m, clash, w, 2, "x", "linear"), ADAPT_ERR_UNSUPPORTED, "no sum");
    assert_null(lora_find(m, "x"));
    /* no type asked: the sum, PEFT's IA3 having no other */
    if (adapt_model_add_weighted_lora(m, names, w, 2, "dflt", NULL)) fail_msg("%s", adapt_error());
    assert_float_equal(lora_find(m, "dflt")->pairs[1][LIN_OUT].B->data[5], ab->pairs[1][LIN_OUT].B->data[5], 0);
    /* one input combines linearly whatever the type (the default "svd" included) */
    if (adapt_model_add_weighted_lora(m, names, w, 1, "solo", NULL)) fail_msg("%s", adapt_error());
    assert_float_equal(lora_find(m, "solo")->pairs[0][LIN_KEY].B->data[3], 0.5 * a->pairs[0][LIN_KEY].B->data[3], 1e-6);
    adapt_model_free(m);
    /* inputs read from a bare BertModel's file (no "bert." in the names): the sum is saved that way */
    vectors vs;
    draw_vectors(&vs, 31);
    snprintf(dir, sizeof dir, "%s/ia3-rootless", test_tmp);
    write_peft_ia3(dir, BERT_DEFAULTS, "", "", &vs);
    m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, dir, "r1") || adapt_model_load_lora_as(m, dir, "r2")) fail_msg("%s", adapt_error());
    const char *both[2] = {"r1", "r2"};
    if (adapt_model_add_weighted_lora(m, both, w, 2, "r12", "linear")) fail_msg("%s", adapt_error());
    snprintf(dir, sizeof dir, "%s/ia3-rootless-sum", test_tmp);
    param_store st;
    save_lora_and_read(m, "r12", dir, &st);
    const param *key = store_get(&st, "base_model.model.encoder.layer.0.attention.self.key.ia3_l");
    assert_non_null(key);
    assert_float_equal(key->data[0], 2.5 * vs.v[0][LIN_KEY][0], 1e-5);
    store_free(&st);
    adapt_model_free(m);
}

/* `adapt train --method lora --ia3-peft` writes PEFT's IA3 folder with the head; the scales moved. */
static void test_train_command(void **state)
{
    (void)state;
    const char *dir = train_tiny_lora("--ia3-peft", "ia3-peft");
    cJSON *root = read_json(path_in(dir, "adapter_config.json"));
    assert_string_equal(cJSON_GetObjectItem(root, "peft_type")->valuestring, "IA3");
    assert_string_equal(cJSON_GetObjectItem(root, "task_type")->valuestring, "TOKEN_CLS");
    cJSON_Delete(root);
    adapt_model *m = NULL;
    if (adapt_model_load("models/default", &m) || adapt_model_load_lora(m, dir)) fail_msg("%s", adapt_error());
    double moved[2] = {0, 0};
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < 6; k++) {
            assert_int_equal(m->lora->has[l][k], scaled_by_default(k));
            const param *B = m->lora->pairs[l][k].B;
            for (size_t o = 0; m->lora->has[l][k] && o < B->numel; o++)
                moved[input_scaled(k)] = fmax(moved[input_scaled(k)], fabs(B->data[o] - 1));
        }
    if (!(moved[0] > 1e-3 && moved[1] > 1e-3)) fail_msg("scales stayed at 1 (largest |l - 1|: outputs %g, inputs %g)", moved[0], moved[1]);
    adapt_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_equal_folded), cmocka_unit_test(test_input_scale_gradients),
        cmocka_unit_test(test_save_reload_and_mixed), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_exclude_modules),       cmocka_unit_test(test_convert_between_layouts),
        cmocka_unit_test(test_bias_lora_only),        cmocka_unit_test(test_ia3_combine),        cmocka_unit_test(test_train_command),
    };
    return cmocka_run_group_tests(tests, test_tmp_setup, test_tmp_teardown);
}
