/* The regression head (AdapterHub's classification head with one output, MSE loss): the loss and
 * its gradient through the head and an adapter against finite differences, the head file round
 * trip, and `adapt train / eval / predict` on a small synthetic regression TSV (the target is the
 * share of "positive" words in a sentence): the dev Pearson correlation rises and the loss falls. */
#include "adapters/setup.h"
#include "core/json.h"
#include "formats/adapterhub.h"
#include "formats/head_labels.h"
#include "model/heads.h"
#include "model/layers.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define at(rel) path_in(test_tmp, rel)

static int adapt(const char *args) { return run_adapt(test_tmp, args); }

static uint32_t next_u32(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* Sentences of six words from two sets, k of them "positive"; the target is 5k/6. */
static void write_regression_tsv(const char *path, int n, uint64_t seed)
{
    static const char *const pos[] = {"good", "great", "happy", "nice", "fine"}, *const neg[] = {"bad", "awful", "sad", "poor", "ugly"};
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "sentence\tlabel\n");
    for (int i = 0; i < n; i++) {
        int k = (int)(next_u32(&seed) % 7);
        const char *w[6];
        for (int j = 0; j < 6; j++) w[j] = j < k ? pos[next_u32(&seed) % 5] : neg[next_u32(&seed) % 5];
        for (int j = 5; j > 0; j--) { /* shuffle */
            int r = (int)(next_u32(&seed) % (uint32_t)(j + 1));
            const char *t = w[j];
            w[j] = w[r], w[r] = t;
        }
        fprintf(fp, "%s %s %s %s %s %s\t%.4f\n", w[0], w[1], w[2], w[3], w[4], w[5], 5.0 * k / 6.0);
    }
    fclose(fp);
}

/* ------------------------------------------------------------------ MSE */
static void test_mse_values(void **state)
{
    (void)state;
    const float pred[3] = {1, 2, 3}, target[3] = {0, 2, 5};
    float d[3] = {1, 1, 1}; /* backward accumulates */
    double loss = mse_forward_backward(d, pred, target, 3, 0.5f);
    assert_true(fabs(loss - 5.0 / 3.0) < 1e-12);
    assert_true(fabsf(d[0] - (1 + 1.0f / 3)) < 1e-6f && d[1] == 1.0f && fabsf(d[2] - (1 - 2.0f / 3)) < 1e-6f);
    assert_true(mse_forward_backward(NULL, pred, target, 0, 1.0f) == 0.0);
}

/* ------------------------------------------------------------------ gradients */
typedef struct fd_model {
    adapt_model *m;
    head h;
    int B, T;
    int32_t ids[12], mask[12], types[12];
    float target[2];
} fd_model;

static double fd_loss(fd_model *f, bool backward)
{
    adapt_model *m = f->m;
    m->training = false;
    if (backward) store_zero_grads(&m->store);
    assert_int_equal(model_forward(m, f->B, f->T, f->ids, f->mask, f->types), ADAPT_OK);
    float *out = arena_floats(&m->acts, (size_t)f->B), *d_out = arena_floats(&m->acts, (size_t)f->B);
    assert_int_equal(head_forward(m, &f->h, out), ADAPT_OK);
    double loss = mse_forward_backward(backward ? d_out : NULL, out, f->target, f->B, 1.0f);
    if (backward) {
        float *d_hidden = arena_floats(&m->acts, (size_t)m->fw.N * m->cfg.hidden);
        assert_int_equal(head_backward(m, &f->h, d_out, d_hidden), ADAPT_OK);
        assert_int_equal(model_backward(m, d_hidden), ADAPT_OK);
    }
    return loss;
}

/* Central differences on a few entries of p; returns the largest error relative to the scale of
 * the gradients checked. */
static double fd_error(fd_model *f, param *p, double *largest)
{
    double worst = 0;
    for (size_t k = 0; k < p->numel; k += p->numel / 5 + 1) {
        float keep = p->data[k];
        const double eps = 1e-2;
        p->data[k] = keep + (float)eps;
        double up = fd_loss(f, false);
        p->data[k] = keep - (float)eps;
        double down = fd_loss(f, false);
        p->data[k] = keep;
        double fd = (up - down) / (2 * eps), an = p->grad[k];
        worst = fmax(worst, fabs(fd - an) / (fabs(fd) + 1e-3));
        *largest = fmax(*largest, fabs(an));
    }
    return worst;
}

