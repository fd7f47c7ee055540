/* DoRA LoRAs (PEFT's use_dora): y = c (W x + s B A x) + b, c = m / ||W + s B A|| per output row.
 * The DoRA folders are c10's LoRA with magnitudes the test writes: "exact" with m = the norms
 * (c = 1: the plain LoRA's outputs), "dora" with m off the norms by up to 20%. Each pass is checked
 * against the base model whose targeted weights the test replaces by c (W + s B A) itself. */
#include "adapters/adapter_params.h"
#include "adapters/lora.h"
#include "case_batch.h"
#include "formats/adapterhub.h"
#include "formats/peft.h"
#include "lora_fixture.h"
#include "model/heads.h"
#include "model/model.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASE "c10_lora_tagging"

static char lora_plain[1024], dora_exact[1024], dora[1024];

/* Row norms of W + s B A for module (l, k) of the active LoRA, in double. */
static double *adapted_norms(adapt_model *m, int l, int k)
{
    const lora_state *s = m->lora;
    param *W = linear_weight(&m->layers[l], (lora_linear)k);
    int64_t out = W->shape[0], in = W->shape[1];
    double *delta = lora_delta(m, s->name, l, k), *norms = calloc((size_t)out, sizeof *norms);
    for (int64_t o = 0; o < out; o++) {
        for (int64_t i = 0; i < in; i++) {
            double v = W->data[o * in + i] + delta[o * in + i];
            norms[o] += v * v;
        }
        norms[o] = sqrt(norms[o]);
    }
    free(delta);
    return norms;
}

/* c10's LoRA saved as a DoRA, magnitudes = norms x (1 + spread * u), u uniform in [-1, 1). */
static void write_dora(const char *dir, double spread)
{
    adapt_model *m = load_tiny_bert();
    if (peft_load(m, lora_plain)) fail_msg("%s", adapt_error());
    m->lora->cfg.use_dora = true;
    uint64_t rng = 5;
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!m->lora->has[l][k]) continue;
            char prefix[300];
            snprintf(prefix, sizeof prefix, "%s.encoder.layer.%d.%s.", m->prefix, l, lora_module_names[k]);
            double *norms = adapted_norms(m, l, k);
            param *mag;
            int64_t out = m->lora->pairs[l][k].B->shape[0];
            if (adapter_param_add(&m->store, prefix, LORA_MAGNITUDE, out, 0, &mag)) fail_msg("%s", adapt_error());
            for (int64_t o = 0; o < out; o++) mag->data[o] = (float)(norms[o] * (1 + spread * (2 * test_uniform(&rng) - 1)));
            free(norms);
        }
    if (peft_save(m, dir, NULL)) fail_msg("%s", adapt_error());
    adapt_model_free(m);
}

static int make_doras(void **state)
{
    test_tmp_setup(state);
    snprintf(lora_plain, sizeof lora_plain, "%s", shared_path("fixtures/cases/" CASE "/lora"));
    snprintf(dora_exact, sizeof dora_exact, "%s/exact", test_tmp);
    snprintf(dora, sizeof dora, "%s/dora", test_tmp);
    write_dora(dora_exact, 0);
    write_dora(dora, 0.2);
    return 0;
}



/* The base model with every targeted W replaced by c (W + s B A), from the DoRA model's values. */
static adapt_model *folded_by_hand(adapt_model *dm)
{
    adapt_model *f = load_tiny_bert();
    const lora_state *s = dm->lora;
    for (int l = 0; l < dm->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!s->has[l][k]) continue;
            param *W = linear_weight(&dm->layers[l], (lora_linear)k), *to = linear_weight(&f->layers[l], (lora_linear)k);
            int64_t out = W->shape[0], in = W->shape[1];
            double *delta = lora_delta(dm, s->name, l, k), *norms = adapted_norms(dm, l, k);
            for (int64_t o = 0; o < out; o++) {
                double c = s->pairs[l][k].magnitude->data[o] / norms[o];
                for (int64_t i = 0; i < in; i++) to->data[o * in + i] = (float)(c * (W->data[o * in + i] + delta[o * in + i]));
            }
            free(delta), free(norms);
        }
    return f;
}

