/* Combining LoRAs (adapt.h: adapt_model_combine_loras, PEFT's add_weighted_adapter with every
 * combination type): the merge operations on hand-worked values, the truncated SVD's defining
 * properties, and each type on c10's LoRA beside two variants the test writes: "p", the same
 * factors with another lora_alpha (its delta a multiple of a's: signs agree everywhere), and "b",
 * factors perturbed with another lora_alpha (a delta of its own). */
#include "adapters/low_rank.h"
#include "adapters/task_merge.h"
#include "core/random.h"
#include "formats/peft.h"
#include "lora_fixture.h"
#include "model/model.h"
#include "testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char lora_a[1024], lora_b[1024], lora_p[1024];

static int make_variants(void **state)
{
    test_tmp_setup(state);
    const char *tmp = test_tmp;
    snprintf(lora_a, sizeof lora_a, "%s", shared_path("fixtures/cases/c10_lora_tagging/lora"));
    snprintf(lora_b, sizeof lora_b, "%s/b", tmp);
    snprintf(lora_p, sizeof lora_p, "%s/p", tmp);
    adapt_model *m = load_tiny_bert();
    if (peft_load(m, lora_a)) fail_msg("%s", adapt_error());
    m->lora->cfg.alpha = 24;
    if (peft_save(m, lora_p, NULL)) fail_msg("%s", adapt_error());
    uint64_t rng = 7;
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!m->lora->has[l][k]) continue;
            param *f[2] = {m->lora->pairs[l][k].A, m->lora->pairs[l][k].B};
            for (int j = 0; j < 2; j++)
                for (size_t i = 0; i < f[j]->numel; i++) f[j]->data[i] += (float)(0.05 * adapt_rng_normal(&rng));
        }
    if (peft_save(m, lora_b, NULL)) fail_msg("%s", adapt_error());
    adapt_model_free(m);
    return 0;
}

/* The merge operations on values worked by hand. */
static void test_merge_operations(void **state)
{
    (void)state;
    const float t1[4] = {1, -2, 3, 0.5f}, t2[4] = {-3, 1, 1, 0.1f}, t3[4] = {2, 2, -1, -0.2f};
    const float *three[3] = {t1, t2, t3};
    const double ones[3] = {1, 1, 1}, w[3] = {2, 1, 1};
    float out[5];
    task_merge_options o = {.kind = MERGE_TASK_ARITHMETIC, .density = 1};
    assert_int_equal(task_merge(three, w, 3, 4, &o, out), ADAPT_OK);
    const float sum[4] = {1, -1, 6, 0.9f};
    for (int j = 0; j < 4; j++) assert_float_equal(out[j], sum[j], 1e-6);
    /* TIES without pruning: elected signs (sums 0, 1, 3, 0.4: all +), then the mean of the weighted
     * values that agree: (2*1 + 2)/2, (1 + 2)/2, (2*3 + 1)/2, (2*0.5 + 0.1)/2 */
    o.kind = MERGE_TIES;
    assert_int_equal(task_merge(three, w, 3, 4, &o, out), ADAPT_OK);
    const float ties[4] = {2, 1.5f, 3.5f, 0.55f};
    for (int j = 0; j < 4; j++) assert_float_equal(out[j], ties[j], 1e-6);
    /* total against frequency: -5, 1, 1 sum to -3 (keep -5) but count two + signs (keep 1, 1) */
    const float u1[1] = {-5}, u2[1] = {1}, u3[1] = {1};
    const float *votes[3] = {u1, u2, u3};
    assert_int_equal(task_merge(votes, ones, 3, 1, &o, out), ADAPT_OK);
    assert_float_equal(out[0], -5, 0);
    o.sign = MAJORITY_SIGN_FREQUENCY;
    assert_int_equal(task_merge(votes, ones, 3, 1, &o, out), ADAPT_OK);
    assert_float_equal(out[0], 1, 0);
    /* magnitude pruning keeps floor(density * n) largest magnitudes, the earlier of equal ones */
    const float m1[5] = {3, -1, 2, -4, 0.5f}, m2[4] = {1, -1, 1, 0.5f};
    const float *one[1] = {m1}, *equal[1] = {m2};
    o = (task_merge_options){.kind = MERGE_MAGNITUDE_PRUNE, .density = 0.5};
    assert_int_equal(task_merge(one, ones, 1, 5, &o, out), ADAPT_OK); /* k = 2 */
    const float pruned[5] = {3, 0, 0, -4, 0};
    for (int j = 0; j < 5; j++) assert_float_equal(out[j], pruned[j], 0);
    assert_int_equal(task_merge(equal, ones, 1, 4, &o, out), ADAPT_OK);
    const float first_equal[4] = {1, -1, 0, 0};
    for (int j = 0; j < 4; j++) assert_float_equal(out[j], first_equal[j], 0);
    o.density = 0.1; /* k = 0: nothing kept */
    assert_int_equal(task_merge(one, ones, 1, 5, &o, out), ADAPT_OK);
    for (int j = 0; j < 5; j++) assert_float_equal(out[j], 0, 0);
    /* TIES after pruning: t1 keeps 3 and -2, t2 -3 and 1 (the earlier 1), t3 2 and 2 */
    o = (task_merge_options){.kind = MERGE_TIES, .density = 0.5};
    assert_int_equal(task_merge(three, ones, 3, 4, &o, out), ADAPT_OK);
    /* element 0: t1 pruned to 0, t2 -3, t3 2: sum -1, elected -, mean of {-3} = -3;
     * element 1: -2, 1, 2: sum 1, +, mean of {1, 2} = 1.5; element 2: 3, 0, 0: 3;
     * element 3: all pruned: 0 */
    const float want_pruned_ties[4] = {-3, 1.5f, 3, 0};
    for (int j = 0; j < 4; j++) assert_float_equal(out[j], want_pruned_ties[j], 1e-6);
}

