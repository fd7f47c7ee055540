/* `adapt eval`, AdapterFusion training through `adapt train --fusion`, and `adapt fusion-attention`,
 * on a tiny random model and a few dozen examples (seconds): eval reproduces the trainer's dev
 * metric; the fusion's weights move, its folder reloads and scores the same; the attention
 * averages are distributions over the adapters. */
#include "adapters/fusion_train.h"
#include "adapters/setup.h"
#include "core/json.h"
#include "formats/adapterhub.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *tmp;

static const char *at(const char *rel)
{
    static char buf[8][4400];
    static int k;
    char *p = buf[k++ & 7];
    snprintf(p, 4400, "%s/%s", tmp, rel);
    return p;
}

static int adapt(const char *args) { return run_adapt(tmp, args); }

static int setup(void **state)
{
    (void)state;
    tmp = make_temp_dir();
    const char *S = shared_dir();
    if (run_command("cd '%s' && "
                    "awk 'BEGIN{RS=\"\"; ORS=\"\\n\\n\"} NR<=40' '%s/data/ner/wikiann-en/train.conll' > train.conll && "
                    "awk 'BEGIN{RS=\"\"; ORS=\"\\n\\n\"} NR<=20' '%s/data/ner/wikiann-en/dev.conll' > dev.conll && "
                    "head -n 41 '%s/data/glue/RTE/train.tsv' > rte_train.tsv && head -n 21 '%s/data/glue/RTE/dev.tsv' > rte_dev.tsv && "
                    "head -n 41 '%s/data/glue/SST-2/train.tsv' > sst_train.tsv",
                    tmp, S, S, S, S, S))
        return -1;
    const char *common = "--max-steps 6 --batch-size 4 --max-length 64 --lr 5e-3 --quiet";
    char cmd[1024];
    int rc = make_tiny_roberta(tmp, false);
    snprintf(cmd, sizeof cmd, "train --task ner --model base --train train.conll --dev dev.conll --output ner %s", common);
    if (!rc) rc = adapt(cmd);
    snprintf(cmd, sizeof cmd, "train --task rte --model base --train rte_train.tsv --dev rte_dev.tsv --output rte %s", common);
    if (!rc) rc = adapt(cmd);
    /* without a dev set (and without --quiet): the last step is kept, and the run says so */
    snprintf(cmd, sizeof cmd, "train --task sst2 --model base --train sst_train.tsv --output sst --max-steps 6 "
                              "--batch-size 4 --max-length 64 --lr 5e-3");
    if (!rc) rc = adapt(cmd);
    if (!rc) rc = run_command("grep -q \"no dev set: the last step's weights kept as best (step 6)\" '%s/last.log'", tmp);
    if (rc) run_command("cat '%s/last.log' >&2", tmp); /* why the setup failed */
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    remove_tree(tmp);
    free(tmp);
    return 0;
}

/* eval on the dev file gives the metric the trainer recorded for its best (= saved) checkpoint. */
static void test_eval_matches_trainer(void **state)
{
    (void)state;
    assert_int_equal(adapt("eval --model base --load-adapter ner/best/ner --data dev.conll --max-length 64 --json ner_eval.json"), 0);
    assert_true(fabs(json_file_number(at("ner_eval.json"), "value") - json_file_number(at("ner/summary.json"), "best_dev_metric")) < 0.01);
    assert_true(json_file_number(at("ner_eval.json"), "token_accuracy") > 0); /* the head predicts some tags */
    assert_int_equal(adapt("eval --model base --load-adapter rte/best/rte --data rte_dev.tsv --task rte --max-length 64 --json rte_eval.json"), 0);
    assert_true(fabs(json_file_number(at("rte_eval.json"), "value") - json_file_number(at("rte/summary.json"), "best_dev_metric")) < 0.01);
    assert_int_equal(json_file_number(at("rte_eval.json"), "examples"), 20);
    /* wrong head for the data, unknown label, unknown task */
    assert_int_equal(adapt("eval --model base --load-adapter ner/best/ner --data rte_dev.tsv --task rte"), 1);
    assert_log_says(tmp, "not a classification head");
    assert_int_equal(adapt("eval --model base --load-adapter rte/best/rte --data dev.conll --task ner"), 1);
    assert_log_says(tmp, "not a tagging head");
    assert_int_equal(adapt("eval --model base --load-adapter rte/best/rte --data rte_dev.tsv --task nope"), 1);
    assert_log_says(tmp, "unknown task");
}