/* m = the norms gives the plain LoRA's outputs; other magnitudes the hand-folded weights'; merging
 * folds the same and unmerging gives W back. */
static void test_forward_and_merge(void **state)
{
    (void)state;
    case_batch b = case_batch_read(CASE, 0);
    adapt_model *plain = load_tiny_bert(), *exact = load_tiny_bert(), *dm = load_tiny_bert();
    if (adapt_model_load_lora(plain, lora_plain) || adapt_model_load_lora(exact, dora_exact) || adapt_model_load_lora(dm, dora))
        fail_msg("%s", adapt_error());
    assert_true(dm->lora->cfg.use_dora);
    int H = dm->cfg.hidden;
    size_t n = (size_t)b.B * b.T * H;
    float *h_plain = encode_case_batch(plain, &b), *h_exact = encode_case_batch(exact, &b), *h_dora = encode_case_batch(dm, &b);
    assert_true(max_abs_difference(h_plain, h_exact, n) < 1e-5);
    double apart = max_abs_difference(h_plain, h_dora, n);
    if (!(apart > 1e-2)) fail_msg("magnitudes 20%% off the norms moved the outputs by only %g", apart);
    adapt_model *folded = folded_by_hand(dm);
    float *h_folded = encode_case_batch(folded, &b);
    double err = max_abs_difference(h_dora, h_folded, n);
    if (!(err < 1e-4)) fail_msg("DoRA against c (W + s B A) by hand: off by %g", err);

    param *W = linear_weight(&dm->layers[1], LIN_VALUE);
    float *w_before = malloc(W->numel * sizeof *w_before);
    memcpy(w_before, W->data, W->numel * sizeof *w_before);
    assert_int_equal(adapt_model_merge_lora(dm), ADAPT_OK);
    float *h_merged = encode_case_batch(dm, &b);
    assert_true(max_abs_difference(h_merged, h_dora, n) < 1e-4);
    assert_true(max_abs_difference(W->data, w_before, W->numel) > 1e-3);
    assert_int_equal(adapt_model_unmerge_lora(dm), ADAPT_OK);
    assert_true(max_abs_difference(W->data, w_before, W->numel) < 1e-5);
    float *h_again = encode_case_batch(dm, &b);
    assert_true(max_abs_difference(h_again, h_dora, n) < 1e-5);
    free(h_plain), free(h_exact), free(h_dora), free(h_folded), free(h_merged), free(h_again), free(w_before);
    adapt_model_free(plain), adapt_model_free(exact), adapt_model_free(dm), adapt_model_free(folded);
    case_batch_free(&b);
}

/* A DoRA beside a plain LoRA by name: each active, and rows of both and none in one mixed pass,
 * give what each gives alone; saved under its name, it reloads with the same outputs. */
