/* The kernels with an AVX-512 copy chosen at run time (model/cpu_features.h): GELU forward and
 * backward, masked softmax rows and their backward, attention's per-head products (head_gemm),
 * against double-precision references, in both builds (the AVX2 / OpenBLAS one and, where the CPU
 * has it, the AVX-512 one). Sizes are odd so that the vector loops' remainders, the register
 * tiles' edges and the per-thread spans' edges are exercised. */
#include "testutil.h"
#include "model/cpu_features.h"
#include "model/head_gemm.h"
#include "model/layers.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GELU_N 10007

static uint64_t rng_state = 99;

static double urand(void) { return test_uniform(&rng_state); }

static double gelu_ref(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double gelu_grad_ref(double x) { return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI); }

/* Largest |error| of each GELU entry point against the references, with the current kernels. */
static double gelu_worst_error(const float *x, const float *d_out)
{
    float *y = malloc(GELU_N * sizeof(float)), *acc = malloc(GELU_N * sizeof(float)), *inplace = malloc(GELU_N * sizeof(float));
    assert_non_null(y);
    assert_non_null(acc);
    assert_non_null(inplace);
    activation_forward(y, x, GELU_N, ACT_GELU);
    for (int i = 0; i < GELU_N; i++) acc[i] = 0.25f, inplace[i] = d_out[i];
    activation_backward(acc, d_out, x, GELU_N, ACT_GELU);
    activation_backward_in_place(inplace, x, GELU_N, ACT_GELU);
    double worst = 0;
    for (int i = 0; i < GELU_N; i++) {
        double g = gelu_grad_ref(x[i]);
        double errs[] = {fabs(y[i] - gelu_ref(x[i])), fabs(acc[i] - (0.25 + d_out[i] * g)), fabs(inplace[i] - d_out[i] * g)};
        for (int k = 0; k < 3; k++) worst = fmax(worst, errs[k] / fmax(1.0, fabs(x[i])));
    }
    free(y);
    free(acc);
    free(inplace);
    return worst;
}

static void test_gelu_both_builds(void **state)
{
    (void)state;
    float *x = malloc(GELU_N * sizeof(float)), *d_out = malloc(GELU_N * sizeof(float));
    assert_non_null(x);
    assert_non_null(d_out);
    for (int i = 0; i < GELU_N; i++) x[i] = (float)(-7.0 + 14.0 * urand()), d_out[i] = (float)(urand() - 0.5);
    bool wide = cpu_use_wide_vectors(true);
    double wide_err = gelu_worst_error(x, d_out);
    assert_false(cpu_use_wide_vectors(false));
    double narrow_err = gelu_worst_error(x, d_out);
    cpu_use_wide_vectors(true);
    print_message("GELU worst error: %s %.2e, AVX2 %.2e\n", wide ? "AVX-512" : "(no AVX-512)", wide_err, narrow_err);
    assert_true(wide_err < 2e-6);
    assert_true(narrow_err < 2e-6);
    /* The checker is not blind: a GELU off by 1e-5 everywhere exceeds its bound. */
    for (int i = 0; i < GELU_N; i++) x[i] += 1e-5f * (fabsf(x[i]) > 1 ? fabsf(x[i]) : 1);
    float *y = malloc(GELU_N * sizeof(float));
    assert_non_null(y);
    activation_forward(y, x, GELU_N, ACT_GELU);
    double shifted = 0;
    for (int i = 0; i < GELU_N; i++) shifted = fmax(shifted, fabs(y[i] - gelu_ref(x[i] - 1e-5 * fmax(1.0, fabs(x[i])))));
    assert_true(shifted > 2e-6);
    free(y);
    free(x);
    free(d_out);
}

/* Softmax rows over the unmasked keys, and the backward d = p (d - <p, d>), in double. */
static void softmax_ref(double *p, const float *s, const int32_t *mask, int T)
{
    double mx = -INFINITY, sum = 0;
    int any = 0;
    for (int j = 0; j < T; j++)
        if (mask[j]) mx = fmax(mx, s[j]), any = 1;
    for (int j = 0; j < T; j++) sum += p[j] = any ? (mask[j] ? exp(s[j] - mx) : 0) : 1;
    for (int j = 0; j < T; j++) p[j] /= sum;
}

static double softmax_worst_error(const float *scores, const float *grads, const int32_t *mask, int rows, int T)
{
    size_t n = (size_t)rows * T;
    float *p = malloc(n * sizeof(float)), *d = malloc(n * sizeof(float));
    double *ref = malloc((size_t)T * sizeof(double));
    assert_non_null(p);
    assert_non_null(d);
    assert_non_null(ref);
    memcpy(p, scores, n * sizeof(float));
    memcpy(d, grads, n * sizeof(float));
    masked_softmax_rows(p, mask, rows, T);
    softmax_backward_rows(d, p, rows, T);
    double worst = 0;
    for (int i = 0; i < rows; i++) {
        softmax_ref(ref, scores + (size_t)i * T, mask, T);
        double dot = 0;
        for (int j = 0; j < T; j++) dot += (double)p[(size_t)i * T + j] * grads[(size_t)i * T + j];
        for (int j = 0; j < T; j++) {
            size_t k = (size_t)i * T + j;
            worst = fmax(worst, fabs(p[k] - ref[j]));
            worst = fmax(worst, fabs(d[k] - p[k] * (grads[k] - dot)));
        }
    }
    free(p);
    free(d);
    free(ref);
    return worst;
}