/* Fuse(rte, sst2) trained on RTE with the adapters frozen: the fusion moves, the adapters do not,
 * the saved folder reloads and scores as the trainer said. */
static void test_fusion_training(void **state)
{
    (void)state;
    assert_int_equal(adapt("train --task rte --model base --train rte_train.tsv --dev rte_dev.tsv --output fus --name fus "
                           "--load-adapter rte/best/rte --load-adapter sst/best/sst2 --fusion rte,sst2 --max-steps 6 --batch-size 4 "
                           "--max-length 64 --lr 1e-2 --eval-every 3 --quiet"),
                     0);
    assert_int_equal(run_command("grep -q '\"method\": \"fusion\"' '%s'", at("fus/summary.json")), 0);
    /* only the fusion and the head were saved (frozen adapters stay in their own folders) */
    assert_int_equal(run_command("test -s '%s' && test -s '%s' && test ! -e '%s'", at("fus/best/fus/model_adapter_fusion.safetensors"),
                                 at("fus/best/fus/head_config.json"), at("fus/best/fus/adapter_config.json")),
                     0);
    adapt_model *m;
    assert_int_equal(adapt_model_load(at("base"), &m), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(m, at("rte/best/rte"), NULL, NULL, 0), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(m, at("sst/best/sst2"), NULL, NULL, 0), ADAPT_OK);
    assert_int_equal(adapterhub_load_fusion(m, at("fus/best/fus")), ADAPT_OK);
    const char *names[] = {"rte", "sst2"};
    const fusion_def *f = setup_find_fusion(m->setup, names, 2);
    assert_non_null(f);
    /* value starts at the identity (1e-6 off the diagonal): training moved it */
    const param *v = f->out[1].value_w;
    assert_non_null(v);
    double moved = 0;
    for (int i = 0; i < 32; i++)
        for (int j = 0; j < 32; j++) moved = fmax(moved, fabs(v->data[i * 32 + j] - (i == j ? 1.0 : 1e-6)));
    assert_true(moved > 1e-4);
    adapt_model_free(m);
    assert_int_equal(adapt("eval --model base --load-adapter rte/best/rte --load-adapter sst/best/sst2 --fusion fus/best/fus "
                           "--data rte_dev.tsv --task rte --max-length 64 --json fus_eval.json"),
                     0);
    assert_true(fabs(json_file_number(at("fus_eval.json"), "value") - json_file_number(at("fus/summary.json"), "best_dev_metric")) < 0.01);
    /* a fusion over an adapter that is not loaded */
    assert_int_equal(adapt("train --task rte --model base --train rte_train.tsv --output bad --load-adapter rte/best/rte --fusion rte,nope "
                           "--max-steps 1 --quiet"),
                     1);
    assert_log_says(tmp, "no adapter named \"nope\"");
}

static void check_distributions(const char *path)
{
    cJSON *root;
    assert_int_equal(json_load_file(path, &root), ADAPT_OK);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers"), *row;
    assert_int_equal(cJSON_GetArraySize(layers), 2); /* output of layers 0 and 1 (seq_bn has no attention adapter) */
    cJSON_ArrayForEach(row, layers)
    {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(row, "weights"), *x;
        double sum = 0;
        cJSON_ArrayForEach(x, w)
        {
            assert_true(x->valuedouble > 0 && x->valuedouble < 1);
            sum += x->valuedouble;
        }
        assert_true(fabs(sum - 1) < 1e-5);
    }
    cJSON_Delete(root);
}