/* DARE: each entry kept with probability density and rescaled, repeatable from its seed. */
static void test_dare(void **state)
{
    (void)state;
    enum { N = 4000 };
    float *t = malloc(N * sizeof *t), *out = malloc(N * sizeof *out), *again = malloc(N * sizeof *again);
    for (int j = 0; j < N; j++) t[j] = (float)(j % 17) - 8.5f;
    const float *one[1] = {t};
    const double w[1] = {0.5};
    uint64_t rng = 3;
    task_merge_options o = {.kind = MERGE_DARE_LINEAR, .density = 0.25, .rng = &rng};
    assert_int_equal(task_merge(one, w, 1, N, &o, out), ADAPT_OK);
    int kept = 0;
    for (int j = 0; j < N; j++) {
        if (out[j] == 0) continue;
        kept++;
        assert_float_equal(out[j], 0.5 * t[j] / 0.25, 1e-5);
    }
    if (kept < N / 4 - 150 || kept > N / 4 + 150) fail_msg("DARE kept %d of %d at density 0.25", kept, N);
    rng = 3;
    assert_int_equal(task_merge(one, w, 1, N, &o, again), ADAPT_OK);
    assert_memory_equal(out, again, N * sizeof *out);
    free(t), free(out), free(again);
}

/* The truncated SVD: exact at full rank; at lower rank orthonormal A rows and a residual
 * orthogonal to both kept subspaces, whose largest singular value is at most the smallest kept. */
