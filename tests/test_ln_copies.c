/* Per-adapter copies of the LayerNorms (--train-layer-norms, adapters/ln_copies.h): fresh copies
 * change nothing, their gradients match finite differences (Pfeiffer: used before and after the
 * adapter; Houlsby: at both points of a layer), training moves them and leaves the model's own
 * LayerNorms bit for bit as they were, and a saved adapter brings them back exactly, next to an
 * adapter without copies that keeps the model's. */
#include "adapters/ln_copies.h"
#include "adapters/ops.h"
#include "formats/adapterhub.h"
#include "model/heads.h"
#include "model/layers.h"
#include "testutil.h"
#include "train/adamw.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define at(rel) path_in(test_tmp, rel)

typedef struct rig {
    adapt_model *m;
    head h;
    int32_t ids[12], mask[12], types[12];
    int64_t labels[2];
} rig;

/* tiny-bert with adapter `name` (config cfg, its own LayerNorms when own_ln) and a 3-class head. */
static void rig_open(rig *r, const char *cfg_text, bool own_ln)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &r->m), ADAPT_OK);
    bn_config cfg;
    assert_int_equal(bn_config_parse_string(cfg_text, &cfg), ADAPT_OK);
    assert_int_equal(setup_add_adapter(r->m, "task", &cfg, true), ADAPT_OK);
    if (own_ln) assert_int_equal(ln_copies_add(r->m, "task"), ADAPT_OK);
    assert_int_equal(setup_set_adapter_trainable(r->m, "task", true), ADAPT_OK);
    assert_int_equal(setup_activate(r->m, "task"), ADAPT_OK);
    assert_int_equal(head_create(r->m, &r->h, HEAD_CLASSIFICATION, "task", 3), ADAPT_OK);
    uint64_t rng = 3;
    head_init_random(&r->h, &rng);
    for (int i = 0; i < 12; i++) r->ids[i] = 7 + (i * 53) % 480, r->mask[i] = i != 11, r->types[i] = 0;
    r->labels[0] = 2, r->labels[1] = 0;
    /* adapter weights away from their near-identity start, so the adapter matters */
    for (size_t i = 0; i < r->m->store.count; i++) {
        param *p = r->m->store.items[i];
        if (strstr(p->name, ".adapters.task.adapter_up.")) {
            for (size_t k = 0; k < p->numel; k++) p->data[k] = 0.2f * sinf(0.7f * (float)k + 1);
            assert_int_equal(store_set_trainable(p, true), ADAPT_OK);
        }
    }
}

/* Loss; with backward, the gradients of every trainable tensor. logits (optional) get [2,3]. */
static double rig_loss(rig *r, bool backward, float *logits_out)
{
    adapt_model *m = r->m;
    m->training = false;
    if (backward) store_zero_grads(&m->store);
    assert_int_equal(model_forward(m, 2, 6, r->ids, r->mask, r->types), ADAPT_OK);
    float *logits = arena_floats(&m->acts, 6), *d_logits = arena_floats(&m->acts, 6);
    assert_int_equal(head_forward(m, &r->h, logits), ADAPT_OK);
    if (logits_out) memcpy(logits_out, logits, 6 * sizeof(float));
    double loss = cross_entropy_forward_backward(backward ? d_logits : NULL, logits, r->labels, 2, 3, 1.0f);
    if (backward) {
        float *d_hidden = arena_floats(&m->acts, (size_t)m->fw.N * m->cfg.hidden);
        assert_int_equal(head_backward(m, &r->h, d_logits, d_hidden), ADAPT_OK);
        assert_int_equal(model_backward(m, d_hidden), ADAPT_OK);
    }
    return loss;
}

static param *tensor(const rig *r, const char *name)
{
    param *p = store_get(&r->m->store, name);
    if (!p) fail_msg("no tensor %s", name);
    return p;
}

/* Moves the copies away from the model's values (so that a mixed-up LayerNorm shows). */
static void perturb_copies(rig *r)
{
    for (size_t i = 0; i < r->m->store.count; i++) {
        param *p = r->m->store.items[i];
        if (!strstr(p->name, ".original_ln.")) continue;
        bool w = strstr(p->name, ".weight") != NULL;
        for (size_t k = 0; k < p->numel; k++) p->data[k] = (w ? 1.0f : 0.0f) + 0.3f * sinf((float)(k + i));
    }
}