static void test_named_and_mixed(void **state)
{
    (void)state;
    case_batch b = case_batch_read(CASE, 3);
    adapt_model *alone = load_tiny_bert(), *both = load_tiny_bert(), *base = load_tiny_bert();
    if (adapt_model_load_lora(alone, dora) || adapt_model_load_lora_as(both, lora_plain, "p") || adapt_model_load_lora_as(both, dora, "d"))
        fail_msg("%s", adapt_error());
    int H = alone->cfg.hidden;
    size_t n = (size_t)b.B * b.T * H, row = (size_t)b.T * H;
    float *h_alone = encode_case_batch(alone, &b), *h_base = encode_case_batch(base, &b), *h_p = encode_case_batch(both, &b);
    assert_int_equal(adapt_model_set_lora(both, "d"), ADAPT_OK);
    float *h_d = encode_case_batch(both, &b);
    assert_true(max_abs_difference(h_d, h_alone, n) < 1e-6);
    const char *names[3] = {"d", NULL, "p"};
    float *mixed = malloc(n * sizeof *mixed);
    if (adapt_model_encode_mixed_lora(both, b.B, b.T, b.ids, b.mask, b.type_ids, names, mixed)) fail_msg("%s", adapt_error());
    assert_true(max_abs_difference(mixed, h_d, row) < 1e-5);
    assert_true(max_abs_difference(mixed + row, h_base + row, row) < 1e-5);
    assert_true(max_abs_difference(mixed + 2 * row, h_p + 2 * row, row) < 1e-5);
    char saved[1100];
    snprintf(saved, sizeof saved, "%s/d-saved", test_tmp);
    if (adapt_model_save_lora(both, "d", saved)) fail_msg("%s", adapt_error());
    assert_int_equal(run_command("grep -q '\"use_dora\":\\s*true' '%s/adapter_config.json' && grep -q 'value.lora_magnitude_vector\"' "
                                 "'%s/adapter_model.safetensors'", saved, saved),
                     0);
    adapt_model *reloaded = load_tiny_bert();
    if (adapt_model_load_lora(reloaded, saved)) fail_msg("%s", adapt_error());
    float *h_reloaded = encode_case_batch(reloaded, &b);
    assert_true(max_abs_difference(h_reloaded, h_alone, n) < 1e-6);
    free(h_alone), free(h_base), free(h_p), free(h_d), free(mixed), free(h_reloaded);
    adapt_model_free(alone), adapt_model_free(both), adapt_model_free(base), adapt_model_free(reloaded);
    case_batch_free(&b);
}

/* What DoRA does not do is refused: bf16 weights, combining, names that clash, merging a zero
 * magnitude; a use_dora file without magnitudes is refused by tensor. */
static void test_refusals(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, dora, "d") || adapt_model_load_lora_as(m, lora_plain, "p")) fail_msg("%s", adapt_error());
    assert_int_equal(adapt_model_set_weight_dtype(m, ADAPT_WEIGHTS_BF16), ADAPT_ERR_UNSUPPORTED);
    assert_non_null(strstr(adapt_error(), "DoRA"));
    const char *both[2] = {"d", "p"};
    const double w[2] = {1, 1};
    assert_int_equal(adapt_model_add_weighted_lora(m, both, w, 2, "x", "cat"), ADAPT_ERR_UNSUPPORTED);
    /* names that are tensor-name parts would make one LoRA's tensors end like another's */
    const char *clashing[3] = {LORA_MAGNITUDE, "lora_A", "lora_B"};
    for (int i = 0; i < 3; i++) assert_int_equal(adapt_model_load_lora_as(m, dora, clashing[i]), ADAPT_ERR_ARG);
    /* a zero magnitude: merging would zero a row that unmerging cannot bring back */
    assert_int_equal(adapt_model_set_lora(m, "d"), ADAPT_OK);
    param *W = linear_weight(&m->layers[0], LIN_QUERY);
    float w0 = W->data[0];
    m->lora->pairs[0][LIN_QUERY].magnitude->data[0] = 0;
    assert_int_equal(adapt_model_merge_lora(m), ADAPT_ERR_NUMERIC);
    assert_false(m->lora->merged);
    assert_float_equal(W->data[0], w0, 0);
    adapt_model_free(m);
    assert_int_equal(run_command("cp -r '%s' '%s/no-magnitudes' && sed -i 's/\"use_dora\": *false/\"use_dora\": true/' "
                                 "'%s/no-magnitudes/adapter_config.json' && grep -q '\"use_dora\": *true' '%s/no-magnitudes/adapter_config.json'",
                                 lora_plain, test_tmp, test_tmp, test_tmp),
                     0);
    m = load_tiny_bert();
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/no-magnitudes", test_tmp);
    assert_int_equal(adapt_model_load_lora(m, dir), ADAPT_ERR_FORMAT);
    assert_non_null(strstr(adapt_error(), LORA_MAGNITUDE));
    assert_int_equal(adapt_model_num_loras(m), 0);
    adapt_model_free(m);
}

