#include "model/fast_math.h"
#include "model/gelu_avx512.h"
#include "model/layers.h"
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>

static const float SQRT_2_OVER_PI = 0.7978845608028654f;
static const float INV_SQRT_2 = 0.7071067811865476f;
static const float LEAKY_SLOPE = 0.01f; /* torch.nn.LeakyReLU default */

FAST_MATH_BEGIN
KERNEL_BODY void gelu_forward_span(float *out, const float *in, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = 0.5f * in[i] * (1.0f + erf_fast(in[i] * INV_SQRT_2));
}

KERNEL_BODY float gelu_derivative(float x)
{
    float cdf = 0.5f * (1.0f + erf_fast(x * INV_SQRT_2));
    return cdf + x * 0.3989422804014327f * exp_nonpositive(-0.5f * x * x);
}

/* d_in += d_out * gelu'(in), or with accumulate false d_in = d_in * gelu'(in) (in place). */
KERNEL_BODY void gelu_backward_span(float *d_in, const float *d_out, const float *in, size_t n, bool accumulate)
{
    if (accumulate) {
        #pragma omp simd
        for (size_t i = 0; i < n; i++) d_in[i] += d_out[i] * gelu_derivative(in[i]);
    } else {
        #pragma omp simd
        for (size_t i = 0; i < n; i++) d_in[i] *= gelu_derivative(in[i]);
    }
}

#ifdef HAVE_GELU_AVX512
#define gelu_forward_wide gelu_forward_avx512
#define gelu_backward_wide gelu_backward_avx512
#else /* never called: cpu_has_wide_vectors() is false there */
#define gelu_forward_wide gelu_forward_span
#define gelu_backward_wide gelu_backward_span
#endif

/* Contiguous spans of 16-float multiples per thread, so every thread's loop is whole vectors. */
#define SPAN_SPLIT(n, lo, hi)                                                                   \
    size_t per = (((n) + (size_t)omp_get_num_threads() - 1) / (size_t)omp_get_num_threads() + 15) & ~(size_t)15; \
    size_t lo = per * (size_t)omp_get_thread_num() < (n) ? per * (size_t)omp_get_thread_num() : (n);          \
    size_t hi = lo + per < (n) ? lo + per : (n)

static void gelu_forward(float *out, const float *in, size_t n)
{
    bool wide = cpu_has_wide_vectors();
    #pragma omp parallel
    {
        SPAN_SPLIT(n, lo, hi);
        if (wide) gelu_forward_wide(out + lo, in + lo, hi - lo);
        else gelu_forward_span(out + lo, in + lo, hi - lo);
    }
}

static void gelu_backward(float *d_in, const float *d_out, const float *in, size_t n, bool accumulate)
{
    bool wide = cpu_has_wide_vectors();
    #pragma omp parallel
    {
        SPAN_SPLIT(n, lo, hi);
        const float *d_out_span = accumulate ? d_out + lo : NULL;
        if (wide) gelu_backward_wide(d_in + lo, d_out_span, in + lo, hi - lo, accumulate);
        else gelu_backward_span(d_in + lo, d_out_span, in + lo, hi - lo, accumulate);
    }
}

FAST_MATH_END

static inline float act1(float x, activation_kind k)
{
    switch (k) {
    case ACT_GELU: return 0.5f * x * (1.0f + erff(x * INV_SQRT_2));
    case ACT_GELU_NEW: return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * (x + 0.044715f * x * x * x)));
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_SILU: return x / (1.0f + expf(-x));
    case ACT_TANH: return tanhf(x);
    case ACT_LEAKY_RELU: return x > 0 ? x : LEAKY_SLOPE * x;
    case ACT_IDENTITY: return x;
    }
    return x;
}

static inline float dact1(float x, activation_kind k)
{
    switch (k) {
    case ACT_GELU: {
        float cdf = 0.5f * (1.0f + erff(x * INV_SQRT_2));
        float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
        return cdf + x * pdf;
    }
    case ACT_GELU_NEW: {
        float u = SQRT_2_OVER_PI * (x + 0.044715f * x * x * x), t = tanhf(u);
        float du = SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * x * x);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    case ACT_RELU: return x > 0 ? 1.0f : 0.0f;
    case ACT_SILU: {
        float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f + x * (1.0f - s));
    }
    case ACT_TANH: {
        float t = tanhf(x);
        return 1.0f - t * t;
    }
    case ACT_LEAKY_RELU: return x > 0 ? 1.0f : LEAKY_SLOPE;
    case ACT_IDENTITY: return 1.0f;
    }
    return 1.0f;
}

void activation_forward(float *out, const float *in, size_t n, activation_kind kind)
{
    if (kind == ACT_GELU) return gelu_forward(out, in, n);
    if (kind == ACT_RELU) { /* the bottleneck adapters' default: its own loop vectorises */
        #pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) out[i] = in[i] > 0 ? in[i] : 0.0f;
        return;
    }
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = act1(in[i], kind);
}

void activation_backward(float *d_in, const float *d_out, const float *in, size_t n, activation_kind kind)
{
    if (kind == ACT_GELU) return gelu_backward(d_in, d_out, in, n, true);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) d_in[i] += d_out[i] * dact1(in[i], kind);
}

void activation_backward_in_place(float *d, const float *in, size_t n, activation_kind kind)
{
    if (kind == ACT_GELU) return gelu_backward(d, NULL, in, n, false);
    if (kind == ACT_RELU) {
        #pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) d[i] *= in[i] > 0 ? 1.0f : 0.0f;
        return;
    }
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) d[i] *= dact1(in[i], kind);
}