static void test_regression_head_gradients(void **state)
{
    (void)state;
    fd_model f = {.B = 2, .T = 6, .target = {0.7f, -1.3f}};
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &f.m), ADAPT_OK);
    bn_config cfg;
    assert_int_equal(bn_config_parse_string("seq_bn[reduction_factor=4]", &cfg), ADAPT_OK);
    assert_int_equal(setup_add_adapter(f.m, "reg", &cfg, true), ADAPT_OK);
    assert_int_equal(setup_set_adapter_trainable(f.m, "reg", true), ADAPT_OK);
    assert_int_equal(setup_activate(f.m, "reg"), ADAPT_OK);
    assert_int_equal(head_create(f.m, &f.h, HEAD_CLASSIFICATION, "reg", 1), ADAPT_OK);
    assert_true(head_is_regression(&f.h));
    uint64_t rng = 7;
    head_init_random(&f.h, &rng);
    param *ps[5] = {f.h.w1, f.h.b1, f.h.w2, f.h.b2,
                    store_get(&f.m->store, "bert.encoder.layer.0.output.adapters.reg.adapter_up.weight")};
    assert_non_null(ps[4]);
    for (int i = 0; i < 5; i++) assert_int_equal(store_set_trainable(ps[i], true), ADAPT_OK);
    for (size_t i = 0; i < ps[4]->numel; i++) ps[4]->data[i] = 0.3f * sinf((float)i); /* so the adapter matters */
    for (int i = 0; i < 12; i++) f.ids[i] = 5 + (i * 37) % 500, f.mask[i] = i != 11, f.types[i] = i % 6 > 2;
    fd_loss(&f, true);
    double largest = 0;
    for (int i = 0; i < 5; i++) {
        double err = fd_error(&f, ps[i], &largest);
        if (err > 5e-3) fail_msg("%s: finite differences differ by %.3g (relative)", ps[i]->name, err);
    }
    assert_true(largest > 1e-2); /* the check compared real gradients */
    /* a wrong gradient is caught: halve the head's output-weight gradient */
    for (size_t i = 0; i < f.h.w2->numel; i++) f.h.w2->grad[i] *= 0.5f;
    double dummy = 0;
    assert_true(fd_error(&f, f.h.w2, &dummy) > 0.3);
    adapt_model_free(f.m);
}

/* ------------------------------------------------------------------ head files */
/* Saved and loaded again, the head gives the same outputs bit for bit, and its head_config.json is
 * what the Python library writes for add_classification_head(name, num_labels=1). */
static void test_regression_head_round_trip(void **state)
{
    (void)state;
    adapt_model *a, *b;
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &a), ADAPT_OK);
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &b), ADAPT_OK);
    head ha, hb;
    assert_int_equal(head_create(a, &ha, HEAD_CLASSIFICATION, "sts", 1), ADAPT_OK);
    uint64_t rng = 11;
    head_init_random(&ha, &rng);
    for (int i = 0; i < 1; i++) ha.b2->data[i] = 2.5f; /* a bias to carry over */
    assert_int_equal(adapterhub_save_head(a, at("sts_head"), &ha, NULL), ADAPT_OK);
    assert_int_equal(adapterhub_load_head(b, at("sts_head"), NULL, &hb), ADAPT_OK);
    assert_true(head_is_regression(&hb));
    int32_t ids[8] = {2, 40, 41, 42, 3, 50, 51, 3}, mask[8] = {1, 1, 1, 1, 1, 1, 1, 0}, types[8] = {0};
    float out_a[2], out_b[2];
    assert_int_equal(model_forward(a, 2, 4, ids, mask, types), ADAPT_OK);
    assert_int_equal(head_forward(a, &ha, out_a), ADAPT_OK);
    assert_int_equal(model_forward(b, 2, 4, ids, mask, types), ADAPT_OK);
    assert_int_equal(head_forward(b, &hb, out_b), ADAPT_OK);
    assert_memory_equal(out_a, out_b, sizeof out_a);
    assert_true(fabsf(out_a[0] - 2.5f) < 0.5f);
    cJSON *root;
    assert_int_equal(json_load_file(at("sts_head/head_config.json"), &root), ADAPT_OK);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "config");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(c, "head_type")->valuestring, "classification");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(c, "num_labels")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(c, "layers")->valueint, 2);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(c, "activation_function")->valuestring, "tanh");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c, "use_pooler")));
    const cJSON *l2i = cJSON_GetObjectItemCaseSensitive(c, "label2id");
    assert_int_equal(cJSON_GetArraySize(l2i), 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(l2i, "LABEL_0")->valueint, 0);
    cJSON_Delete(root);
    adapt_model_free(a);
    adapt_model_free(b);
}

/* ------------------------------------------------------------------ adapt train / eval / predict */
/* Mean of losses.tsv lines [from, to) (1-based steps). */
static double mean_loss(const char *path, int from, int to)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    int step, n = 0;
    double loss, sum = 0;
    while (fscanf(fp, "%d %lf", &step, &loss) == 2)
        if (step >= from && step < to) sum += loss, n++;
    fclose(fp);
    assert_int_equal(n, to - from);
    return sum / n;
}

#define REG_TRAIN "train --task tsv --regression --model base --train reg_train.tsv --dev reg_dev.tsv --batch-size 8 " \
                  "--max-length 32 --warmup 0 --eval-every 10 --quiet"