/* ------------------------------------------------------------------ training */
/* Sets every magnitude of module (l, k) to c_o times the current norm: the norms change with A
 * or B, c stays, which is what DoRA's backward assumes (the norm a constant). */
static void hold_scale(grad_run *g, int l, int k, const double *c)
{
    double *norms = adapted_norms(g->m, l, k);
    param *mag = g->m->lora->pairs[l][k].magnitude;
    for (size_t o = 0; o < mag->numel; o++) mag->data[o] = (float)(c[o] * norms[o]);
    free(norms);
}

/* Central difference of the loss in v[i]; for A and B with c held (hold_scale). */
static double numeric(grad_run *g, float *v, size_t i, int l, int k, bool hold)
{
    param *mag = g->m->lora->pairs[l][k].magnitude;
    if (!hold) return grad_run_numeric(g, v, i);
    float *saved_mag = malloc(mag->numel * sizeof *saved_mag);
    memcpy(saved_mag, mag->data, mag->numel * sizeof *saved_mag);
    double *norms = adapted_norms(g->m, l, k), *c = malloc(mag->numel * sizeof *c);
    for (size_t o = 0; o < mag->numel; o++) c[o] = mag->data[o] / norms[o];
    free(norms);
    const float eps = 1e-2f, x = v[i];
    v[i] = x + eps;
    hold_scale(g, l, k, c);
    double up = grad_run_loss(g, false);
    v[i] = x - eps;
    hold_scale(g, l, k, c);
    double down = grad_run_loss(g, false);
    v[i] = x;
    memcpy(mag->data, saved_mag, mag->numel * sizeof *saved_mag);
    free(saved_mag);
    free(c);
    return (up - down) / (2.0 * eps);
}

/* DoRA's gradients against central differences: the magnitudes' directly, A's and B's with the
 * norm held as a constant (PEFT's detach, the paper's section 4.3), on every kind of linear layer;
 * with dropout on too (DoRA sits between each dense layer and its dropout). */
static void check_gradients(bool dropout)
{
    grad_run g;
    adapt_model *m = load_tiny_bert();
    m->training = dropout;
    lora_config cfg = {.r = 4, .alpha = 8, .use_dora = true, .n_targets = 4};
    const char *targets[4] = {"query", "key", "value", "dense"};
    for (int i = 0; i < 4; i++) snprintf(cfg.targets[i], sizeof cfg.targets[i], "%s", targets[i]);
    uint64_t rng = 9;
    if (lora_attach(m, &cfg, LORA_DEFAULT_NAME, true, &rng, NULL)) fail_msg("%s", adapt_error());
    grad_run_init(&g, m, 9);
    /* a trained-looking DoRA: B away from zero, magnitudes away from the norms */
    for (int l = 0; l < g.m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            lora_pair *p = &g.m->lora->pairs[l][k];
            assert_true(g.m->lora->has[l][k] && p->magnitude->trainable && p->A->trainable);
            for (size_t i = 0; i < p->B->numel; i++) p->B->data[i] = (float)(0.2 * (2 * test_uniform(&rng) - 1));
            for (size_t o = 0; o < p->magnitude->numel; o++) p->magnitude->data[o] *= (float)(1 + 0.3 * (2 * test_uniform(&rng) - 1));
        }
    grad_run_loss(&g, true);
    int checked = 0;
    for (int l = 0; l < g.m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            lora_pair *p = &g.m->lora->pairs[l][k];
            param *ps[3] = {p->magnitude, p->A, p->B};
            for (int f = 0; f < 3; f++) {
                size_t at = 0; /* the entry with the largest gradient: the best signal over float noise */
                for (size_t i = 1; i < ps[f]->numel; i++)
                    if (fabsf(ps[f]->grad[i]) > fabsf(ps[f]->grad[at])) at = i;
                double got = ps[f]->grad[at], want = numeric(&g, ps[f]->data, at, l, k, f > 0);
                if (!(fabs(got - want) <= 0.03 * fabs(want) + 2e-3))
                    fail_msg("layer %d %s %s[%zu]: gradient %g, central difference %g", l, lora_module_names[k],
                             f == 0 ? "magnitude" : f == 1 ? "A" : "B", at, got, want);
                checked++;
            }
        }
    assert_int_equal(checked, 2 * LIN_COUNT * 3);
    grad_run_free(&g);
    adapt_model_free(m);
}