static void test_low_rank_factors(void **state)
{
    (void)state;
    enum { ROWS = 9, COLS = 6, TRUE_RANK = 4 };
    double L[ROWS * TRUE_RANK], R[TRUE_RANK * COLS], M[ROWS * COLS];
    uint64_t rng = 11;
    for (int i = 0; i < ROWS * TRUE_RANK; i++) L[i] = adapt_rng_normal(&rng);
    for (int i = 0; i < TRUE_RANK * COLS; i++) R[i] = adapt_rng_normal(&rng);
    for (int o = 0; o < ROWS; o++)
        for (int i = 0; i < COLS; i++) {
            M[o * COLS + i] = 0;
            for (int c = 0; c < TRUE_RANK; c++) M[o * COLS + i] += L[o * TRUE_RANK + c] * R[c * COLS + i];
        }
    float B[ROWS * COLS], A[COLS * COLS];
    assert_int_equal(low_rank_factors(M, ROWS, COLS, TRUE_RANK, 0, B, A), ADAPT_OK);
    for (int o = 0; o < ROWS; o++)
        for (int i = 0; i < COLS; i++) {
            double ba = 0;
            for (int c = 0; c < TRUE_RANK; c++) ba += (double)B[o * TRUE_RANK + c] * A[c * COLS + i];
            assert_float_equal(ba, M[o * COLS + i], 1e-4);
        }
    enum { K = 2 };
    assert_int_equal(low_rank_factors(M, ROWS, COLS, K, 0, B, A), ADAPT_OK);
    double residual[ROWS * COLS];
    for (int o = 0; o < ROWS; o++)
        for (int i = 0; i < COLS; i++) {
            double ba = 0;
            for (int c = 0; c < K; c++) ba += (double)B[o * K + c] * A[c * COLS + i];
            residual[o * COLS + i] = M[o * COLS + i] - ba;
        }
    for (int a = 0; a < K; a++)
        for (int b = 0; b < K; b++) {
            double dot = 0;
            for (int i = 0; i < COLS; i++) dot += (double)A[a * COLS + i] * A[b * COLS + i];
            assert_float_equal(dot, a == b, 1e-5);
        }
    double smallest_kept = INFINITY;
    for (int c = 0; c < K; c++) {
        double norm = 0, along_a = 0;
        for (int o = 0; o < ROWS; o++) norm += (double)B[o * K + c] * B[o * K + c];
        smallest_kept = fmin(smallest_kept, sqrt(norm));
        for (int o = 0; o < ROWS; o++) { /* (R A^T)[o][c] */
            double x = 0;
            for (int i = 0; i < COLS; i++) x += residual[o * COLS + i] * A[c * COLS + i];
            along_a = fmax(along_a, fabs(x));
        }
        assert_true(along_a < 1e-4);
        for (int i = 0; i < COLS; i++) { /* (B^T R)[c][i] */
            double x = 0;
            for (int o = 0; o < ROWS; o++) x += (double)B[o * K + c] * residual[o * COLS + i];
            assert_true(fabs(x) < 1e-3);
        }
    }
    double v[COLS], sigma = 0; /* the residual's largest singular value, by power iteration */
    for (int i = 0; i < COLS; i++) v[i] = 1.0 + i;
    for (int step = 0; step < 200; step++) {
        double rv[ROWS], next[COLS], norm = 0;
        for (int o = 0; o < ROWS; o++) {
            rv[o] = 0;
            for (int i = 0; i < COLS; i++) rv[o] += residual[o * COLS + i] * v[i];
        }
        for (int i = 0; i < COLS; i++) {
            next[i] = 0;
            for (int o = 0; o < ROWS; o++) next[i] += residual[o * COLS + i] * rv[o];
            norm += next[i] * next[i];
        }
        norm = sqrt(norm);
        sigma = sqrt(norm);
        for (int i = 0; i < COLS; i++) v[i] = next[i] / norm;
    }
    if (!(sigma <= smallest_kept + 1e-6)) fail_msg("a dropped singular value %g above a kept one %g", sigma, smallest_kept);
    /* clamped at the quantile 1, the largest entry: every entry within +-it, those within unchanged */
    float Bc[ROWS * K], Ac[K * COLS], largest = -INFINITY;
    for (int i = 0; i < ROWS * K; i++) largest = fmaxf(largest, B[i]);
    for (int i = 0; i < K * COLS; i++) largest = fmaxf(largest, A[i]);
    assert_int_equal(low_rank_factors(M, ROWS, COLS, K, 1.0, Bc, Ac), ADAPT_OK);
    int clamped = 0;
    for (int i = 0; i < ROWS * K; i++) {
        assert_true(Bc[i] >= -largest && Bc[i] <= largest);
        if (fabsf(B[i]) <= largest) assert_float_equal(Bc[i], B[i], 0);
        else clamped++;
    }
    assert_true(clamped > 0); /* some entry of B is below -largest, or the test shows nothing */
    /* the product's QR route gives the same rank-K part as the full SVD of the product */
    double Lk[ROWS * TRUE_RANK], Rk[TRUE_RANK * COLS];
    memcpy(Lk, L, sizeof Lk);
    memcpy(Rk, R, sizeof Rk);
    float Bp[ROWS * K], Ap[K * COLS];
    assert_int_equal(low_rank_factors_of_product(Lk, Rk, ROWS, TRUE_RANK, COLS, K, 0, Bp, Ap), ADAPT_OK);
    for (int o = 0; o < ROWS; o++)
        for (int i = 0; i < COLS; i++) {
            double full = 0, product = 0;
            for (int c = 0; c < K; c++) {
                full += (double)B[o * K + c] * A[c * COLS + i];
                product += (double)Bp[o * K + c] * Ap[c * COLS + i];
            }
            assert_float_equal(product, full, 1e-5);
        }
    Lk[2] = INFINITY;
    assert_int_equal(low_rank_factors_of_product(Lk, Rk, ROWS, TRUE_RANK, COLS, K, 0, Bp, Ap), ADAPT_ERR_NUMERIC);
    M[3] = NAN;
    assert_int_equal(low_rank_factors(M, ROWS, COLS, K, 0, B, A), ADAPT_ERR_NUMERIC);
    assert_int_equal(low_rank_factors(M, ROWS, COLS, COLS + 1, 0, B, A), ADAPT_ERR_ARG);
}