/* Full fine-tuning learns the task within 60 steps (an adapter over a random base model is much
 * slower); the adapter run below checks the AdapterHub folders the adapter method writes. */
static void test_regression_training(void **state)
{
    (void)state;
    if (make_tiny_roberta(test_tmp, true)) fail_msg("tiny model setup failed (see %s)", at("last.log"));
    write_regression_tsv(at("reg_train.tsv"), 200, 1);
    write_regression_tsv(at("reg_dev.tsv"), 40, 2);
    assert_int_equal(adapt(REG_TRAIN " --method full --lr 3e-3 --output full1 --max-steps 1"), 0);
    assert_int_equal(adapt(REG_TRAIN " --method full --lr 3e-3 --output full --max-steps 60"), 0);
    cJSON *root;
    assert_int_equal(json_load_file(at("full/summary.json"), &root), ADAPT_OK);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "metric")->valuestring, "pearson");
    cJSON_Delete(root);
    double before = json_file_number(at("full1/summary.json"), "best_dev_metric"), best = json_file_number(at("full/summary.json"), "best_dev_metric");
    if (!(best > 80 && best > before + 30)) fail_msg("dev Pearson x100 went from %.2f (1 step) to %.2f (best of 60)", before, best);
    double first = mean_loss(at("full/losses.tsv"), 1, 11), last = mean_loss(at("full/losses.tsv"), 51, 61);
    if (!(last < 0.5 * first)) fail_msg("train loss went from %.3f (steps 1-10) to %.3f (51-60)", first, last);
    /* eval reproduces the trainer's best score from the saved model and head */
    assert_int_equal(adapt("eval --model full/best/model --tokenizer base --head full/best/tsv --data reg_dev.tsv --max-length 32 --json f.json"), 0);
    assert_true(fabs(json_file_number(at("f.json"), "value") - best) < 0.01);
    assert_true(json_file_number(at("f.json"), "spearman") > 0.7);
    assert_true(json_file_number(at("f.json"), "mse") > 0);
}

static void test_regression_adapter_eval_predict(void **state)
{
    (void)state;
    assert_int_equal(adapt(REG_TRAIN " --lr 1e-2 --output reg --max-steps 30"), 0);
    double best = json_file_number(at("reg/summary.json"), "best_dev_metric");
    /* the trainer's dev batches (64): the outputs barely vary yet, so padding would show in Pearson */
    assert_int_equal(adapt("eval --model base --load-adapter reg/best/tsv --data reg_dev.tsv --max-length 32 --batch-size 64 --json e.json"), 0);
    assert_true(fabs(json_file_number(at("e.json"), "value") - best) < 0.01);
    assert_true(fabs(json_file_number(at("e.json"), "spearman")) <= 1);
    /* predict: GLUE's submission layout, or JSON Lines records that read back as labelled data */
    assert_int_equal(adapt("predict --model base --load-adapter reg/best/tsv --input reg_dev.tsv --output p.tsv --max-length 32"), 0);
    assert_int_equal(run_command("test $(wc -l < '%s') -eq 41 && head -1 '%s' | grep -q '^index\tprediction$' && "
                                 "sed -n 2p '%s' | grep -Eq '^0\t-?[0-9]'", at("p.tsv"), at("p.tsv"), at("p.tsv")),
                     0);
    assert_int_equal(adapt("predict --model base --load-adapter reg/best/tsv --input reg_dev.tsv --output p.jsonl --max-length 32"), 0);
    assert_int_equal(adapt("eval --model base --load-adapter reg/best/tsv --data p.jsonl --max-length 32 --json p.json"), 0);
    assert_true(json_file_number(at("p.json"), "pearson") > 0.99999); /* the predictions themselves */
    /* a regression head on a classification task, --regression where it does not apply */
    assert_int_equal(adapt("eval --model base --load-adapter reg/best/tsv --data reg_dev.tsv --task sst2"), 1);
    assert_log_says(test_tmp, "is a classification task");
    assert_int_equal(adapt("train --task sst2 --regression --model base --train reg_train.tsv --output bad --max-steps 1 --quiet"), 1);
    assert_log_says(test_tmp, "regression targets need task tsv");
    /* a text target is an error naming file:line */
    const char *bad = "sentence\tlabel\ngood good\thigh\n";
    write_file(at("bad.tsv"), bad, strlen(bad));
    assert_int_equal(adapt("train --task tsv --regression --model base --train bad.tsv --output bad --max-steps 1 --quiet"), 1);
    assert_log_says(test_tmp, "bad.tsv:2: regression target \"high\" is not a finite number");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_values),
        cmocka_unit_test(test_regression_head_gradients),
        cmocka_unit_test(test_regression_head_round_trip),
        cmocka_unit_test(test_regression_training),
        cmocka_unit_test(test_regression_adapter_eval_predict),
    };
    return cmocka_run_group_tests_name("regression head", tests, test_tmp_setup, test_tmp_teardown);
}
