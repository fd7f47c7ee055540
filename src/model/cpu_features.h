/* Run-time choice between the AVX2 build of the elementwise kernels and their AVX-512 copies. */
#ifndef ADAPT_MODEL_CPU_FEATURES_H
#define ADAPT_MODEL_CPU_FEATURES_H
#include <stdbool.h>

/* Whether the AVX-512 copies run: the CPU has AVX-512 F/DQ/BW/VL and ADAPT_NARROW_KERNELS is not
 * set. Decided once. */
bool cpu_has_wide_vectors(void);
/* Picks the copies from now on (wide only where the CPU has them); returns what is in use. */
bool cpu_use_wide_vectors(bool wide);

/* The attribute that compiles a function for AVX-512 (with 512-bit vectors, which neither
 * compiler picks by default) whatever the build's -march; callers check cpu_has_wide_vectors(). */
#if defined(__x86_64__) && defined(__clang__)
#define WIDE_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw"), min_vector_width(512)))
#elif defined(__x86_64__) && defined(__GNUC__)
#define WIDE_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,prefer-vector-width=512")))
#else
#define WIDE_TARGET
#endif

#endif
