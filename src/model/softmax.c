/* Row softmax with the padding mask, and its backward, for attention's inner loop. */
#include "model/fast_math.h"
#include "model/layers.h"
#include <float.h>

/* Softmax over the unmasked keys of one row; masked keys get probability 0. A row with every key
 * masked gets the uniform distribution, which is what adding finfo.min to every score gives.
 * Branch-free loops with the vectorised exp: with libm's scalar expf and a double sum the
 * softmax took longer than both of attention's products (7 ms vs 6 ms per BERT-base layer). */
FAST_MATH_BEGIN
KERNEL_BODY void masked_softmax_row(float *row, const int32_t *mask, int T)
{
    int any = 0;
    float mx = -FLT_MAX;
    for (int j = 0; j < T; j++) {
        any |= mask[j];
        mx = fmaxf(mx, mask[j] ? row[j] : -FLT_MAX);
    }
    if (!any) {
        for (int j = 0; j < T; j++) row[j] = 1.0f / T;
        return;
    }
    for (int j = 0; j < T; j++) row[j] = exp_nonpositive(fminf(row[j] - mx, 0.0f)) * (float)mask[j];
    float inv = 1.0f / dot_lanes(row, NULL, T);
    for (int j = 0; j < T; j++) row[j] *= inv;
}

/* dS = P * (dP - sum_j P dP) over one row, in place in dP. */
KERNEL_BODY void softmax_backward_row(float *d, const float *p, int T)
{
    float dot = dot_lanes(p, d, T);
    for (int j = 0; j < T; j++) d[j] = p[j] * (d[j] - dot);
}

KERNEL_BODY void softmax_rows(float *rows, const int32_t *mask, int n, int T)
{
    for (int i = 0; i < n; i++) masked_softmax_row(rows + (size_t)i * T, mask, T);
}

KERNEL_BODY void softmax_backward_rows_body(float *d, const float *p, int n, int T)
{
    for (int i = 0; i < n; i++) softmax_backward_row(d + (size_t)i * T, p + (size_t)i * T, T);
}

WIDE_TARGET static void softmax_rows_wide(float *rows, const int32_t *mask, int n, int T) { softmax_rows(rows, mask, n, T); }
WIDE_TARGET static void softmax_backward_rows_wide(float *d, const float *p, int n, int T) { softmax_backward_rows_body(d, p, n, T); }
static void softmax_rows_narrow(float *rows, const int32_t *mask, int n, int T) { softmax_rows(rows, mask, n, T); }
static void softmax_backward_rows_narrow(float *d, const float *p, int n, int T) { softmax_backward_rows_body(d, p, n, T); }
FAST_MATH_END

void masked_softmax_rows(float *rows, const int32_t *mask, int n, int T)
{
    if (cpu_has_wide_vectors()) softmax_rows_wide(rows, mask, n, T);
    else softmax_rows_narrow(rows, mask, n, T);
}

void softmax_backward_rows(float *d, const float *p, int n, int T)
{
    if (cpu_has_wide_vectors()) softmax_backward_rows_wide(d, p, n, T);
    else softmax_backward_rows_narrow(d, p, n, T);
}