static void test_fresh_copies_change_nothing(void **state)
{
    (void)state;
    static const char *const cfgs[] = {"seq_bn[reduction_factor=4]", "double_seq_bn[reduction_factor=4]"};
    for (int c = 0; c < 2; c++) {
        rig plain, own;
        rig_open(&plain, cfgs[c], false);
        rig_open(&own, cfgs[c], true);
        float a[6], b[6];
        rig_loss(&plain, false, a);
        rig_loss(&own, false, b);
        assert_memory_equal(a, b, sizeof a); /* initialised from the model's LayerNorms */
        perturb_copies(&own);
        rig_loss(&own, false, b);
        assert_true(fabsf(a[0] - b[0]) > 1e-4f); /* and used */
        adapt_model_free(plain.m);
        adapt_model_free(own.m);
    }
}

/* Central differences on entries of p; the largest error relative to |fd| + 1e-3. */
static double fd_error(rig *r, param *p, double *largest)
{
    double worst = 0;
    for (size_t k = 0; k < p->numel; k += 5) {
        float keep = p->data[k];
        const double eps = 1e-2;
        p->data[k] = keep + (float)eps;
        double up = rig_loss(r, false, NULL);
        p->data[k] = keep - (float)eps;
        double down = rig_loss(r, false, NULL);
        p->data[k] = keep;
        double fd = (up - down) / (2 * eps);
        worst = fmax(worst, fabs(fd - p->grad[k]) / (fabs(fd) + 1e-3));
        *largest = fmax(*largest, fabs(p->grad[k]));
    }
    return worst;
}

static void test_copy_gradients(void **state)
{
    (void)state;
    static const char *const cfgs[] = {"seq_bn[reduction_factor=4]", "double_seq_bn[reduction_factor=4]"};
    static const char *const names[] = {"bert.encoder.layer.0.output.adapters.task.original_ln.weight",
                                        "bert.encoder.layer.1.output.adapters.task.original_ln.bias",
                                        "bert.encoder.layer.0.attention.output.adapters.task.original_ln.weight",
                                        "bert.encoder.layer.1.attention.output.adapters.task.original_ln.bias"};
    for (int c = 0; c < 2; c++) {
        rig r;
        rig_open(&r, cfgs[c], true);
        perturb_copies(&r);
        rig_loss(&r, true, NULL);
        const encoder_layer *L = &r.m->layers[0];
        assert_null(L->out_ln_w->grad); /* the model's LayerNorms stay frozen: no gradient work */
        assert_null(L->attn_ln_b->grad);
        double largest = 0;
        for (int i = 0; i < (c ? 4 : 2); i++) {
            param *p = tensor(&r, names[i]);
            assert_non_null(p->grad);
            double err = fd_error(&r, p, &largest);
            if (err > 1e-2) fail_msg("%s (%s): finite differences differ by %.3g (relative)", names[i], cfgs[c], err);
        }
        assert_true(largest > 1e-3);
        if (!c) assert_null(store_get(&r.m->store, names[2])); /* Pfeiffer: no attention adapter, no copy there */
        /* the check catches a wrong gradient */
        param *p = tensor(&r, names[0]);
        for (size_t k = 0; k < p->numel; k++) p->grad[k] *= 1.5f;
        double dummy = 0;
        assert_true(fd_error(&r, p, &dummy) > 0.2);
        adapt_model_free(r.m);
    }
}

