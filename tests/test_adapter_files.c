/* AdapterHub and PEFT files both ways (load -> save -> same names, shapes, dtypes, JSON keys and
 * values), composition strings, and LoRA merge / unmerge. */
#include "adapters/lora.h"
#include "adapters/setup.h"
#include "formats/adapterhub.h"
#include "formats/peft.h"
#include "formats/safetensors.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/store.h"
#include "model/heads.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *case_path(const char *rel) { return shared_path(rel); }

static adapt_model *load_model(const char *rel)
{
    adapt_model *m = NULL;
    assert_int_equal(adapt_model_load(case_path(rel), &m), ADAPT_OK);
    return m;
}

/* Same tensor names, shapes, dtypes and bytes in two safetensors files. */
static void assert_same_tensors(const char *a_path, const char *b_path)
{
    st_file a, b;
    assert_int_equal(st_open(a_path, &a), ADAPT_OK);
    assert_int_equal(st_open(b_path, &b), ADAPT_OK);
    assert_int_equal(a.count, b.count);
    for (size_t i = 0; i < a.count; i++) {
        const st_tensor *x = &a.tensors[i], *y = st_find(&b, x->name);
        if (!y) fail_msg("%s: tensor %s missing after the round trip", b_path, x->name);
        assert_int_equal(x->dtype, y->dtype);
        assert_int_equal(x->ndim, y->ndim);
        for (int d = 0; d < x->ndim; d++) assert_int_equal(x->shape[d], y->shape[d]);
        assert_memory_equal(x->data, y->data, x->nbytes);
    }
    st_close(&a);
    st_close(&b);
}

