/* Composition blocks on a real encoder (tiny-bert): Parallel (the batch replicated per channel,
 * a head per channel) equals single-adapter runs, and its gradients equal the sum of the
 * single-adapter gradients; Split (tokens per child) reduces to single adapters where it should
 * and passes a finite-difference check. */
#include "adapters/setup.h"
#include "model/heads.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, T = 6, LABELS = 3 };

static uint64_t rng_state = 0x1234567u;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static int32_t ids[B * T], mask[B * T];

/* tiny-bert with adapters a, b (seq_bn) and p (par_bn), every adapter tensor random. */
static adapt_model *make_model(void)
{
    adapt_model *m = NULL;
    assert_int_equal(adapt_model_load(shared_path("fixtures/models/tiny-bert"), &m), ADAPT_OK);
    static const char *const names[] = {"a", "b", "p"};
    for (int i = 0; i < 3; i++) {
        bn_config cfg;
        assert_int_equal(bn_config_parse_string(i == 2 ? "par_bn" : "seq_bn", &cfg), ADAPT_OK);
        assert_int_equal(setup_add_adapter(m, names[i], &cfg, true), ADAPT_OK);
    }
    for (size_t i = 0; i < m->store.count; i++) {
        param *p = m->store.items[i];
        if (!strstr(p->name, ".adapters.")) continue;
        for (size_t k = 0; k < p->numel; k++) p->data[k] = (float)(urand() - 0.5) * 0.4f;
    }
    for (int i = 0; i < B * T; i++) {
        ids[i] = 1 + (int32_t)(urand() * 500);
        mask[i] = !(i / T == 1 && i % T >= T - 2); /* the second sequence ends in two pads */
    }
    return m;
}

/* Parallel runs its GEMMs on the replicated batch (2B rows), so BLAS may block and round them
 * unlike the single runs: float32 rounding through the layers, 1.2e-6 on an AVX-512 machine. A
 * wrong channel or adapter differs by orders of magnitude more. */
#define PARALLEL_TOLERANCE 1e-5

static void max_diff(const float *x, const float *y, size_t n, double tol, const char *what)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)x[i] - y[i]) / fmax(1.0, fabs((double)y[i])));
    if (!(worst <= tol)) fail_msg("%s: max difference %.3g > %.3g", what, worst, tol);
}

static float *last_hidden_copy(adapt_model *m, size_t rows)
{
    size_t n = rows * (size_t)m->cfg.hidden;
    float *out = malloc(n * sizeof *out);
    memcpy(out, m->fw.hidden[m->cfg.layers], n * sizeof *out);
    return out;
}

static float *single_hidden(adapt_model *m, const char *setup)
{
    assert_int_equal(setup_activate(m, setup), ADAPT_OK);
    assert_int_equal(model_forward(m, B, T, ids, mask, NULL), ADAPT_OK);
    return last_hidden_copy(m, B * T);
}

