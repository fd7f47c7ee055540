/* Adapter operations: linear averaging (library and `adapt adapters average`), renaming through
 * `adapt adapters rename`, listing, and their errors. Uses the c08 adapters a and c (same config;
 * b has another reduction factor). */
#include "adapters/ops.h"
#include "formats/adapterhub.h"
#include "formats/safetensors.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C08 "fixtures/cases/c08_fusion/"

static adapt_model *load_model(void)
{
    adapt_model *m = NULL;
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &m), ADAPT_OK);
    return m;
}

static int adapt_cli(const char *tmp, const char *fmt, const char *a1, const char *a2, const char *a3)
{
    char args[8192];
    snprintf(args, sizeof args, fmt, a1, a2, a3);
    return run_command("cd '%s' && '%s/%s' %s > cli.log 2>&1", tmp, getenv("PWD") ? getenv("PWD") : ".", build_path("adapt"), args);
}

static const param *adapter_tensor(const adapt_model *m, const char *name, const char *suffix)
{
    char full[256];
    snprintf(full, sizeof full, "bert.encoder.layer.1.output.adapters.%s.%s", name, suffix);
    const param *p = store_get(&m->store, full);
    if (!p) fail_msg("missing %s", full);
    return p;
}

/* avg = 0.25 a + 0.75 b (weights 1 and 3, normalised), every tensor, to float rounding. */
static void test_average_library(void **state)
{
    (void)state;
    adapt_model *m = load_model();
    assert_int_equal(adapterhub_load_adapter(m, shared_path(C08 "adapter_a"), NULL, NULL, 0), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(m, shared_path(C08 "adapter_c"), NULL, NULL, 0), ADAPT_OK);
    const char *src[] = {"a", "c"};
    const double w[] = {1, 3};
    assert_int_equal(adapters_average(m, "avg", src, w, 2), ADAPT_OK);
    assert_int_equal(adapter_param_count(m, "avg"), adapter_param_count(m, "a"));
    assert_true(adapter_param_count(m, "avg") > 0);
    static const char *suffixes[] = {"adapter_down.0.weight", "adapter_down.0.bias", "adapter_up.weight", "adapter_up.bias"};
    for (int k = 0; k < 4; k++) {
        const param *a = adapter_tensor(m, "a", suffixes[k]), *b = adapter_tensor(m, "c", suffixes[k]),
                    *v = adapter_tensor(m, "avg", suffixes[k]);
        double moved = 0;
        for (size_t i = 0; i < v->numel; i++) {
            double want = 0.25 * a->data[i] + 0.75 * b->data[i];
            assert_true(fabs(v->data[i] - want) <= 1e-7 * (1 + fabs(want)));
            moved += fabs(a->data[i] - b->data[i]);
        }
        assert_true(moved > 0); /* the two sources differ, so the check means something */
    }
    /* equal weights by default; zero-sum and non-finite weights, unknown names are refused */
    assert_int_equal(adapters_average(m, "mean", src, NULL, 2), ADAPT_OK);
    const param *a = adapter_tensor(m, "a", "adapter_up.weight"), *b = adapter_tensor(m, "c", "adapter_up.weight"),
                *mean = adapter_tensor(m, "mean", "adapter_up.weight");
    assert_true(fabsf(mean->data[3] - 0.5f * (a->data[3] + b->data[3])) < 1e-7f);
    const double zero[] = {1, -1}, bad[] = {1, NAN};
    assert_int_equal(adapters_average(m, "z", src, zero, 2), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "sum to 0"));
    assert_int_equal(adapters_average(m, "z", src, bad, 2), ADAPT_ERR_ARG);
    const char *missing[] = {"a", "nope"};
    assert_int_equal(adapters_average(m, "z", missing, NULL, 2), ADAPT_ERR_ARG);
    assert_null(setup_find_adapter(m->setup, "z"));
    /* different configs */
    assert_int_equal(adapterhub_load_adapter(m, shared_path(C08 "adapter_b"), NULL, NULL, 0), ADAPT_OK);
    const char *mixed[] = {"a", "b"};
    assert_int_equal(adapters_average(m, "z", mixed, NULL, 2), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "different configs"));
    assert_null(setup_find_adapter(m->setup, "z"));
    adapt_model_free(m);
}

