#include "model/layers.h"
#include <math.h>

void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b,
                       int N, int H, double eps)
{
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *x = in + (size_t)i * H;
        double s = 0, ss = 0;
        for (int j = 0; j < H; j++) s += x[j];
        double m = s / H;
        for (int j = 0; j < H; j++) ss += (x[j] - m) * (x[j] - m);
        double r = 1.0 / sqrt(ss / H + eps);
        float *y = out + (size_t)i * H;
        for (int j = 0; j < H; j++) y[j] = (float)((x[j] - m) * r) * w[j] + b[j];
        if (mean) mean[i] = (float)m;
        if (rstd) rstd[i] = (float)r;
    }
}

void layernorm_backward(float *d_in, float *dw, float *db, const float *d_out, const float *in, const float *mean,
                        const float *rstd, const float *w, int N, int H)
{
    for (int i = 0; i < N; i++) {
        const float *x = in + (size_t)i * H, *dy = d_out + (size_t)i * H;
        float m = mean[i], r = rstd[i];
        double sum_g = 0, sum_gx = 0; /* g = dy * w, xhat = (x - m) * r */
        for (int j = 0; j < H; j++) {
            float xhat = (x[j] - m) * r, g = dy[j] * w[j];
            sum_g += g;
            sum_gx += (double)g * xhat;
            if (dw) dw[j] += dy[j] * xhat;
            if (db) db[j] += dy[j];
        }
        if (!d_in) continue;
        float mg = (float)(sum_g / H), mgx = (float)(sum_gx / H);
        float *dx = d_in + (size_t)i * H;
        for (int j = 0; j < H; j++) {
            float xhat = (x[j] - m) * r;
            dx[j] += r * (dy[j] * w[j] - mg - xhat * mgx);
        }
    }
}
