#include "core/bf16.h"
#include "model/layers.h"
#include <cblas.h>
#include <string.h>

void linear_forward(float *out, const float *in, const float *W, const float *b, int N, int in_dim, int out_dim)
{
    if (b) {
        #pragma omp parallel for schedule(static)
        for (int i = 0; i < N; i++) memcpy(out + (size_t)i * out_dim, b, (size_t)out_dim * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out_dim, in_dim, 1.0f, in, in_dim, W, in_dim,
                b ? 1.0f : 0.0f, out, out_dim);
}

void linear_forward_onto(float *out, const float *base, float scale, const float *in, const float *W, const float *b, int N,
                         int in_dim, int out_dim)
{
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *o = out + (size_t)i * out_dim;
        const float *r = base + (size_t)i * out_dim;
        if (b) {
            #pragma omp simd
            for (int j = 0; j < out_dim; j++) o[j] = r[j] + scale * b[j];
        } else {
            memcpy(o, r, (size_t)out_dim * sizeof(float));
        }
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out_dim, in_dim, scale, in, in_dim, W, in_dim, 1.0f, out, out_dim);
}

void linear_backward(float *d_in, float *dW, float *db, const float *d_out, const float *in, const float *W,
                     int N, int in_dim, int out_dim)
{
    if (d_in)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in_dim, out_dim, 1.0f, d_out, out_dim, W, in_dim,
                    1.0f, d_in, in_dim);
    if (dW)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in_dim, N, 1.0f, d_out, out_dim, in, in_dim,
                    1.0f, dW, in_dim);
    if (db) { /* column blocks per thread: each column sums its rows in order (deterministic) */
        #pragma omp parallel for schedule(static)
        for (int j0 = 0; j0 < out_dim; j0 += 64) {
            int j1 = j0 + 64 < out_dim ? j0 + 64 : out_dim;
            for (int i = 0; i < N; i++)
                for (int j = j0; j < j1; j++) db[j] += d_out[(size_t)i * out_dim + j];
        }
    }
}

void linear_forward_bf16(float *out, const float *in, const uint16_t *W, float *W_f32, const float *b, int N, int in_dim,
                         int out_dim)
{
    bf16_widen_array(W_f32, W, (size_t)out_dim * in_dim);
    linear_forward(out, in, W_f32, b, N, in_dim, out_dim);
}

void linear_backward_bf16(float *d_in, float *db, const float *d_out, const uint16_t *W, float *W_f32, int N, int in_dim,
                          int out_dim)
{
    if (d_in) bf16_widen_array(W_f32, W, (size_t)out_dim * in_dim); /* only the input gradient reads W */
    linear_backward(d_in, NULL, db, d_out, NULL, d_in ? W_f32 : NULL, N, in_dim, out_dim);
}