static size_t delta_cells(const adapt_model *m, const char *lora)
{
    const lora_pair *p = &lora_find(m, lora)->pairs[0][LIN_QUERY];
    return (size_t)(p->B->shape[0] * p->A->shape[1]);
}

/* Largest |got - want| over the largest |want|. */
static double relative_error(const double *got, const double *want, size_t n)
{
    double worst = 0, norm = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs(got[i] - want[i]));
        norm = fmax(norm, fabs(want[i]));
    }
    return norm > 0 ? worst / norm : INFINITY;
}

static adapt_status combine(adapt_model *m, const char *x, const char *y, const double *w, const char *name,
                            adapt_lora_combination how)
{
    const char *names[2] = {x, y};
    return adapt_model_combine_loras(m, names, w, 2, name, &how);
}

/* The svd types on the deltas (PEFT: merged with weights w_i s_i, s_i counted twice). */
static void test_svd_types(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, lora_a, "a") || adapt_model_load_lora_as(m, lora_b, "b") || adapt_model_load_lora_as(m, lora_p, "p"))
        fail_msg("%s", adapt_error());
    const double w[2] = {0.7, -0.4};
    double sa = lora_find(m, "a")->scaling, sb = lora_find(m, "b")->scaling, sp = lora_find(m, "p")->scaling;
    assert_true(fabs(sa - sb) > 0.1); /* the two scalings tell s_i from s_i squared */
    size_t cells = delta_cells(m, "a");
    /* rank 8 holds the whole sum: B A = w_a s_a delta_a + w_b s_b delta_b */
    if (combine(m, "a", "b", w, "full", (adapt_lora_combination){.type = "svd", .svd_rank = 8})) fail_msg("%s", adapt_error());
    const lora_state *full = lora_find(m, "full");
    assert_int_equal(full->cfg.r, 8);
    assert_float_equal(full->scaling, 1, 0);
    assert_false(full->pairs[0][LIN_QUERY].A->trainable);
    double *da = lora_delta(m, "a", 0, LIN_QUERY), *db = lora_delta(m, "b", 0, LIN_QUERY), *df = lora_delta(m, "full", 0, LIN_QUERY);
    double *want = malloc(cells * sizeof *want);
    for (size_t i = 0; i < cells; i++) want[i] = w[0] * sa * da[i] + w[1] * sb * db[i];
    double err = relative_error(df, want, cells);
    if (!(err < 1e-4)) fail_msg("svd at rank 8: off by %g of the largest entry", err);
    free(df);
    /* a rank past the stacked factors' 8 (a full SVD of the sum, its extra singular values 0): the same sum */
    if (combine(m, "a", "b", w, "wide", (adapt_lora_combination){.svd_rank = 16})) fail_msg("%s", adapt_error());
    assert_int_equal(lora_find(m, "wide")->cfg.r, 16);
    double *dw = lora_delta(m, "wide", 0, LIN_QUERY);
    err = relative_error(dw, want, cells);
    if (!(err < 1e-4)) fail_msg("svd at rank 16: off by %g of the largest entry", err);
    free(dw);
    /* the default rank (the largest input rank, 4) is the best rank-4 part: orthonormal A rows */
    if (combine(m, "a", "b", w, "svd4", (adapt_lora_combination){0})) fail_msg("%s", adapt_error());
    const lora_pair *p4 = &lora_find(m, "svd4")->pairs[0][LIN_QUERY];
    assert_int_equal(p4->A->shape[0], 4);
    int64_t in = p4->A->shape[1];
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            double dot = 0;
            for (int64_t i = 0; i < in; i++) dot += (double)p4->A->data[a * in + i] * p4->A->data[b * in + i];
            assert_float_equal(dot, a == b, 1e-5);
        }
    double *d4 = lora_delta(m, "svd4", 0, LIN_QUERY);
    double err4 = relative_error(d4, want, cells);
    if (!(err4 > 1e-3 && err4 < 1)) fail_msg("svd at rank 4 off by %g: not a truncation of the rank-8 sum", err4);
    free(d4);
    /* magnitude_prune_svd and dare_linear_svd at density 1 prune nothing: svd's result */
    const char *same_as_svd[2] = {"magnitude_prune_svd", "dare_linear_svd"};
    for (int t = 0; t < 2; t++) {
        char name[32];
        snprintf(name, sizeof name, "d1-%d", t);
        if (combine(m, "a", "b", w, name, (adapt_lora_combination){.type = same_as_svd[t], .svd_rank = 8, .density = 1}))
            fail_msg("%s", adapt_error());
        double *d = lora_delta(m, name, 0, LIN_QUERY);
        assert_true(relative_error(d, want, cells) < 1e-4);
        free(d);
    }
    /* ties_svd on a and p (one delta at two scales, signs agree everywhere): the mean of the two
     * weighted deltas, rank 4 */
    const double wp[2] = {0.5, 2};
    double *dp = lora_delta(m, "p", 0, LIN_QUERY);
    for (size_t i = 0; i < cells; i++) want[i] = (wp[0] * sa * da[i] + wp[1] * sp * dp[i]) / (da[i] != 0 ? 2 : 1);
    if (combine(m, "a", "p", wp, "ties", (adapt_lora_combination){.type = "ties_svd", .density = 1})) fail_msg("%s", adapt_error());
    double *dt = lora_delta(m, "ties", 0, LIN_QUERY);
    err = relative_error(dt, want, cells);
    if (!(err < 1e-4)) fail_msg("ties_svd: off by %g", err);
    /* clamped at the median of the factors' entries, the factors are bounded by +-it */
    if (combine(m, "a", "b", w, "clamped", (adapt_lora_combination){.svd_clamp = 0.5})) fail_msg("%s", adapt_error());
    const lora_pair *pc = &lora_find(m, "clamped")->pairs[0][LIN_QUERY];
    float bound = 0;
    int at_bound = 0;
    for (size_t i = 0; i < pc->A->numel; i++) bound = fmaxf(bound, fabsf(pc->A->data[i]));
    for (size_t i = 0; i < pc->B->numel; i++) assert_true(fabsf(pc->B->data[i]) <= bound);
    for (size_t i = 0; i < pc->A->numel; i++) at_bound += fabsf(pc->A->data[i]) == bound;
    assert_true(at_bound > 1); /* clamping leaves runs of equal entries; an SVD alone would not */
    free(da), free(db), free(dp), free(dt), free(want);
    adapt_model_free(m);
}

