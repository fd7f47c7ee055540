/* GELU's AVX-512 kernels (see gelu_avx512.c), single-threaded over n values; only call them where
 * cpu_has_wide_vectors() says so. */
#ifndef ADAPT_MODEL_GELU_AVX512_H
#define ADAPT_MODEL_GELU_AVX512_H
#include <stdbool.h>
#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_GELU_AVX512 1
void gelu_forward_avx512(float *out, const float *in, size_t n);
/* d_in += d_out * gelu'(in), or with accumulate false d_in *= gelu'(in) (d_out unused). */
void gelu_backward_avx512(float *d_in, const float *d_out, const float *in, size_t n, bool accumulate);
#endif

#endif
