/* GELU forward and backward with AVX-512 intrinsics: the same erf and exp approximations as
 * fast_math.h (erf_fast, exp_nonpositive), with erf's one division replaced by a reciprocal
 * estimate and a Newton step (relative error ~1e-7 after it). The division was the loop's limit:
 * a 512-bit vdivps issues once per ~16 cycles on the Xeons measured, the estimate every 2. */
#include "model/gelu_avx512.h"
#include "model/cpu_features.h"
#include "model/fast_math.h" /* the constants of erf_fast and exp_nonpositive */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define INLINE_WIDE static inline __attribute__((always_inline)) WIDE_TARGET

static const float INV_SQRT_2 = 0.7071067811865476f, INV_SQRT_2PI = 0.3989422804014327f;

INLINE_WIDE __m512 horner(__m512 x, const float *c, int n)
{
    __m512 p = _mm512_set1_ps(c[0]);
    for (int i = 1; i < n; i++) p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(c[i]));
    return p;
}

INLINE_WIDE __m512 erf16(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-4.0f)), _mm512_set1_ps(4.0f));
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 p = horner(x2, ERF_P, 7), q = horner(x2, ERF_Q, 5);
    __m512 r = _mm512_rcp14_ps(q); /* q < 0 and bounded away from 0 on [-4, 4] */
    r = _mm512_mul_ps(r, _mm512_fnmadd_ps(q, r, _mm512_set1_ps(2.0f)));
    return _mm512_mul_ps(_mm512_mul_ps(x, p), r);
}

/* exp(x) for x <= 0, as exp_nonpositive: Cody-Waite reduction, degree-6 polynomial, 2^n. */
INLINE_WIDE __m512 exp_nonpositive16(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    __m512i ni = _mm512_cvttps_epi32(_mm512_fmsub_ps(x, _mm512_set1_ps(EXP_LOG2E), _mm512_set1_ps(0.5f)));
    __m512 n = _mm512_cvtepi32_ps(ni);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(EXP_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(EXP_LN2_LO), r);
    __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23));
    return _mm512_mul_ps(horner(r, EXP_POLY, 7), scale);
}

INLINE_WIDE __m512 gelu16(__m512 x)
{
    __m512 cdf = _mm512_fmadd_ps(erf16(_mm512_mul_ps(x, _mm512_set1_ps(INV_SQRT_2))), _mm512_set1_ps(0.5f), _mm512_set1_ps(0.5f));
    return _mm512_mul_ps(x, cdf);
}

INLINE_WIDE __m512 gelu_derivative16(__m512 x)
{
    __m512 cdf = _mm512_fmadd_ps(erf16(_mm512_mul_ps(x, _mm512_set1_ps(INV_SQRT_2))), _mm512_set1_ps(0.5f), _mm512_set1_ps(0.5f));
    __m512 pdf = exp_nonpositive16(_mm512_mul_ps(_mm512_mul_ps(x, x), _mm512_set1_ps(-0.5f)));
    return _mm512_fmadd_ps(_mm512_mul_ps(x, _mm512_set1_ps(INV_SQRT_2PI)), pdf, cdf);
}

/* The mask of the first n - i lanes (all 16 when at least 16 remain). */
INLINE_WIDE __mmask16 lanes_left(size_t i, size_t n) { return n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1); }

WIDE_TARGET void gelu_forward_avx512(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = lanes_left(i, n);
        _mm512_mask_storeu_ps(out + i, m, gelu16(_mm512_maskz_loadu_ps(m, in + i)));
    }
}

WIDE_TARGET void gelu_backward_avx512(float *d_in, const float *d_out, const float *in, size_t n, bool accumulate)
{
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 m = lanes_left(i, n);
        __m512 g = gelu_derivative16(_mm512_maskz_loadu_ps(m, in + i)), d = _mm512_maskz_loadu_ps(m, d_in + i);
        d = accumulate ? _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, d_out + i), g, d) : _mm512_mul_ps(d, g);
        _mm512_mask_storeu_ps(d_in + i, m, d);
    }
}
#endif