/* The factor types (PEFT merges A's and B's on their own, weights sqrt(w_i s_i)). */
static void test_factor_types(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, lora_a, "a") || adapt_model_load_lora_as(m, lora_p, "p")) fail_msg("%s", adapt_error());
    const lora_state *a = lora_find(m, "a"), *p = lora_find(m, "p");
    const double w[2] = {0.5, 2};
    double fa = sqrt(w[0] * a->scaling), fp = sqrt(w[1] * p->scaling);
    const lora_pair *qa = &a->pairs[1][LIN_VALUE];
    /* ties at density 1 on equal factors: every sign agrees, the mean of the two weighted */
    if (combine(m, "a", "p", w, "ties", (adapt_lora_combination){.type = "ties", .density = 1})) fail_msg("%s", adapt_error());
    const lora_pair *qt = &lora_find(m, "ties")->pairs[1][LIN_VALUE];
    for (size_t i = 0; i < qt->A->numel; i++) assert_float_equal(qt->A->data[i], (fa + fp) * qa->A->data[i] / 2, 1e-6);
    /* magnitude_prune at 0.5: the larger half of each factor's entries, the others 0 */
    if (combine(m, "a", "p", w, "half", (adapt_lora_combination){.type = "magnitude_prune", .density = 0.5})) fail_msg("%s", adapt_error());
    const lora_pair *qh = &lora_find(m, "half")->pairs[1][LIN_VALUE];
    size_t kept = 0;
    float smallest_kept = INFINITY, largest_dropped = 0;
    for (size_t i = 0; i < qh->A->numel; i++) {
        float v = qh->A->data[i], original = fabsf(qa->A->data[i]);
        if (v != 0) {
            kept++;
            assert_float_equal(v, (fa + fp) * qa->A->data[i], 1e-6);
            smallest_kept = fminf(smallest_kept, original);
        } else {
            largest_dropped = fmaxf(largest_dropped, original);
        }
    }
    assert_int_equal(kept, qh->A->numel / 2);
    assert_true(smallest_kept >= largest_dropped);
    /* dare_linear: each entry dropped or rescaled by 1/density for each input; seeded */
    adapt_lora_combination dare = {.type = "dare_linear", .density = 0.5, .seed = 5};
    if (combine(m, "a", "p", w, "dare", dare) || combine(m, "a", "p", w, "dare-again", dare)) fail_msg("%s", adapt_error());
    dare.seed = 6;
    if (combine(m, "a", "p", w, "dare-other", dare)) fail_msg("%s", adapt_error());
    const lora_pair *q1 = &lora_find(m, "dare")->pairs[1][LIN_VALUE], *q2 = &lora_find(m, "dare-again")->pairs[1][LIN_VALUE],
                    *q3 = &lora_find(m, "dare-other")->pairs[1][LIN_VALUE];
    assert_memory_equal(q1->A->data, q2->A->data, q1->A->numel * sizeof(float));
    assert_memory_not_equal(q1->A->data, q3->A->data, q1->A->numel * sizeof(float));
    for (size_t i = 0; i < q1->A->numel; i++) {
        double x = qa->A->data[i], v = q1->A->data[i];
        bool one_of = fabs(v) < 1e-9 || fabs(v - 2 * fa * x) < 1e-5 || fabs(v - 2 * fp * x) < 1e-5 || fabs(v - 2 * (fa + fp) * x) < 1e-5;
        if (!one_of) fail_msg("dare entry %zu: %g from %g", i, v, x);
    }
    /* one LoRA: every type is linear (PEFT), the factors times sqrt(w s) */
    const char *only_a[1] = {"a"};
    const double w1[1] = {4};
    adapt_lora_combination svd = {0};
    if (adapt_model_combine_loras(m, only_a, w1, 1, "lone", &svd)) fail_msg("%s", adapt_error());
    const lora_pair *ql = &lora_find(m, "lone")->pairs[1][LIN_VALUE];
    for (size_t i = 0; i < ql->B->numel; i++) assert_float_equal(ql->B->data[i], sqrt(4 * a->scaling) * qa->B->data[i], 1e-6);
    adapt_model_free(m);
}