/* The CLI writes an AdapterHub folder whose tensors are the weighted average. */
static void test_average_cli(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    assert_int_equal(adapt_cli(tmp, "adapters average --model '%s' --output avg --name mix '%s=0.25' '%s=0.75'",
                               shared_path("fixtures/models/tiny-bert"), shared_path(C08 "adapter_a"), shared_path(C08 "adapter_c")),
                     0);
    adapt_model *m = load_model();
    char dir[4200], loaded[64];
    snprintf(dir, sizeof dir, "%s/avg", tmp);
    assert_int_equal(adapterhub_load_adapter(m, dir, NULL, loaded, sizeof loaded), ADAPT_OK);
    assert_string_equal(loaded, "mix");
    assert_int_equal(adapterhub_load_adapter(m, shared_path(C08 "adapter_a"), NULL, NULL, 0), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(m, shared_path(C08 "adapter_c"), NULL, NULL, 0), ADAPT_OK);
    const param *a = adapter_tensor(m, "a", "adapter_down.0.weight"), *b = adapter_tensor(m, "c", "adapter_down.0.weight"),
                *v = adapter_tensor(m, "mix", "adapter_down.0.weight");
    for (size_t i = 0; i < v->numel; i++) assert_true(fabsf(v->data[i] - (0.25f * a->data[i] + 0.75f * b->data[i])) < 1e-6f);
    adapt_model_free(m);
    /* the same folder twice (one name) averages to itself; different configs name the adapters */
    assert_int_equal(adapt_cli(tmp, "adapters average --model '%s' --output same --name same '%s' '%s'", shared_path("fixtures/models/tiny-bert"),
                               shared_path(C08 "adapter_a"), shared_path(C08 "adapter_a")),
                     0);
    assert_int_equal(adapt_cli(tmp, "adapters average --model '%s' --output x --name y '%s' '%s'", shared_path("fixtures/models/tiny-bert"),
                               shared_path(C08 "adapter_a"), shared_path(C08 "adapter_b")),
                     1);
    assert_int_equal(run_command("grep -q 'adapters \"a\" and \"b\" have different configs' '%s/cli.log'", tmp), 0);
    /* a bad weight and a missing folder are clear errors */
    assert_int_equal(adapt_cli(tmp, "adapters average --model '%s' --output x --name y '%s=abc' '%s'", shared_path("fixtures/models/tiny-bert"),
                               shared_path(C08 "adapter_a"), shared_path(C08 "adapter_b")),
                     2);
    assert_int_equal(adapt_cli(tmp, "adapters average --model '%s' --output x --name y '%s' '%s/nowhere'", shared_path("fixtures/models/tiny-bert"),
                               shared_path(C08 "adapter_a"), tmp),
                     1);
    assert_int_equal(run_command("grep -q 'nowhere/adapter_config.json' '%s/cli.log'", tmp), 0);
    remove_tree(tmp);
    free(tmp);
}

/* rename: every tensor keeps its bytes under the new name; the head follows. */
static void test_rename_roundtrip(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    const char *src = shared_path("fixtures/cases/c03_seq_bn_tagging/adapter_ner");
    assert_int_equal(adapt_cli(tmp, "adapters rename --model '%s' '%s' %s out", shared_path("fixtures/models/tiny-bert"), src, "tagger"), 0);
    char a_path[4400], b_path[4400];
    snprintf(a_path, sizeof a_path, "%s/adapter.safetensors", src);
    snprintf(b_path, sizeof b_path, "%s/out/adapter.safetensors", tmp);
    st_file a, b;
    assert_int_equal(st_open(a_path, &a), ADAPT_OK);
    assert_int_equal(st_open(b_path, &b), ADAPT_OK);
    assert_int_equal(a.count, b.count);
    for (size_t i = 0; i < a.count; i++) {
        char want[512];
        const char *at = strstr(a.tensors[i].name, ".adapters.ner.");
        assert_non_null(at);
        snprintf(want, sizeof want, "%.*s.adapters.tagger.%s", (int)(at - a.tensors[i].name), a.tensors[i].name, at + strlen(".adapters.ner."));
        const st_tensor *y = st_find(&b, want);
        if (!y) fail_msg("renamed tensor %s missing", want);
        assert_int_equal(a.tensors[i].nbytes, y->nbytes);
        assert_memory_equal(a.tensors[i].data, y->data, y->nbytes);
    }
    st_close(&a);
    st_close(&b);
    assert_int_equal(run_command("grep -q '\"name\":[[:space:]]*\"tagger\"' '%s/out/adapter_config.json' && grep -q '\"name\":[[:space:]]*\"tagger\"' "
                                 "'%s/out/head_config.json' && grep -q 'heads.tagger.1.weight' '%s/out/model_head.safetensors'",
                                 tmp, tmp, tmp),
                     0);
    /* the renamed folder loads under its new name; a bad name is refused */
    adapt_model *m = load_model();
    char dir[4200], loaded[64];
    snprintf(dir, sizeof dir, "%s/out", tmp);
    assert_int_equal(adapterhub_load_adapter(m, dir, NULL, loaded, sizeof loaded), ADAPT_OK);
    assert_string_equal(loaded, "tagger");
    adapt_model_free(m);
    assert_int_equal(adapt_cli(tmp, "adapters rename --model '%s' '%s' %s out2", shared_path("fixtures/models/tiny-bert"), src, "'a.b'"), 1);
    assert_int_equal(run_command("grep -q 'adapter name' '%s/cli.log'", tmp), 0);
    remove_tree(tmp);
    free(tmp);
}

static void test_list(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    char last_two[2100];
    snprintf(last_two, sizeof last_two, "'%s' '%s'", shared_path(C08 "fusion"), shared_path("fixtures/cases/c10_lora_tagging/lora"));
    assert_int_equal(adapt_cli(tmp, "adapters list '%s' '%s' %s", shared_path("fixtures/models/tiny-bert"),
                               shared_path("fixtures/cases/c04_double_seq_bn_classification/adapter_cls"), last_two),
                     0);
    /* the PEFT folder: r 4 on query and value of 2 layers, A [4, 32] and B [32, 4] each */
    assert_int_equal(run_command("cd '%s' && grep -q 'double_seq_bn, reduction_factor 4 (bottleneck 8), swish' cli.log && "
                                 "grep -q 'attention.output: layers 0-1; output: layers 0-1' cli.log && "
                                 "grep -q 'parameters:  2208 (5.923%% of' cli.log && grep -q 'classification \"cls\"' cli.log && "
                                 "grep -q 'Fuse(a,b,c)' cli.log && grep -q 'r 4, lora_alpha 8 (scaling 2)' cli.log && "
                                 "grep -q 'query, value: 4 linear layers of 12' cli.log && grep -q 'parameters:  1024 (' cli.log && "
                                 "grep -q 'modules_to_save: classifier' cli.log",
                                 tmp),
                     0);
    remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_average_library),
        cmocka_unit_test(test_average_cli),
        cmocka_unit_test(test_rename_roundtrip),
        cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests_name("adapter operations", tests, NULL, NULL);
}
