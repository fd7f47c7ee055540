#include "model/layers.h"
#include <cblas.h>

void linear_forward(float *out, const float *in, const float *W, const float *b, int N, int in_dim, int out_dim)
{
    if (b) {
        for (int i = 0; i < N; i++)
            for (int j = 0; j < out_dim; j++) out[(size_t)i * out_dim + j] = b[j];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out_dim, in_dim, 1.0f, in, in_dim, W, in_dim,
                b ? 1.0f : 0.0f, out, out_dim);
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
    if (db)
        for (int i = 0; i < N; i++)
            for (int j = 0; j < out_dim; j++) db[j] += d_out[(size_t)i * out_dim + j];
}