static void test_fusion_attention(void **state)
{
    (void)state;
    const char *load = "--model base --load-adapter rte/best/rte --load-adapter sst/best/sst2 --fusion fus/best/fus";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "fusion-attention %s --task rte --data rte_dev.tsv --output fa_rte", load);
    assert_int_equal(adapt(cmd), 0);
    check_distributions(at("fa_rte.json"));
    snprintf(cmd, sizeof cmd, "fusion-attention %s --task ner --data dev.conll --output fa_ner", load);
    assert_int_equal(adapt(cmd), 0);
    check_distributions(at("fa_ner.json"));
    assert_int_equal(run_command("grep -q '<svg' '%s' && grep -q 'sst2' '%s'", at("fa_rte.svg"), at("fa_rte.svg")), 0);
    assert_int_equal(adapt("fusion-attention --combine fa_rte.json fa_ner.json --output fa_all"), 0);
    cJSON *root;
    assert_int_equal(json_load_file(at("fa_all.json"), &root), ADAPT_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "tasks")), 2);
    cJSON_Delete(root);
    assert_int_equal(run_command("grep -q '>ner<' '%s'", at("fa_all.svg")), 0);
    /* no fusion in the setup; a run over other adapters cannot be combined */
    assert_int_equal(adapt("fusion-attention --model base --load-adapter rte/best/rte --task rte --data rte_dev.tsv --output x"), 1);
    assert_log_says(tmp, "no Fuse");
    const char *other = "{\"task\": \"x\", \"adapters\": [\"a\", \"b\"], \"average\": [0.5, 0.5]}";
    write_file(at("other.json"), other, strlen(other));
    assert_int_equal(adapt("fusion-attention --combine fa_rte.json other.json --output y"), 1);
    assert_log_says(tmp, "other.json: fuses other adapters");
}

/* The regulariser 0.01 ||I - W_v||^2 and its gradient, and the temperature schedule 50 -> 1. */
static void test_fusion_regulariser_and_temperature(void **state)
{
    (void)state;
    adapt_model *m;
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &m), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(m, shared_path("fixtures/cases/c08_fusion/adapter_a"), NULL, NULL, 0), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(m, shared_path("fixtures/cases/c08_fusion/adapter_c"), NULL, NULL, 0), ADAPT_OK);
    const char *names[] = {"a", "c"};
    fusion_config cfg;
    assert_int_equal(fusion_config_parse_string("dynamic[temperature=true]", &cfg), ADAPT_OK);
    assert_int_equal(setup_add_fusion(m, names, 2, &cfg, true), ADAPT_OK);
    fusion_def *f = setup_find_fusion(m->setup, names, 2);
    assert_int_equal(setup_set_fusion_trainable(m, f, true), ADAPT_OK);
    int H = m->cfg.hidden;
    for (int l = 0; l < m->cfg.layers; l++) /* exactly the identity: no penalty */
        for (int i = 0; i < H * H; i++) f->out[l].value_w->data[i] = i % (H + 1) == 0 ? 1.0f : 0.0f;
    assert_true(setup_fusion_regularization(m, 0.0f) < 1e-12);
    f->out[1].value_w->data[5] = 0.5f;
    assert_true(fabs(setup_fusion_regularization(m, 2.0f) - 0.01 * 0.25) < 1e-9);
    assert_true(fabsf(f->out[1].value_w->grad[5] - 2.0f * 0.02f * 0.5f) < 1e-7f); /* grad_scale * 0.02 * (W - I) */
    assert_true(f->out[0].value_w->grad[5] == 0.0f);
    assert_true(fabs(f->temperature - 50.0) < 1e-12);
    for (int i = 0; i < 10; i++) setup_fusion_step_temperature(m);
    assert_true(fabs(f->temperature - 49.5) < 1e-9);
    for (int i = 0; i < 2000; i++) setup_fusion_step_temperature(m);
    assert_true(f->temperature == 1.0);
    adapt_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_matches_trainer),
        cmocka_unit_test(test_fusion_training),
        cmocka_unit_test(test_fusion_attention),
        cmocka_unit_test(test_fusion_regulariser_and_temperature),
    };
    return cmocka_run_group_tests_name("eval and AdapterFusion", tests, setup, teardown);
}
