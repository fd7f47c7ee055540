/* Host helpers of the fused-attention self-tests; see gpu_check_util.cuh. */
#include "backend/cuda/gpu_check_util.cuh"
#include <math.h>

uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

double rng_normal(uint64_t *s)
{
    double u1 = ((rng_next(s) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double u2 = (rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void fill_normal_bf16(bf16 *x, size_t n, double sd, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) x[i] = __float2bfloat16_rn((float)(sd * rng_normal(s)));
}

void fill_normal_f32(float *x, size_t n, double sd, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(sd * rng_normal(s));
}

void two_sequence_mask(int32_t *mask, int T, int keep1)
{
    for (int t = 0; t < T; t++) {
        mask[t] = 1;
        mask[T + t] = t < keep1;
    }
}

float bf16_rounded(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

bool compare_bf16(const bf16 *got, const double *ref, int rows, int ld, int col0, int cols, double *worst, double *max_ref)
{
    *worst = 0.0;
    *max_ref = 0.0;
    for (int r = 0; r < rows; r++)
        for (int c = col0; c < col0 + cols; c++) {
            size_t i = (size_t)r * ld + c;
            double err = fabs((double)__bfloat162float(got[i]) - ref[i]);
            if (isnan(err) || err > *worst) *worst = err; /* a NaN (an element never written) sticks */
            if (fabs(ref[i]) > *max_ref) *max_ref = fabs(ref[i]);
        }
    /* outputs are bf16 (relative step 2^-8) and a GEMM operand (a probability, dS) may round the
     * other way */
    return *worst <= 2e-2 * (*max_ref + 1e-3);
}
