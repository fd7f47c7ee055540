/* Which copy of the elementwise kernels runs (see fast_math.h). */
#include "model/cpu_features.h"
#include <stdatomic.h>
#include <stdlib.h>

static atomic_int wide_state = -1; /* -1: not decided yet */

static int detect(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

bool cpu_has_wide_vectors(void)
{
    int s = atomic_load_explicit(&wide_state, memory_order_relaxed);
    if (s < 0) { /* ADAPT_NARROW_KERNELS=1 runs the AVX2 copies on an AVX-512 machine (tests, comparisons) */
        const char *narrow = getenv("ADAPT_NARROW_KERNELS");
        s = detect() && !(narrow && *narrow && *narrow != '0');
        atomic_store_explicit(&wide_state, s, memory_order_relaxed);
    }
    return s;
}

bool cpu_use_wide_vectors(bool wide)
{
    atomic_store_explicit(&wide_state, wide && detect(), memory_order_relaxed);
    return cpu_has_wide_vectors();
}
