/* Vectorisable erf, exp and sums for the elementwise layers (GELU, softmax). */
#ifndef ADAPT_MODEL_FAST_MATH_H
#define ADAPT_MODEL_FAST_MATH_H
#include "model/cpu_features.h"
#include <math.h>
#include <stdint.h>

/* libm's erff/expf are scalar calls; GELU and softmax are most of a BERT step's elementwise
 * time. These two vectorise (AVX2/AVX-512 through `omp simd`): erf as the odd/even rational
 * approximation Eigen and XLA use (absolute error < 5e-7 on [-4, 4], +-1 beyond), exp by
 * Cody-Waite reduction and a degree-6 polynomial (~1 ulp) for the Gaussian density. */
/* Callers compile their loops with the same options (FAST_MATH_BEGIN/END), or GCC will not
 * inline these into them. "tree-vectorize" is repeated because an optimize pragma drops the
 * vectoriser that -O2 turns on (GCC 12), which left such loops scalar. Lets fminf/fmaxf be single min/max instructions (and so vectorise); a
 * NaN input still comes out NaN through the callers' final products. */
#define FAST_MATH_BEGIN _Pragma("GCC push_options") _Pragma("GCC optimize(\"finite-math-only\", \"no-trapping-math\", \"tree-vectorize\")")
#define FAST_MATH_END _Pragma("GCC pop_options")

/* The build targets x86-64-v3 (AVX2) so that it runs anywhere; the hot elementwise kernels are
 * also compiled for AVX-512 (twice the lanes) and picked at run time: a kernel's body and the
 * helpers below are always-inline functions (GCC inlines nothing plain into a function with
 * another target), a WIDE_TARGET function (cpu_features.h) wraps the body in an AVX-512 copy, and callers branch
 * on cpu_has_wide_vectors(). */
#define KERNEL_BODY static inline __attribute__((always_inline))

/* The approximations' constants, shared with the AVX-512 intrinsics of gelu_avx512.c.
 * erf(x) ~ x P(x^2) / Q(x^2) on [-4, 4]; polynomials highest power first. */
static const float ERF_P[7] = {-2.72614225801306e-10f, 2.77068142495902e-08f, -2.10102402082508e-06f, -5.69250639462346e-05f,
                               -7.34990630326855e-04f, -2.95459980854025e-03f, -1.60960333262415e-02f};
static const float ERF_Q[5] = {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f, -7.37332916720468e-03f,
                               -1.42647390514189e-02f};
/* exp(x) = 2^n e^r: n = trunc(x log2(e) - 1/2) (x <= 0), r = x - n ln2 (ln2 in two parts), e^r by
 * its degree-6 Taylor polynomial. */
static const float EXP_LOG2E = 1.44269504088896341f, EXP_LN2_HI = 0.693145751953125f, EXP_LN2_LO = 1.428606765330187e-06f;
static const float EXP_POLY[7] = {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};

FAST_MATH_BEGIN
KERNEL_BODY float horner_fast(float x, const float *c, int n)
{
    float p = c[0];
#pragma GCC unroll 8
    for (int i = 1; i < n; i++) p = p * x + c[i];
    return p;
}

KERNEL_BODY float erf_fast(float x)
{
    x = fminf(fmaxf(x, -4.0f), 4.0f); /* not ?: (control flow stops the vectoriser at -O2) */
    float x2 = x * x;
    return x * horner_fast(x2, ERF_P, 7) / horner_fast(x2, ERF_Q, 5);
}

KERNEL_BODY float exp_nonpositive(float x) /* x <= 0 */
{
    x = fmaxf(x, -87.0f);
    float n = (float)(int32_t)(x * EXP_LOG2E - 0.5f); /* x <= 0: truncation rounds */
    float r = x - n * EXP_LN2_HI - n * EXP_LN2_LO;
    union { int32_t i; float f; } s = {.i = ((int32_t)n + 127) << 23};
    return horner_fast(r, EXP_POLY, 7) * s.f;
}
/* Sum of x[i] * y[i] (y NULL: of x[i]) in eight independent lanes: GCC vectorises a float
 * reduction only when it may reassociate, which these lanes make explicit. */
KERNEL_BODY float dot_lanes(const float *x, const float *y, int n)
{
    float lanes[8] = {0};
    int j = 0;
    if (y)
        for (; j + 8 <= n; j += 8)
            for (int l = 0; l < 8; l++) lanes[l] += x[j + l] * y[j + l];
    else
        for (; j + 8 <= n; j += 8)
            for (int l = 0; l < 8; l++) lanes[l] += x[j + l];
    float sum = 0;
    for (; j < n; j++) sum += y ? x[j] * y[j] : x[j];
    for (int l = 0; l < 8; l++) sum += lanes[l];
    return sum;
}
FAST_MATH_END

#endif