static void test_parallel_equals_single_runs(void **state)
{
    (void)state;
    adapt_model *m = make_model();
    size_t NH = (size_t)B * T * m->cfg.hidden;
    static const char *const cases[][3] = {
        {"Parallel(a, b)", "a", "b"},
        {"Parallel(p, Stack(a, b))", "p", "Stack(a, b)"},
        {"Stack(a, Parallel(b, a))", "Stack(a, b)", "Stack(a, a)"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float *h0 = single_hidden(m, cases[c][1]), *h1 = single_hidden(m, cases[c][2]);
        assert_int_equal(setup_activate(m, cases[c][0]), ADAPT_OK);
        /* Callers that size outputs by B are refused, not overrun. */
        assert_int_equal(model_forward(m, B, T, ids, mask, NULL), ADAPT_ERR_UNSUPPORTED);
        int channels = 0;
        assert_int_equal(model_forward_channels(m, B, T, ids, mask, NULL, &channels), ADAPT_OK);
        assert_int_equal(channels, 2);
        assert_int_equal(m->fw.B, 2 * B);
        const float *h = m->fw.hidden[m->cfg.layers];
        max_diff(h, h0, NH, PARALLEL_TOLERANCE, cases[c][0]);
        max_diff(h + NH, h1, NH, PARALLEL_TOLERANCE, cases[c][0]);
        free(h0);
        free(h1);
    }
    /* A classification head per channel gives the single runs' logits. */
    head ha, hb;
    assert_int_equal(head_create(m, &ha, HEAD_CLASSIFICATION, "a", LABELS), ADAPT_OK);
    assert_int_equal(head_create(m, &hb, HEAD_CLASSIFICATION, "b", LABELS), ADAPT_OK);
    uint64_t seed = 7;
    head_init_random(&ha, &seed);
    head_init_random(&hb, &seed);
    float la[B * LABELS], lb[B * LABELS], pa[B * LABELS], pb[B * LABELS];
    free(single_hidden(m, "a"));
    assert_int_equal(head_forward(m, &ha, la), ADAPT_OK);
    free(single_hidden(m, "b"));
    assert_int_equal(head_forward(m, &hb, lb), ADAPT_OK);
    assert_int_equal(setup_activate(m, "Parallel(a, b)"), ADAPT_OK);
    assert_int_equal(model_forward_channels(m, B, T, ids, mask, NULL, NULL), ADAPT_OK);
    assert_int_equal(head_forward_channel(m, &ha, 0, pa), ADAPT_OK);
    assert_int_equal(head_forward_channel(m, &hb, 1, pb), ADAPT_OK);
    assert_int_equal(head_forward_channel(m, &hb, 2, pb), ADAPT_ERR_ARG);
    max_diff(pa, la, B * LABELS, PARALLEL_TOLERANCE, "channel 0 logits");
    max_diff(pb, lb, B * LABELS, PARALLEL_TOLERANCE, "channel 1 logits");
    assert_int_equal(m->fw.B, 2 * B); /* the channel view is restored */
    adapt_model_free(m);
}

/* ---------------------------------------------------------------- gradients */
typedef struct run {
    adapt_model *m;
    head *heads[2];
    const char *setups[2]; /* NULL setups[1]: one Parallel setup in setups[0], a head per channel */
    const float *w[2];     /* loss = sum_c w_c . logits_c */
} run;

static double forward_loss(const run *r, bool backward)
{
    adapt_model *m = r->m;
    size_t NH = (size_t)2 * B * T * m->cfg.hidden;
    float logits[2][B * T * LABELS];
    double loss = 0;
    if (!r->setups[1]) {
        assert_int_equal(setup_activate(m, r->setups[0]), ADAPT_OK);
        assert_int_equal(model_forward_channels(m, B, T, ids, mask, NULL, NULL), ADAPT_OK);
        float *d_hidden = backward ? calloc(NH, sizeof(float)) : NULL;
        for (int c = 0; c < 2; c++) {
            assert_int_equal(head_forward_channel(m, r->heads[c], c, logits[c]), ADAPT_OK);
            for (int i = 0; i < B * T * LABELS; i++) loss += (double)r->w[c][i] * logits[c][i];
            if (backward) assert_int_equal(head_backward_channel(m, r->heads[c], c, r->w[c], d_hidden), ADAPT_OK);
        }
        if (backward) assert_int_equal(model_backward(m, d_hidden), ADAPT_OK);
        free(d_hidden);
        return loss;
    }
    for (int c = 0; c < 2; c++) {
        assert_int_equal(setup_activate(m, r->setups[c]), ADAPT_OK);
        assert_int_equal(model_forward(m, B, T, ids, mask, NULL), ADAPT_OK);
        assert_int_equal(head_forward(m, r->heads[c], logits[c]), ADAPT_OK);
        for (int i = 0; i < B * T * LABELS; i++) loss += (double)r->w[c][i] * logits[c][i];
        if (backward) {
            float *d_hidden = calloc(NH, sizeof(float));
            assert_int_equal(head_backward(m, r->heads[c], r->w[c], d_hidden), ADAPT_OK);
            assert_int_equal(model_backward(m, d_hidden), ADAPT_OK);
            free(d_hidden);
        }
    }
    return loss;
}

/* Every gradient of the store, concatenated. */
static float *all_grads(adapt_model *m, size_t *n)
{
    size_t total = 0;
    for (size_t i = 0; i < m->store.count; i++)
        if (m->store.items[i]->grad) total += m->store.items[i]->numel;
    float *g = malloc(total * sizeof *g);
    size_t k = 0;
    for (size_t i = 0; i < m->store.count; i++)
        if (m->store.items[i]->grad) {
            memcpy(g + k, m->store.items[i]->grad, m->store.items[i]->numel * sizeof *g);
            k += m->store.items[i]->numel;
        }
    *n = total;
    return g;
}

/* Central difference of the loss for one element against its analytic gradient. */
static void fd_check(run *r, param *p, size_t k, const char *what)
{
    assert_non_null(p);
    assert_non_null(p->grad);
    store_zero_grads(&r->m->store);
    forward_loss(r, true);
    double analytic = p->grad[k];
    float saved = p->data[k];
    const float eps = 1e-2f;
    p->data[k] = saved + eps;
    double up = forward_loss(r, false);
    p->data[k] = saved - eps;
    double down = forward_loss(r, false);
    p->data[k] = saved;
    double numeric = (up - down) / (2.0 * eps);
    if (!(fabs(numeric - analytic) <= 2e-2 * fmax(fabs(numeric), 1e-2)))
        fail_msg("%s %s[%zu]: analytic %.6g, numeric %.6g", what, p->name, k, analytic, numeric);
}

static void test_parallel_gradients(void **state)
{
    (void)state;
    adapt_model *m = make_model();
    head ha, hb;
    assert_int_equal(head_create(m, &ha, HEAD_TAGGING, "a", LABELS), ADAPT_OK);
    assert_int_equal(head_create(m, &hb, HEAD_TAGGING, "b", LABELS), ADAPT_OK);
    uint64_t seed = 11;
    head_init_random(&ha, &seed);
    head_init_random(&hb, &seed);
    for (size_t i = 0; i < m->store.count; i++) {
        param *p = m->store.items[i];
        if (strstr(p->name, ".adapters.a.") || strstr(p->name, ".adapters.b.") || strstr(p->name, "heads.") ||
            !strcmp(p->name, "bert.encoder.layer.0.attention.self.query.weight") ||
            !strcmp(p->name, "bert.encoder.layer.1.output.LayerNorm.weight"))
            assert_int_equal(store_set_trainable(p, true), ADAPT_OK);
    }
    float w0[B * T * LABELS], w1[B * T * LABELS];
    for (int i = 0; i < B * T * LABELS; i++) w0[i] = (float)(urand() - 0.5), w1[i] = (float)(urand() - 0.5);
    run single = {m, {&ha, &hb}, {"a", "b"}, {w0, w1}};
    run par = {m, {&ha, &hb}, {"Parallel(a, b)", NULL}, {w0, w1}};
    store_zero_grads(&m->store);
    double loss_single = forward_loss(&single, true);
    size_t n1, n2;
    float *g_single = all_grads(m, &n1);
    store_zero_grads(&m->store);
    double loss_par = forward_loss(&par, true);
    float *g_par = all_grads(m, &n2);
    assert_int_equal(n1, n2);
    assert_true(n1 > 1000);
    assert_true(fabs(loss_single - loss_par) < 1e-5 * fmax(1, fabs(loss_single)));
    double norm = 0;
    for (size_t i = 0; i < n1; i++) norm += fabs(g_single[i]);
    assert_true(norm > 0);
    max_diff(g_par, g_single, n1, 1e-5, "Parallel(a, b) gradients vs a + b");
    free(g_single);
    free(g_par);
    /* And against finite differences: an adapter of each channel and a shared base weight. */
    fd_check(&par, store_get(&m->store, "bert.encoder.layer.0.output.adapters.b.adapter_down.0.weight"), 3, "Parallel");
    fd_check(&par, store_get(&m->store, "bert.encoder.layer.1.output.adapters.a.adapter_up.weight"), 5, "Parallel");
    fd_check(&par, store_get(&m->store, "bert.encoder.layer.0.attention.self.query.weight"), 17, "Parallel");
    adapt_model_free(m);
}

/* ---------------------------------------------------------------- Split */
static void test_split(void **state)
{
    (void)state;
    adapt_model *m = make_model();
    size_t NH = (size_t)B * T * m->cfg.hidden;
    float *ha = single_hidden(m, "a"), *hb = single_hidden(m, "b");
    static const char *const as_a[] = {"Split(a, a, splits=[2])", "Split(a, b, splits=[6, 0])", "Split(a, b, splits=[6])"};
    for (size_t i = 0; i < sizeof as_a / sizeof *as_a; i++) {
        float *h = single_hidden(m, as_a[i]);
        max_diff(h, ha, NH, 1e-6, as_a[i]);
        free(h);
    }
    float *h = single_hidden(m, "Split(a, b, splits=[0, 6])");
    max_diff(h, hb, NH, 1e-6, "Split(a, b, splits=[0, 6])");
    free(h);
    /* The legacy split index and the 1.x list mean the same; a real split differs from both. */
    float *s1 = single_hidden(m, "Split(a, b, splits=[2])"), *s2 = single_hidden(m, "Split(a, b, splits=[2, 4])");
    max_diff(s1, s2, NH, 0, "split index vs splits list");
    double da = 0, db = 0;
    for (size_t i = 0; i < NH; i++) da = fmax(da, fabs(s1[i] - ha[i])), db = fmax(db, fabs(s1[i] - hb[i]));
    assert_true(da > 1e-3 && db > 1e-3);
    free(s1);
    free(s2);
    free(ha);
    free(hb);
    /* Lengths that do not add up to the sequence are errors at run time. */
    assert_int_equal(setup_activate(m, "Split(a, b, splits=[2, 2])"), ADAPT_OK);
    assert_int_equal(model_forward(m, B, T, ids, mask, NULL), ADAPT_ERR_ARG);
    assert_int_equal(setup_activate(m, "Split(a, b, splits=[7])"), ADAPT_OK);
    assert_int_equal(model_forward(m, B, T, ids, mask, NULL), ADAPT_ERR_ARG);
    /* Gradients through the token gather / scatter. */
    head hd;
    assert_int_equal(head_create(m, &hd, HEAD_TAGGING, "t", LABELS), ADAPT_OK);
    uint64_t seed = 5;
    head_init_random(&hd, &seed);
    for (size_t i = 0; i < m->store.count; i++)
        if (strstr(m->store.items[i]->name, ".adapters.")) assert_int_equal(store_set_trainable(m->store.items[i], true), ADAPT_OK);
    float w0[B * T * LABELS], w1[B * T * LABELS];
    for (int i = 0; i < B * T * LABELS; i++) w0[i] = (float)(urand() - 0.5), w1[i] = 0;
    static const char *const setups[] = {"Split(a, b, splits=[2])", "Split(p, Stack(a, b), splits=[4, 2])"};
    for (size_t s = 0; s < 2; s++) {
        run r = {m, {&hd, &hd}, {setups[s], "a"}, {w0, w1}};
        fd_check(&r, store_get(&m->store, "bert.encoder.layer.0.output.adapters.a.adapter_down.0.weight"), 2, setups[s]);
        fd_check(&r, store_get(&m->store, "bert.encoder.layer.0.output.adapters.b.adapter_up.weight"), 9, setups[s]);
        fd_check(&r, store_get(&m->store, "bert.encoder.layer.1.output.adapters.b.adapter_down.0.bias"), 1, setups[s]);
    }
    fd_check(&(run){m, {&hd, &hd}, {setups[1], "a"}, {w0, w1}},
             store_get(&m->store, "bert.encoder.layer.1.output.adapters.p.adapter_up.weight"), 4, setups[1]);
    adapt_model_free(m);
}

static void test_parallel_split_strings(void **state)
{
    (void)state;
    static const char *good[][2] = {
        {"Parallel(a, b)", "Parallel(a, b)"},
        {"Stack(x, Parallel(a, Stack(b, c), BatchSplit(d, e, batch_sizes=[1, 1])))",
         "Stack(x, Parallel(a, Stack(b, c), BatchSplit(d, e, batch_sizes=[1, 1])))"},
        {"Split(a, b, splits=[3])", "Split(a, b, splits=[3])"},
        {"Split(a, b, c, splits=4)", "Split(a, b, c, splits=[4, 4, 4])"},
        {"split(a, Stack(b, c), splits=[1, 2])", "Split(a, Stack(b, c), splits=[1, 2])"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        comp_node *n = NULL;
        if (comp_parse(good[i][0], &n) != ADAPT_OK) fail_msg("%s: %s", good[i][0], adapt_error());
        char buf[256];
        comp_format(n, buf, sizeof buf);
        assert_string_equal(buf, good[i][1]);
        comp_free(n);
    }
    comp_node *n = NULL;
    assert_int_equal(comp_parse("Stack(x, Parallel(a, b, c))", &n), ADAPT_OK);
    assert_int_equal(comp_parallel_channels(n), 3);
    comp_free(n);
    static const char *bad[] = {"Parallel(a, Parallel(b, c))", "Fuse(a, Parallel(b, c))", "BatchSplit(Parallel(a, b), c, batch_sizes=[1, 1])",
                                "Parallel(a, Fuse(b, c))", "Split(a, b)", "Split(a, b, c, splits=[1, 2])", "Split(a, b, splits=[-1])",
                                "Split(a, Parallel(b, c), splits=[1, 1])", "Split(a, Fuse(b, c), splits=[1, 1])",
                                "Stack(a, splits=[1])", "Average(a, Parallel(b, c))"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = NULL;
        if (comp_parse(bad[i], &n) == ADAPT_OK) fail_msg("accepted \"%s\"", bad[i]);
        assert_null(n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallel_split_strings),
        cmocka_unit_test(test_parallel_equals_single_runs),
        cmocka_unit_test(test_parallel_gradients),
        cmocka_unit_test(test_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