/* Same JSON, ignoring only keys listed in `ignore` at the top level (e.g. model_name). */
static void assert_same_json(const char *a_path, const char *b_path, const char *const *ignore, int n_ignore)
{
    cJSON *a, *b;
    assert_int_equal(json_load_file(a_path, &a), ADAPT_OK);
    assert_int_equal(json_load_file(b_path, &b), ADAPT_OK);
    for (int i = 0; i < n_ignore; i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(a, ignore[i]);
        cJSON_DeleteItemFromObjectCaseSensitive(b, ignore[i]);
    }
    /* Numbers: 1 and 1.0 compare equal in cJSON_Compare, which is what Python's json does too. */
    if (!cJSON_Compare(a, b, true)) {
        char *ta = cJSON_Print(a), *tb = cJSON_Print(b);
        fail_msg("JSON differs:\n%s\n--- vs ---\n%s", ta, tb);
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void roundtrip_adapter(const char *model_rel, const char *adapter_rel, const char *name)
{
    adapt_model *m = load_model(model_rel);
    char loaded[64];
    assert_int_equal(adapterhub_load_adapter(m, case_path(adapter_rel), NULL, loaded, sizeof loaded), ADAPT_OK);
    assert_string_equal(loaded, name);
    char *tmp = make_temp_dir(), path_a[8400], path_b[8400], out[4200];
    snprintf(out, sizeof out, "%s/saved", tmp);
    assert_int_equal(adapterhub_save_adapter(m, out, name), ADAPT_OK);
    snprintf(path_a, sizeof path_a, "%s/adapter.safetensors", case_path(adapter_rel));
    snprintf(path_b, sizeof path_b, "%s/adapter.safetensors", out);
    assert_same_tensors(path_a, path_b);
    snprintf(path_a, sizeof path_a, "%s/adapter_config.json", case_path(adapter_rel));
    snprintf(path_b, sizeof path_b, "%s/adapter_config.json", out);
    static const char *const ignore[] = {"model_name"};
    assert_same_json(path_a, path_b, ignore, 1);
    adapt_model_free(m);
    remove_tree(tmp);
    free(tmp);
}

static void test_adapter_roundtrip(void **state)
{
    (void)state;
    roundtrip_adapter("fixtures/models/tiny-bert", "fixtures/cases/c03_seq_bn_tagging/adapter_ner", "ner");
    roundtrip_adapter("fixtures/models/tiny-bert", "fixtures/cases/c04_double_seq_bn_classification/adapter_cls", "cls");
    roundtrip_adapter("fixtures/models/tiny-bert", "fixtures/cases/c05_par_bn_tagging/adapter_par", "par");
    roundtrip_adapter("fixtures/models/tiny-xlmr", "fixtures/cases/c06_madx_lang_adapter_mlm/adapter_qu", "qu");
}

static void test_head_and_fusion_roundtrip(void **state)
{
    (void)state;
    adapt_model *m = load_model("fixtures/models/tiny-bert");
    const char *dirs[] = {"fixtures/cases/c08_fusion/adapter_a", "fixtures/cases/c08_fusion/adapter_b", "fixtures/cases/c08_fusion/adapter_c"};
    for (int i = 0; i < 3; i++) assert_int_equal(adapterhub_load_adapter(m, case_path(dirs[i]), NULL, NULL, 0), ADAPT_OK);
    assert_int_equal(adapterhub_load_fusion(m, case_path("fixtures/cases/c08_fusion/fusion")), ADAPT_OK);
    head h;
    assert_int_equal(adapterhub_load_head(m, case_path("fixtures/cases/c08_fusion/fusion"), NULL, &h), ADAPT_OK);
    assert_int_equal(h.kind, HEAD_CLASSIFICATION);
    assert_int_equal(h.num_labels, 2);
    char *tmp = make_temp_dir(), a[8400], b[8400], out[4200];
    snprintf(out, sizeof out, "%s/fusion", tmp);
    const char *names[] = {"a", "b", "c"};
    assert_int_equal(adapterhub_save_fusion(m, out, names, 3), ADAPT_OK);
    assert_int_equal(adapterhub_save_head(m, out, &h, NULL), ADAPT_OK);
    static const char *const ignore[] = {"model_name"};
    const char *files[][2] = {{"model_adapter_fusion.safetensors", NULL}, {"model_head.safetensors", NULL},
                              {"adapter_fusion_config.json", "json"}, {"head_config.json", "json"}};
    for (int i = 0; i < 4; i++) {
        snprintf(a, sizeof a, "%s/%s", case_path("fixtures/cases/c08_fusion/fusion"), files[i][0]);
        snprintf(b, sizeof b, "%s/%s", out, files[i][0]);
        if (files[i][1]) assert_same_json(a, b, ignore, 1);
        else assert_same_tensors(a, b);
    }
    adapt_model_free(m);
    remove_tree(tmp);
    free(tmp);
}

/* load_as renames every tensor; a second load under the same name is refused. */
static void test_load_as_and_errors(void **state)
{
    (void)state;
    adapt_model *m = load_model("fixtures/models/tiny-bert");
    const char *dir = case_path("fixtures/cases/c03_seq_bn_tagging/adapter_ner");
    assert_int_equal(adapterhub_load_adapter(m, dir, "ner2", NULL, 0), ADAPT_OK);
    assert_non_null(store_get(&m->store, "bert.encoder.layer.1.output.adapters.ner2.adapter_up.weight"));
    assert_null(store_get(&m->store, "bert.encoder.layer.1.output.adapters.ner.adapter_up.weight"));
    assert_int_equal(adapterhub_load_adapter(m, dir, "ner2", NULL, 0), ADAPT_ERR_ARG);
    /* A BERT adapter does not load into an XLM-R model. */
    adapt_model *x = load_model("fixtures/models/tiny-xlmr");
    assert_int_not_equal(adapterhub_load_adapter(x, dir, NULL, NULL, 0), ADAPT_OK);
    assert_non_null(strstr(adapt_error(), "another model type"));
    adapt_model_free(x);
    assert_int_equal(setup_activate(m, "Stack(ner2, missing)"), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "missing"));
    assert_int_equal(setup_delete_adapter(m, "ner2"), ADAPT_OK);
    assert_null(store_get(&m->store, "bert.encoder.layer.1.output.adapters.ner2.adapter_up.weight"));
    adapt_model_free(m);
}

static void test_composition_strings(void **state)
{
    (void)state;
    static const char *good[][2] = {
        {"ner", "ner"},
        {"Stack(qu, ner)", "Stack(qu, ner)"},
        {" stack ( qu ,Fuse(sst2, cola,mrpc) ) ", "Stack(qu, Fuse(sst2, cola, mrpc))"},
        {"BatchSplit(x, Stack(a, y), batch_sizes=[2, 1])", "BatchSplit(x, Stack(a, y), batch_sizes=[2, 1])"},
        {"Average(a, b, weights=[1, 3])", "Average(a, b, weights=[0.25, 0.75])"},
        {"Average(a, b, weights=[2, 2])", "Average(a, b)"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        comp_node *n = NULL;
        if (comp_parse(good[i][0], &n) != ADAPT_OK) fail_msg("%s: %s", good[i][0], adapt_error());
        char buf[256];
        comp_format(n, buf, sizeof buf);
        assert_string_equal(buf, good[i][1]);
        if (n->kind == COMP_AVERAGE && i == 4) {
            assert_true(fabs(n->weights[0] - 0.25) < 1e-12);
            assert_true(fabs(n->weights[1] - 0.75) < 1e-12);
        }
        comp_free(n);
    }
    static const char *bad[] = {"", "Stack(", "Stack()", "Fuse(a, Stack(b, c))", "BatchSplit(a, b)", "BatchSplit(a, b, batch_sizes=[1])",
                                "Stack(a) extra", "Frobnicate(a)", "Stack(a, weights=[1])", "a.b",
                                "Stack(Stack(Stack(Stack(Stack(Stack(Stack(Stack(Stack(Stack(Stack(Stack(Stack(Stack(Stack(Stack(Stack(a)))))))))))))))))"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        comp_node *n = NULL;
        if (comp_parse(bad[i], &n) == ADAPT_OK) fail_msg("accepted \"%s\"", bad[i]);
        assert_null(n);
    }
}

/* Logits of the tiny-bert + LoRA (c10) model with the LoRA branch, merged, and unmerged again. */
static void test_lora_merge_unmerge(void **state)
{
    (void)state;
    adapt_model *m = load_model("fixtures/models/tiny-bert");
    assert_int_equal(peft_load(m, case_path("fixtures/cases/c10_lora_tagging/lora")), ADAPT_OK);
    head h;
    assert_int_equal(head_create(m, &h, HEAD_TOKEN_CLASSIFIER, "classifier", 5), ADAPT_OK);
    enum { B = 2, T = 6, C = 5 };
    int32_t ids[B * T] = {2, 40, 41, 42, 3, 0, 2, 100, 200, 300, 400, 3};
    int32_t mask[B * T] = {1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1};
    float base[B * T * C], merged[B * T * C], unmerged[B * T * C];
    param *q = store_get(&m->store, "bert.encoder.layer.0.attention.self.query.weight");
    float *q_before = malloc(q->numel * sizeof(float));
    memcpy(q_before, q->data, q->numel * sizeof(float));
    assert_int_equal(model_forward(m, B, T, ids, mask, NULL), ADAPT_OK);
    assert_int_equal(head_forward(m, &h, base), ADAPT_OK);
    assert_int_equal(lora_merge(m), ADAPT_OK);
    assert_int_equal(lora_merge(m), ADAPT_ERR_ARG); /* twice is refused */
    assert_int_equal(model_forward(m, B, T, ids, mask, NULL), ADAPT_OK);
    assert_int_equal(head_forward(m, &h, merged), ADAPT_OK);
    assert_int_equal(lora_unmerge(m), ADAPT_OK);
    assert_int_equal(model_forward(m, B, T, ids, mask, NULL), ADAPT_OK);
    assert_int_equal(head_forward(m, &h, unmerged), ADAPT_OK);
    double diff = 0, norm = 0, wdiff = 0, moved = 0;
    for (int i = 0; i < B * T * C; i++) {
        diff += (double)(base[i] - merged[i]) * (base[i] - merged[i]);
        norm += (double)base[i] * base[i];
        assert_true(fabsf(base[i] - unmerged[i]) <= 1e-5f * (1 + fabsf(base[i])));
    }
    for (size_t i = 0; i < q->numel; i++) wdiff = fmax(wdiff, fabs(q->data[i] - q_before[i]));
    printf("    merged vs unmerged logits: relative difference %.2e; weights restored to %.1e\n", sqrt(diff / norm), wdiff);
    assert_true(sqrt(diff / norm) < 1e-5);
    assert_true(wdiff < 1e-6);
    /* The merge did change the weights (a no-op merge would pass the checks above too). */
    assert_int_equal(lora_merge(m), ADAPT_OK);
    for (size_t i = 0; i < q->numel; i++) moved = fmax(moved, fabs(q->data[i] - q_before[i]));
    assert_true(moved > 1e-3);
    free(q_before);
    adapt_model_free(m);
}

static void test_peft_roundtrip(void **state)
{
    (void)state;
    adapt_model *m = load_model("fixtures/models/tiny-bert");
    const char *dir = case_path("fixtures/cases/c10_lora_tagging/lora");
    assert_int_equal(peft_load(m, dir), ADAPT_OK);
    char *tmp = make_temp_dir(), a[8400], b[8400], out[4200];
    snprintf(out, sizeof out, "%s/peft", tmp);
    assert_int_equal(peft_save(m, out, "TOKEN_CLS"), ADAPT_OK);
    snprintf(a, sizeof a, "%s/adapter_model.safetensors", dir);
    snprintf(b, sizeof b, "%s/adapter_model.safetensors", out);
    assert_same_tensors(a, b);
    snprintf(a, sizeof a, "%s/adapter_config.json", dir);
    snprintf(b, sizeof b, "%s/adapter_config.json", out);
    static const char *const ignore[] = {"base_model_name_or_path"};
    assert_same_json(a, b, ignore, 1);
    assert_int_equal(peft_load(m, out), ADAPT_ERR_ARG); /* refused before the file overwrites the loaded weights */
    adapt_model_free(m);

    /* A config whose target_modules leave out tensors the file holds ("value"): refused, nothing left behind. */
    char *config = NULL;
    size_t len = 0;
    snprintf(a, sizeof a, "%s/adapter_config.json", out);
    assert_int_equal(file_read_all(a, 1 << 20, &config, &len), ADAPT_OK);
    char *value = strstr(config, "\"value\"");
    assert_non_null(value);
    memcpy(value, "\"query\"", 7); /* the same length: ["query", "query"] */
    write_file(a, config, len);
    free(config);
    m = load_model("fixtures/models/tiny-bert");
    assert_int_equal(peft_load(m, out), ADAPT_ERR_FORMAT);
    if (strncmp(adapt_error(), out, strlen(out)) || !strstr(adapt_error(), "value.lora_A.weight"))
        fail_msg("message \"%s\" should name the folder and a tensor of \"value\"", adapt_error());
    for (size_t i = 0; i < m->store.count; i++) assert_null(strstr(m->store.items[i]->name, ".lora_"));
    adapt_model_free(m);
    remove_tree(tmp);
    free(tmp);
}

/* dst/<file> = src/<file> with tensor `from` renamed to `to` (the same length, so the offsets
 * hold) in its header; the folder's other files copied as they are. */
static void copy_with_renamed_tensor(const char *src, const char *dst, const char *file, const char *from, const char *to)
{
    static const char *const files[] = {"adapter_config.json", "adapter.safetensors", "head_config.json", "model_head.safetensors"};
    assert_int_equal(strlen(from), strlen(to));
    assert_int_equal(run_command("mkdir -p '%s'", dst), 0);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *data = NULL;
        size_t len = 0;
        assert_int_equal(file_read_all(path_in(src, files[i]), 1 << 24, &data, &len), ADAPT_OK);
        if (!strcmp(files[i], file)) {
            char *at = NULL;
            for (size_t k = 8; !at && k + strlen(from) <= len; k++)
                if (!memcmp(data + k, from, strlen(from))) at = data + k;
            if (!at) fail_msg("%s/%s has no tensor %s", src, file, from);
            memcpy(at, to, strlen(to));
        }
        write_file(path_in(dst, files[i]), data, len);
        free(data);
    }
}

static size_t tensors_containing(const adapt_model *m, const char *part)
{
    size_t n = 0;
    for (size_t i = 0; i < m->store.count; i++) n += strstr(m->store.items[i]->name, part) != NULL;
    return n;
}

/* A file missing a tensor its config needs, or carrying one it does not describe, is refused with
 * the folder and tensor named, and leaves nothing behind; a second load under a loaded name does
 * not touch the loaded one's values. */
static void test_load_refuses_incomplete_files(void **state)
{
    (void)state;
    const char *good = case_path("fixtures/cases/c03_seq_bn_tagging/adapter_ner");
    char *tmp = make_temp_dir();
    adapt_model *m = load_model("fixtures/models/tiny-bert");

    char no_bias[4200];
    snprintf(no_bias, sizeof no_bias, "%s/no_bias", tmp);
    copy_with_renamed_tensor(good, no_bias, "adapter.safetensors", "layer.1.output.adapters.ner.adapter_up.bias",
                             "layer.1.output.adapters.ner.adapter_up.bixs");
    assert_int_equal(adapterhub_load_adapter(m, no_bias, NULL, NULL, 0), ADAPT_ERR_FORMAT);
    if (strncmp(adapt_error(), no_bias, strlen(no_bias)) || !strstr(adapt_error(), "missing tensor") ||
        !strstr(adapt_error(), "layer.1.output.adapters.ner.adapter_up.bias"))
        fail_msg("message \"%s\" should name the folder and the missing tensor", adapt_error());
    assert_int_equal(tensors_containing(m, ".adapters.ner."), 0);
    /* the folder goes first unless the message starts with it, as a folder or a file in it */
    adapt_fail_in(adapt_fail(ADAPT_ERR_FORMAT, "head tensor x"), "h");
    assert_string_equal(adapt_error(), "h: head tensor x");
    adapt_fail_in(adapt_fail(ADAPT_ERR_FORMAT, "h/head_config.json: bad"), "h");
    assert_string_equal(adapt_error(), "h/head_config.json: bad");

    head h;
    char head_no_bias[4200];
    snprintf(head_no_bias, sizeof head_no_bias, "%s/head_no_bias", tmp);
    copy_with_renamed_tensor(good, head_no_bias, "model_head.safetensors", "heads.ner.1.bias", "heads.ner.1.bixs");
    assert_int_equal(adapterhub_load_head(m, head_no_bias, NULL, &h), ADAPT_ERR_FORMAT);
    if (strncmp(adapt_error(), head_no_bias, strlen(head_no_bias)) || !strstr(adapt_error(), "heads.ner.1.bias"))
        fail_msg("message \"%s\" should name the folder and the missing tensor", adapt_error());
    assert_int_equal(tensors_containing(m, "heads.ner."), 0);

    /* A file with every tensor and one more: saved from a model that holds an extra tensor under the adapter's name. */
    assert_int_equal(adapterhub_load_adapter(m, good, NULL, NULL, 0), ADAPT_OK);
    assert_int_equal(adapterhub_load_head(m, good, NULL, &h), ADAPT_OK);
    param *extra = NULL;
    int64_t shape[1] = {4};
    assert_int_equal(store_add(&m->store, "bert.encoder.layer.0.output.adapters.ner.gate.bias", 1, shape, &extra), ADAPT_OK);
    char stray[4200];
    snprintf(stray, sizeof stray, "%s/stray", tmp);
    assert_int_equal(adapterhub_save_adapter(m, stray, "ner"), ADAPT_OK);
    adapt_model *fresh = load_model("fixtures/models/tiny-bert");
    assert_int_equal(adapterhub_load_adapter(fresh, stray, NULL, NULL, 0), ADAPT_ERR_FORMAT);
    if (!strstr(adapt_error(), "adapters.ner.gate.bias") || !strstr(adapt_error(), "not part of"))
        fail_msg("message \"%s\" should name the stray tensor", adapt_error());
    assert_int_equal(tensors_containing(fresh, ".adapters.ner."), 0);
    assert_int_equal(adapterhub_load_adapter(fresh, good, NULL, NULL, 0), ADAPT_OK); /* nothing left in the way */
    adapt_model_free(fresh);

    /* The same name again, from a file with other values: refused before anything is read. */
    const char *up = "bert.encoder.layer.1.output.adapters.ner.adapter_up.weight";
    param *p = store_get(&m->store, up);
    assert_non_null(p);
    float before = p->data[0];
    p->data[0] = before + 1.0f;
    store_remove(&m->store, "bert.encoder.layer.0.output.adapters.ner.gate.bias");
    char changed[4200];
    snprintf(changed, sizeof changed, "%s/changed", tmp);
    assert_int_equal(adapterhub_save_adapter(m, changed, "ner"), ADAPT_OK);
    p->data[0] = before;
    assert_int_equal(adapterhub_load_adapter(m, changed, NULL, NULL, 0), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "already loaded"));
    assert_true(store_get(&m->store, up)->data[0] == before);
    assert_int_equal(adapterhub_load_head(m, good, NULL, &h), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "already loaded"));

    adapt_model_free(m);
    remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adapter_roundtrip),
        cmocka_unit_test(test_head_and_fusion_roundtrip),
        cmocka_unit_test(test_load_as_and_errors),
        cmocka_unit_test(test_load_refuses_incomplete_files),
        cmocka_unit_test(test_composition_strings),
        cmocka_unit_test(test_lora_merge_unmerge),
        cmocka_unit_test(test_peft_roundtrip),
    };
    return cmocka_run_group_tests_name("adapter files", tests, NULL, NULL);
}