static void test_gradients(void **state)
{
    (void)state;
    check_gradients(false);
}

static void test_gradients_with_dropout(void **state)
{
    (void)state;
    check_gradients(true);
}

/* `adapt train --method lora --dora`: the saved folder is a DoRA whose magnitudes trained away from
 * the norms they start at, and it tags with `adapt predict`. */
static void test_train_command(void **state)
{
    (void)state;
    const char *tmp = test_tmp, *pwd = getenv("PWD") ? getenv("PWD") : ".";
    assert_int_equal(run_command("head -n 400 '%s' > '%s/ner.conll' && '%s' train --task ner --model models/default --train "
                                 "'%s/ner.conll' --output '%s/trained' --name ner --method lora --dora --lora-r 4 --max-steps 8 "
                                 "--batch-size 8 --max-length 32 --lr 1e-2 --quiet > '%s/train.log' 2>&1",
                                 shared_path("data/ner/wikiann-en/train.conll"), tmp, build_path("adapt"), tmp, tmp, tmp),
                     0);
    assert_int_equal(run_command("grep -q '\"use_dora\":\\s*true' '%s/trained/best/lora/adapter_config.json'", tmp), 0);
    adapt_model *m = NULL;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/trained/best/lora", tmp);
    if (adapt_model_load("models/default", &m) || adapt_model_load_lora(m, dir)) fail_msg("%s", adapt_error());
    const lora_pair *p = &m->lora->pairs[0][LIN_QUERY];
    float *c = malloc(p->magnitude->numel * sizeof *c);
    assert_int_equal(dora_scale(linear_weight(&m->layers[0], LIN_QUERY), p, m->lora->scaling, c), ADAPT_OK);
    double moved = 0;
    for (size_t o = 0; o < p->magnitude->numel; o++) moved = fmax(moved, fabs(c[o] - 1));
    if (!(moved > 1e-4)) fail_msg("the magnitudes stayed at the norms (largest |c - 1| %g)", moved);
    free(c);
    /* the tagging head also went into the PEFT file as modules_to_save "classifier" (PEFT's
     * TOKEN_CLS head), the same values as the AdapterHub head beside it */
    assert_int_equal(run_command("grep -q '\"modules_to_save\":\\s*\\[\"classifier\"\\]' '%s/adapter_config.json'", dir), 0);
    head h;
    if (adapterhub_load_head(m, dir, NULL, &h)) fail_msg("%s", adapt_error());
    const param *cw = store_get(&m->store, "classifier.weight"), *cb = store_get(&m->store, "classifier.bias");
    assert_true(cw && cb && cw->numel == h.w1->numel);
    assert_memory_equal(cw->data, h.w1->data, h.w1->numel * sizeof(float));
    assert_memory_equal(cb->data, h.b1->data, h.b1->numel * sizeof(float));
    adapt_model_free(m);
    assert_int_equal(run_command("cd '%s' && printf 'Lima\\tB-LOC\\nPeru\\tB-LOC\\n' > two.conll && '%s/%s' predict --model '%s/models/default' "
                                 "--lora trained/best/lora --input two.conll --output two.out > predict.log 2>&1 && test $(wc -l < two.out) -ge 2",
                                 tmp, pwd, build_path("adapt"), pwd),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_and_merge),
        cmocka_unit_test(test_named_and_mixed),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_gradients_with_dropout),
        cmocka_unit_test(test_train_command),
    };
    return cmocka_run_group_tests(tests, make_doras, test_tmp_teardown);
}