static void test_training_keeps_model_layer_norms(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "double_seq_bn[reduction_factor=4]", true);
    const encoder_layer *L = &r.m->layers[1];
    int H = r.m->cfg.hidden;
    float before[4][32];
    const param *base[4] = {L->attn_ln_w, L->attn_ln_b, L->out_ln_w, L->out_ln_b};
    for (int i = 0; i < 4; i++) memcpy(before[i], base[i]->data, (size_t)H * sizeof(float));
    adamw_config opt = {1e-2, 0.9, 0.999, 1e-8, 0.01};
    double first = 0, last = 0;
    for (long step = 1; step <= 8; step++) {
        last = rig_loss(&r, true, NULL);
        if (step == 1) first = last;
        assert_int_equal(adamw_step(&r.m->store, &opt, opt.lr, step), ADAPT_OK);
    }
    assert_true(last < first);
    for (int i = 0; i < 4; i++) assert_memory_equal(before[i], base[i]->data, (size_t)H * sizeof(float));
    const param *copy = tensor(&r, "bert.encoder.layer.1.output.adapters.task.original_ln.weight");
    assert_true(memcmp(copy->data, L->out_ln_w->data, (size_t)H * sizeof(float)) != 0); /* trained */
    adapt_model_free(r.m);
}

/* Saved with its copies, the adapter gives the same logits bit for bit in a fresh model, beside an
 * adapter without copies that still uses the model's LayerNorms. */
static void test_round_trip_beside_plain_adapter(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "double_seq_bn[reduction_factor=4]", true);
    perturb_copies(&r);
    float want[6], got[6], plain_want[6], plain_got[6], copy[32];
    rig_loss(&r, false, want);
    memcpy(copy, tensor(&r, "bert.encoder.layer.1.attention.output.adapters.task.original_ln.bias")->data, sizeof copy);
    assert_int_equal(adapterhub_save_adapter(r.m, at("task"), "task"), ADAPT_OK);
    assert_int_equal(adapterhub_save_head(r.m, at("task"), &r.h, NULL), ADAPT_OK);
    /* the reference for the plain adapter: alone in a model */
    const char *plain_dir = shared_path("fixtures/cases/c04_double_seq_bn_classification/adapter_cls");
    adapt_model *alone;
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &alone), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(alone, plain_dir, NULL, NULL, 0), ADAPT_OK);
    assert_int_equal(setup_activate(alone, "cls"), ADAPT_OK);
    head hp;
    assert_int_equal(head_create(alone, &hp, HEAD_CLASSIFICATION, "task", 3), ADAPT_OK);
    memcpy(hp.w1->data, r.h.w1->data, r.h.w1->numel * sizeof(float));
    memcpy(hp.w2->data, r.h.w2->data, r.h.w2->numel * sizeof(float));
    rig ra = r;
    ra.m = alone, ra.h = hp;
    rig_loss(&ra, false, plain_want);
    adapt_model_free(alone);
    adapt_model_free(r.m);

    rig b = r;
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &b.m), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(b.m, plain_dir, NULL, NULL, 0), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(b.m, at("task"), NULL, NULL, 0), ADAPT_OK);
    assert_true(setup_find_adapter(b.m->setup, "task")->has_ln_copies);
    assert_memory_equal(setup_find_adapter(b.m->setup, "task")->attn[1].ln_b->data, copy, sizeof copy);
    assert_false(setup_find_adapter(b.m->setup, "cls")->has_ln_copies);
    assert_int_equal(adapterhub_load_head(b.m, at("task"), NULL, &b.h), ADAPT_OK);
    assert_int_equal(setup_activate(b.m, "task"), ADAPT_OK);
    rig_loss(&b, false, got);
    assert_memory_equal(want, got, sizeof want);
    assert_int_equal(setup_activate(b.m, "cls"), ADAPT_OK);
    rig_loss(&b, false, plain_got);
    assert_memory_equal(plain_want, plain_got, sizeof plain_want);
    assert_true(fabsf(got[0] - plain_got[0]) > 1e-5f);
    /* averaging needs all or none with copies */
    const char *mixed[2] = {"task", "cls"};
    bn_config cfg = setup_find_adapter(b.m->setup, "cls")->cfg;
    setup_find_adapter(b.m->setup, "task")->cfg = cfg; /* same config, so only the LayerNorms differ */
    assert_int_equal(adapters_average(b.m, "avg", mixed, NULL, 2), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "has its own LayerNorms and \"cls\" does not"));
    adapt_model_free(b.m);
}

