/* Fixture cases: build/adapt-case computes each case's tensors; they must match the float64
 * oracle under the fixture rule. Also shows the comparison catches a perturbed weight. */
#include "case_compare.h"
#include "formats/safetensors.h"
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_case(const char *name)
{
    char case_dir[4096], expected[4200];
    snprintf(case_dir, sizeof case_dir, "%s", shared_path("fixtures/cases"));
    strncat(case_dir, "/", sizeof case_dir - strlen(case_dir) - 1);
    strncat(case_dir, name, sizeof case_dir - strlen(case_dir) - 1);
    snprintf(expected, sizeof expected, "%s/expected.safetensors", case_dir);
    char *tmp = make_temp_dir();
    char out[4200];
    snprintf(out, sizeof out, "%s/out.safetensors", tmp);
    int rc = run_adapt_case(case_dir, out);
    assert_int_equal(rc, 0);
    compare_result r;
    bool ok = compare_case_outputs(expected, out, &r);
    printf("    %s: %zu tensors, max relative error %.2e (%s)\n", name, r.compared, r.max_rel_error, r.worst);
    assert_int_equal(r.missing, 0);
    assert_int_equal(r.failed, 0);
    assert_true(ok);
    assert_true(r.compared > 0);
    remove_tree(tmp);
    free(tmp);
}

static void test_c01_bert_forward_mlm(void **state) { (void)state; check_case("c01_bert_forward_mlm"); }
static void test_c02_xlmr_forward_mlm(void **state) { (void)state; check_case("c02_xlmr_forward_mlm"); }
static void test_c13_hf_sharded_roberta(void **state) { (void)state; check_case("c13_hf_sharded_roberta"); }
static void test_c03_seq_bn_tagging(void **state) { (void)state; check_case("c03_seq_bn_tagging"); }
static void test_c04_double_seq_bn_classification(void **state) { (void)state; check_case("c04_double_seq_bn_classification"); }
static void test_c05_par_bn_tagging(void **state) { (void)state; check_case("c05_par_bn_tagging"); }
static void test_c06_madx_lang_adapter_mlm(void **state) { (void)state; check_case("c06_madx_lang_adapter_mlm"); }
static void test_c07_madx_stack_tagging(void **state) { (void)state; check_case("c07_madx_stack_tagging"); }
static void test_c08_fusion(void **state) { (void)state; check_case("c08_fusion"); }
static void test_c09_full_finetune_tagging(void **state) { (void)state; check_case("c09_full_finetune_tagging"); }
static void test_c10_lora_tagging(void **state) { (void)state; check_case("c10_lora_tagging"); }
static void test_c11_adamw_steps(void **state) { (void)state; check_case("c11_adamw_steps"); }
static void test_c12_batch_split(void **state) { (void)state; check_case("c12_batch_split"); }

/* A copy of tiny-bert with one attention weight nudged by 1e-2 must fail the comparison. */
static void test_perturbed_weight_fails(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    char model_dir[4200], path[4300], case_dir[4200];
    snprintf(model_dir, sizeof model_dir, "%s/model", tmp);
    snprintf(case_dir, sizeof case_dir, "%s/case", tmp);
    assert_int_equal(run_command("mkdir -p '%s' '%s' && cp '%s' '%s/' && cp '%s' '%s/'", model_dir, case_dir,
                                 shared_path("fixtures/models/tiny-bert/config.json"), model_dir,
                                 shared_path("fixtures/cases/c01_bert_forward_mlm/inputs.safetensors"), case_dir), 0);
    st_file f;
    assert_int_equal(st_open(shared_path("fixtures/models/tiny-bert/model.safetensors"), &f), ADAPT_OK);
    adapt_tensor_desc *d = calloc(f.count, sizeof *d);
    float *nudged = NULL;
    for (size_t i = 0; i < f.count; i++) {
        const st_tensor *t = &f.tensors[i];
        d[i].name = t->name;
        d[i].dtype = t->dtype;
        d[i].ndim = t->ndim;
        memcpy(d[i].shape, t->shape, sizeof t->shape);
        d[i].data = t->data;
        if (!strcmp(t->name, "bert.encoder.layer.1.attention.self.query.weight")) {
            nudged = malloc(t->nbytes);
            memcpy(nudged, t->data, t->nbytes);
            nudged[5] += 1e-2f;
            d[i].data = nudged;
        }
    }
    assert_non_null(nudged);
    snprintf(path, sizeof path, "%s/model.safetensors", model_dir);
    assert_int_equal(adapt_safetensors_write(path, d, f.count, NULL, 0), ADAPT_OK);
    st_close(&f);
    free(d);
    free(nudged);
    snprintf(path, sizeof path, "%s/case.json", case_dir);
    char json[8600];
    int n = snprintf(json, sizeof json, "{\"model\": \"%s\", \"head\": [\"mlm\"], \"trainable\": [], \"setup\": null, \"lora\": null}", model_dir);
    write_file(path, json, (size_t)n);
    char out[4300];
    snprintf(out, sizeof out, "%s/out.safetensors", tmp);
    assert_int_equal(run_adapt_case(case_dir, out), 0);
    compare_result r;
    bool ok = compare_case_outputs(shared_path("fixtures/cases/c01_bert_forward_mlm/expected.safetensors"), out, &r);
    assert_false(ok);
    assert_true(r.failed >= 1);
    remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c01_bert_forward_mlm),
        cmocka_unit_test(test_c02_xlmr_forward_mlm),
        cmocka_unit_test(test_c13_hf_sharded_roberta),
        cmocka_unit_test(test_c03_seq_bn_tagging),
        cmocka_unit_test(test_c04_double_seq_bn_classification),
        cmocka_unit_test(test_c05_par_bn_tagging),
        cmocka_unit_test(test_c06_madx_lang_adapter_mlm),
        cmocka_unit_test(test_c07_madx_stack_tagging),
        cmocka_unit_test(test_c08_fusion),
        cmocka_unit_test(test_c09_full_finetune_tagging),
        cmocka_unit_test(test_c10_lora_tagging),
        cmocka_unit_test(test_c11_adamw_steps),
        cmocka_unit_test(test_c12_batch_split),
        cmocka_unit_test(test_perturbed_weight_fails),
    };
    return cmocka_run_group_tests_name("fixture cases", tests, NULL, NULL);
}
