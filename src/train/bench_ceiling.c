/* See bench_ceiling.h. */
#include "train/bench_ceiling.h"
#include "core/clock.h"
#include <cblas.h>
#include <stdlib.h>

struct gemm_ceiling {
    int rows, layers, hidden, inter;
    bench_mode mode;
    float *weights;               /* every layer's six linear weights, as in the model */
    float *x, *y, *grad_x, *grad_w; /* [rows, max(H, I)] each; grad_w [max weight] */
    size_t bytes;
};

static float *filled(size_t n)
{
    float *p = aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63);
    /* Small, varied, never denormal: the kernels' speed must not depend on the values. */
    for (size_t i = 0; p && i < n; i++) p[i] = (float)((i * 2654435761u) % 1000) * 1e-4f - 0.05f;
    return p;
}

gemm_ceiling *gemm_ceiling_create(const model_config *c, int rows, bench_mode mode)
{
    gemm_ceiling *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->rows = rows, g->layers = c->layers, g->hidden = c->hidden, g->inter = c->intermediate, g->mode = mode;
    size_t H = (size_t)c->hidden, inter = (size_t)c->intermediate, wide = H > inter ? H : inter;
    size_t per_layer = 4 * H * H + 2 * H * inter;
    g->weights = filled(per_layer * (size_t)c->layers);
    g->x = filled((size_t)rows * wide);
    g->y = filled((size_t)rows * wide);
    g->grad_x = filled((size_t)rows * wide);
    g->grad_w = mode == BENCH_FULL ? filled(H * inter) : NULL;
    if (!g->weights || !g->x || !g->y || !g->grad_x || (mode == BENCH_FULL && !g->grad_w)) {
        gemm_ceiling_free(g);
        return NULL;
    }
    g->bytes = (per_layer * (size_t)c->layers + 3 * (size_t)rows * wide + (g->grad_w ? H * inter : 0)) * sizeof(float);
    return g;
}

/* One linear layer y[rows, out] = x[rows, in] W[out, in]^T as the model runs it, and in training
 * modes its input gradient dx = dy W (+ weight gradient dW += dy^T x for full fine-tuning).
 * Returns its FLOPs. */
static double linear(gemm_ceiling *g, const float *w, int in, int out)
{
    int n = g->rows;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, g->x, in, w, in, 0.0f, g->y, out);
    double flops = 2.0 * n * in * out;
    if (g->mode == BENCH_INFER) return flops;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, g->y, out, w, in, 0.0f, g->grad_x, in);
    if (g->mode == BENCH_ADAPTER) return 2 * flops;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, g->y, out, g->x, in, 1.0f, g->grad_w, in);
    return 3 * flops;
}

double gemm_ceiling_pass(gemm_ceiling *g)
{
    int H = g->hidden, inter = g->inter;
    size_t HH = (size_t)H * H, HI = (size_t)H * inter;
    double flops = 0, t = monotonic_seconds();
    for (int l = 0; l < g->layers; l++) {
        const float *w = g->weights + (size_t)l * (4 * HH + 2 * HI);
        for (int j = 0; j < 4; j++) flops += linear(g, w + j * HH, H, H); /* query, key, value, attention output */
        flops += linear(g, w + 4 * HH, H, inter);                             /* intermediate */
        flops += linear(g, w + 4 * HH + HI, inter, H);                        /* output */
    }
    t = monotonic_seconds() - t;
    return t > 0 ? flops / t * 1e-9 : 0;
}

size_t gemm_ceiling_bytes(const gemm_ceiling *g) { return g ? g->bytes : 0; }

void gemm_ceiling_free(gemm_ceiling *g)
{
    if (!g) return;
    free(g->weights);
    free(g->x);
    free(g->y);
    free(g->grad_x);
    free(g->grad_w);
    free(g);
}

double sgemm_peak(int rows, int in_dim, int out_dim)
{
    float *a = filled((size_t)rows * in_dim), *w = filled((size_t)out_dim * in_dim), *c = filled((size_t)rows * out_dim);
    double best = 0;
    for (int i = 0; a && w && c && i < 5; i++) {
        double t = monotonic_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out_dim, in_dim, 1.0f, a, in_dim, w, in_dim, 0.0f, c, out_dim);
        t = monotonic_seconds() - t;
        double g = 2.0 * rows * in_dim * out_dim / t * 1e-9;
        if (g > best) best = g;
    }
    free(a);
    free(w);
    free(c);
    return best;
}