/* Misuse is refused with nothing left behind; rsLoRA inputs give a plain LoRA of scaling 1. */
static void test_refusals(void **state)
{
    (void)state;
    adapt_model *m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, lora_a, "a") || adapt_model_load_lora_as(m, lora_b, "b")) fail_msg("%s", adapt_error());
    const double w[2] = {1, 1};
    const adapt_lora_combination bad[] = {
        {.type = "svd2"}, {.type = "ties"}, {.type = "ties", .density = 1.5}, {.type = "dare_ties", .density = -1},
        {.type = "ties", .density = 0.5, .majority_sign = "most"}, {.svd_rank = 100000}, {.svd_rank = -1},
        {.svd_clamp = 2}, {.svd_clamp = NAN},
        /* options the type does not read */
        {.type = "svd", .density = 0.5}, {.type = "linear", .svd_rank = 2}, {.type = "cat", .majority_sign = "total"},
        {.type = "ties", .density = 0.5, .seed = 3}, {.type = "magnitude_prune", .density = 0.5, .svd_clamp = 0.9},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (combine(m, "a", "b", w, "x", bad[i]) != ADAPT_ERR_ARG) fail_msg("case %zu accepted", i);
        assert_null(lora_find(m, "x"));
    }
    assert_non_null(strstr(adapt_error(), "does not use svd_rank / svd_clamp"));
    /* a failing SVD (a non-finite factor) removes the half-made LoRA */
    lora_find(m, "b")->pairs[0][LIN_QUERY].A->data[0] = NAN;
    assert_int_equal(combine(m, "a", "b", w, "x", (adapt_lora_combination){0}), ADAPT_ERR_NUMERIC);
    assert_null(lora_find(m, "x"));
    assert_int_equal(adapt_model_num_loras(m), 2);
    lora_find(m, "b")->pairs[0][LIN_QUERY].A->data[0] = 0;
    /* rsLoRA: alpha / sqrt(r) would make r = alpha = 4 scale by 2 */
    lora_find(m, "a")->cfg.use_rslora = true;
    if (combine(m, "a", "b", w, "plain", (adapt_lora_combination){.type = "cat"})) fail_msg("%s", adapt_error());
    assert_false(lora_find(m, "plain")->cfg.use_rslora);
    assert_float_equal(lora_find(m, "plain")->scaling, 1, 0);
    adapt_model_free(m);
}