static void test_incomplete_copies_refused(void **state)
{
    (void)state;
    rig r;
    rig_open(&r, "seq_bn[reduction_factor=4]", true);
    store_remove(&r.m->store, "bert.encoder.layer.1.output.adapters.task.original_ln.bias");
    assert_int_equal(adapterhub_save_adapter(r.m, at("half"), "task"), ADAPT_OK);
    store_remove(&r.m->store, "bert.encoder.layer.1.output.adapters.task.original_ln.weight");
    assert_int_equal(adapterhub_save_adapter(r.m, at("some"), "task"), ADAPT_OK);
    assert_int_equal(ln_copies_add(r.m, "task"), ADAPT_ERR_ARG); /* has them already */
    adapt_model_free(r.m);
    adapt_model *m;
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &m), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(m, at("half"), NULL, NULL, 0), ADAPT_ERR_FORMAT);
    assert_non_null(strstr(adapt_error(), "layer.1.output.adapters.task.original_ln.weight\" without its bias"));
    adapt_model_free(m);
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &m), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(m, at("some"), NULL, NULL, 0), ADAPT_ERR_FORMAT);
    assert_non_null(strstr(adapt_error(), "own LayerNorms at 1 of its points but not at the others"));
    adapt_model_free(m);
}

/* adapt train --train-layer-norms: the copies train, are saved in adapter.safetensors, and eval
 * reproduces the trainer's score from the saved folder. */
static void test_train_layer_norms_cli(void **state)
{
    (void)state;
    if (make_tiny_roberta(test_tmp, false)) fail_msg("tiny model setup failed (see %s)", at("last.log"));
    const char *S = shared_dir();
    assert_int_equal(run_command("cd '%s' && head -n 41 '%s/data/glue/RTE/train.tsv' > rte_train.tsv && "
                                 "head -n 21 '%s/data/glue/RTE/dev.tsv' > rte_dev.tsv", test_tmp, S, S),
                     0);
    assert_int_equal(run_adapt(test_tmp, "train --task rte --model base --train rte_train.tsv --dev rte_dev.tsv --output ln "
                                         "--adapter-config double_seq_bn --train-layer-norms --max-steps 6 --batch-size 4 "
                                         "--max-length 64 --lr 1e-2 --eval-every 3 --quiet"),
                     0);
    adapt_model *m;
    assert_int_equal(adapt_model_load(at("base"), &m), ADAPT_OK);
    assert_int_equal(adapterhub_load_adapter(m, at("ln/best/rte"), NULL, NULL, 0), ADAPT_OK);
    const adapter_def *a = setup_find_adapter(m->setup, "rte");
    assert_true(a->has_ln_copies);
    const param *copy = a->out[1].ln_w, *model_ln = m->layers[1].out_ln_w;
    assert_non_null(copy);
    assert_true(memcmp(copy->data, model_ln->data, (size_t)m->cfg.hidden * sizeof(float)) != 0);
    adapt_model_free(m);
    assert_int_equal(run_adapt(test_tmp, "eval --model base --load-adapter ln/best/rte --data rte_dev.tsv --task rte --max-length 64 "
                                         "--batch-size 64 --json e.json"),
                     0);
    assert_true(fabs(json_file_number(at("e.json"), "value") - json_file_number(at("ln/summary.json"), "best_dev_metric")) < 0.01);
    assert_int_equal(run_adapt(test_tmp, "adapters list base ln/best/rte"), 0);
    assert_log_says(test_tmp, "layer norms: its own copies");
    assert_int_equal(run_adapt(test_tmp, "adapters list --model base ln/best/rte"), 0); /* --model, as average and rename take it */
    assert_log_says(test_tmp, "layer norms: its own copies");
    assert_int_equal(run_adapt(test_tmp, "train --task rte --model base --train rte_train.tsv --output x --method lora "
                                         "--train-layer-norms --max-steps 1 --quiet"),
                     1);
    assert_log_says(test_tmp, "--train-layer-norms gives a new adapter");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_copies_change_nothing),
        cmocka_unit_test(test_copy_gradients),
        cmocka_unit_test(test_training_keeps_model_layer_norms),
        cmocka_unit_test(test_round_trip_beside_plain_adapter),
        cmocka_unit_test(test_incomplete_copies_refused),
        cmocka_unit_test(test_train_layer_norms_cli),
    };
    return cmocka_run_group_tests_name("LayerNorm copies", tests, test_tmp_setup, test_tmp_teardown);
}