static void test_softmax_both_builds(void **state)
{
    (void)state;
    enum { ROWS = 9, T = 77 };
    float scores[ROWS * T], grads[ROWS * T];
    int32_t mask[T], none[T];
    for (int i = 0; i < ROWS * T; i++) scores[i] = (float)(-20.0 + 40.0 * urand()), grads[i] = (float)(urand() - 0.5);
    for (int j = 0; j < T; j++) mask[j] = j < 61 && j % 7 != 3, none[j] = 0;
    for (int pass = 0; pass < 2; pass++) {
        bool wide = cpu_use_wide_vectors(pass == 0);
        double err = softmax_worst_error(scores, grads, mask, ROWS, T);
        double err_none = softmax_worst_error(scores, grads, none, ROWS, T); /* every key masked: 1/T each */
        print_message("softmax worst error (%s): %.2e, all keys masked %.2e\n", wide ? "AVX-512" : "AVX2", err, err_none);
        assert_true(err < 1e-6);
        assert_true(err_none < 1e-7);
    }
    cpu_use_wide_vectors(true);
    /* A probability on a masked key would be caught: the reference gives it 0. */
    float p[T];
    memcpy(p, scores, sizeof p);
    masked_softmax_rows(p, mask, 1, T);
    for (int j = 0; j < T; j++)
        if (!mask[j]) assert_true(p[j] == 0.0f);
}

/* Largest |C - reference| of head_gemm on A [M,K] (or [K,M] with trans_a; row stride +3),
 * B [K,N] (stride N + 5), C (stride N + 2). */
static double head_gemm_worst_error(bool trans_a, int M, int N, int K, bool accumulate)
{
    int lda = (trans_a ? M : K) + 3, ldb = N + 5, ldc = N + 2;
    size_t a_rows = trans_a ? (size_t)K : (size_t)M;
    float *A = malloc(a_rows * lda * sizeof(float)), *B = malloc((size_t)K * ldb * sizeof(float));
    float *C = malloc((size_t)M * ldc * sizeof(float));
    assert_non_null(A);
    assert_non_null(B);
    assert_non_null(C);
    for (size_t i = 0; i < a_rows * lda; i++) A[i] = (float)(urand() - 0.5);
    for (int i = 0; i < K * ldb; i++) B[i] = (float)(urand() - 0.5);
    for (int i = 0; i < M * ldc; i++) C[i] = (float)(urand() - 0.5);
    float *C0 = malloc((size_t)M * ldc * sizeof(float));
    assert_non_null(C0);
    memcpy(C0, C, (size_t)M * ldc * sizeof(float));
    const float alpha = 0.375f;
    head_gemm(trans_a, M, N, K, alpha, A, lda, B, ldb, accumulate, C, ldc);
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            double ref = C0[(size_t)i * ldc + j]; /* the columns past N stay as they were */
            if (j < N) {
                double dot = 0;
                for (int k = 0; k < K; k++)
                    dot += (double)A[trans_a ? (size_t)k * lda + i : (size_t)i * lda + k] * B[(size_t)k * ldb + j];
                ref = alpha * dot + (accumulate ? ref : 0);
            }
            worst = fmax(worst, fabs(C[(size_t)i * ldc + j] - ref));
        }
    free(A);
    free(B);
    free(C);
    free(C0);
    return worst;
}

static void test_head_gemm_both_builds(void **state)
{
    (void)state;
    /* BERT's two products, then shapes that leave partial register tiles in every direction */
    static const int shapes[][3] = {{128, 128, 64}, {128, 64, 128}, {37, 37, 64}, {5, 17, 3}, {13, 100, 7}, {1, 1, 1}, {7, 65, 130}};
    for (int pass = 0; pass < 2; pass++) {
        bool wide = cpu_use_wide_vectors(pass == 0);
        double worst = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int variant = 0; variant < 4; variant++) /* accumulate or not, A transposed or not */
                worst = fmax(worst, head_gemm_worst_error(variant & 2, shapes[s][0], shapes[s][1], shapes[s][2], variant & 1));
        print_message("head_gemm worst error (%s): %.2e\n", wide ? "AVX-512" : "OpenBLAS", worst);
        assert_true(worst < 1e-5);
    }
    cpu_use_wide_vectors(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gelu_both_builds),
        cmocka_unit_test(test_softmax_both_builds),
        cmocka_unit_test(test_head_gemm_both_builds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