/* `adapt adapters combine-loras`: the library's combination, saved as a PEFT folder. */
static void test_command(void **state)
{
    (void)state;
    char out[1100], log[1100];
    snprintf(out, sizeof out, "%s/combined", test_tmp);
    snprintf(log, sizeof log, "%s/combine.log", test_tmp);
    int rc = run_command("%s adapters combine-loras --model %s --output %s --svd-rank 8 %s=0.7 %s=-0.4 > %s 2>&1", build_path("adapt"),
                         shared_path("fixtures/models/tiny-bert"), out, lora_a, lora_b, log);
    assert_int_equal(rc, 0);
    adapt_model *m = load_tiny_bert();
    if (adapt_model_load_lora_as(m, lora_a, "a") || adapt_model_load_lora_as(m, lora_b, "b") || adapt_model_load_lora_as(m, out, "cli"))
        fail_msg("%s", adapt_error());
    assert_int_equal(lora_find(m, "cli")->cfg.r, 8);
    size_t cells = delta_cells(m, "a");
    double sa = lora_find(m, "a")->scaling, sb = lora_find(m, "b")->scaling;
    for (int k = 0; k < LIN_COUNT; k++) {
        if (!lora_find(m, "a")->has[1][k]) continue;
        double *da = lora_delta(m, "a", 1, k), *db = lora_delta(m, "b", 1, k), *dc = lora_delta(m, "cli", 1, k);
        for (size_t i = 0; i < cells; i++) da[i] = 0.7 * sa * da[i] - 0.4 * sb * db[i];
        double err = relative_error(dc, da, cells);
        if (!(err < 1e-4)) fail_msg("module %d: off by %g", k, err);
        free(da), free(db), free(dc);
    }
    adapt_model_free(m);
    /* a folder with '=' in its name is a folder, not a weight */
    assert_int_equal(run_command("cp -r '%s' '%s/lr=2' && %s adapters combine-loras --model %s --output %s/eq --type cat %s/lr=2 %s=3 > %s 2>&1",
                                 lora_a, test_tmp, build_path("adapt"), shared_path("fixtures/models/tiny-bert"), test_tmp, test_tmp, lora_b, log),
                     0);
    assert_int_equal(run_command("grep -q 'rank 8' %s", log), 0);
    rc = run_command("%s adapters combine-loras --model %s --output %s/x --type ties %s %s > %s 2>&1", build_path("adapt"),
                     shared_path("fixtures/models/tiny-bert"), test_tmp, lora_a, lora_b, log);
    assert_int_equal(rc, 1);
    assert_int_equal(run_command("grep -q 'needs a density' %s", log), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_operations),
        cmocka_unit_test(test_dare),
        cmocka_unit_test(test_low_rank_factors),
        cmocka_unit_test(test_svd_types),
        cmocka_unit_test(test_factor_types),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_command),
    };
    return cmocka_run_group_tests(tests, make_variants, test_tmp_teardown);
}
