#include "adapters/low_rank.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (OpenBLAS exports the Fortran symbols; Debian ships no LAPACKE with it). The trailing
 * size_t is gfortran's hidden length of a character argument. Matrices are column-major. */
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s, double *u,
                    const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *iwork, int *info,
                    size_t jobz_len);
extern void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork, int *info);
extern void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda, const double *tau, double *work,
                    const int *lwork, int *info);

/* a [m, n] (overwritten) = u [m, min] diag(s) vt [min, n], the thin SVD. */
static adapt_status thin_svd(int m, int n, double *a, double *s, double *u, double *vt)
{
    int least = m < n ? m : n, lwork = -1, info = 0;
    double size_query = 0, *work = NULL;
    int *iwork = malloc((size_t)8 * least * sizeof *iwork);
    if (!iwork) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    dgesdd_("S", &m, &n, a, &m, s, u, &m, vt, &least, &size_query, &lwork, iwork, &info, 1);
    lwork = info == 0 && size_query < 2e9 ? (int)size_query : 0;
    if (lwork <= 0) return free(iwork), adapt_fail(ADAPT_ERR_NOMEM, "a %d x %d LoRA delta is too large for LAPACK's SVD", n, m);
    adapt_status st = (work = malloc((size_t)lwork * sizeof *work)) ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory (SVD workspace)");
    if (!st) dgesdd_("S", &m, &n, a, &m, s, u, &m, vt, &least, work, &lwork, iwork, &info, 1);
    if (!st && info != 0)
        st = adapt_fail(ADAPT_ERR_NUMERIC, "the SVD of a %d x %d LoRA delta did not converge (LAPACK dgesdd info %d)", n, m, info);
    free(work);
    free(iwork);
    return st;
}

/* a [m, n], m >= n (overwritten by Q [m, n]) = Q R; r [n, n] receives R. */
static adapt_status thin_qr(int m, int n, double *a, double *r)
{
    int lwork = -1, info = 0;
    double size_query = 0, *work = NULL, *tau = malloc((size_t)n * sizeof *tau);
    if (!tau) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    dgeqrf_(&m, &n, a, &m, tau, &size_query, &lwork, &info);
    lwork = info == 0 && size_query < 2e9 ? (int)size_query + n : 0; /* dorgqr's needs are no larger */
    if (lwork <= 0) return free(tau), adapt_fail(ADAPT_ERR_NOMEM, "a %d x %d matrix is too large for LAPACK's QR", m, n);
    adapt_status st = (work = malloc((size_t)lwork * sizeof *work)) ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory (QR workspace)");
    if (!st) dgeqrf_(&m, &n, a, &m, tau, work, &lwork, &info);
    if (!st) {
        for (int c = 0; c < n; c++)
            for (int i = 0; i < n; i++) r[i + (size_t)c * n] = i <= c ? a[i + (size_t)c * m] : 0;
        dorgqr_(&m, &n, &n, a, &m, tau, work, &lwork, &info);
        if (info != 0) st = adapt_fail(ADAPT_ERR_NUMERIC, "LAPACK's QR failed (info %d)", info);
    }
    free(work);
    free(tau);
    return st;
}

static int by_value(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* PEFT's svd_clamp: B and A clamped to +-(the q-quantile of all their entries, torch.quantile's
 * linear interpolation); torch.clamp lets the upper bound win where it is below the lower. */
static adapt_status clamp_factors(float *B, size_t nb, float *A, size_t na, double q)
{
    size_t n = nb + na;
    float *all = malloc(n * sizeof *all);
    if (!all) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    memcpy(all, B, nb * sizeof *all);
    memcpy(all + nb, A, na * sizeof *all);
    qsort(all, n, sizeof *all, by_value);
    double pos = q * (double)(n - 1);
    size_t below = (size_t)pos;
    float high = below + 1 < n ? (float)(all[below] + (pos - (double)below) * ((double)all[below + 1] - all[below])) : all[n - 1];
    free(all);
    float *parts[2] = {B, A};
    size_t sizes[2] = {nb, na};
    for (int p = 0; p < 2; p++)
        for (size_t i = 0; i < sizes[p]; i++) {
            float v = parts[p][i] < -high ? -high : parts[p][i];
            parts[p][i] = v > high ? high : v;
        }
    return ADAPT_OK;
}

static bool all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

adapt_status low_rank_factors(const double *delta, int rows, int cols, int rank, double clamp, float *B, float *A)
{
    int least = rows < cols ? rows : cols;
    if (rank < 1 || rank > least) return adapt_fail(ADAPT_ERR_ARG, "rank %d for a %d x %d matrix", rank, rows, cols);
    size_t cells = (size_t)rows * (size_t)cols;
    if (!all_finite(delta, cells)) return adapt_fail(ADAPT_ERR_NUMERIC, "the combined LoRA delta is not finite");
    /* The row-major [rows, cols] buffer is the column-major [cols, rows] transpose U' S VT', so the
     * delta's left singular vectors are VT''s rows and its right ones U''s columns. */
    double *a = malloc(cells * sizeof *a), *s = malloc((size_t)least * sizeof *s);
    double *u = malloc((size_t)cols * least * sizeof *u), *vt = malloc((size_t)least * rows * sizeof *vt);
    adapt_status st = a && s && u && vt ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!st) {
        memcpy(a, delta, cells * sizeof *a);
        st = thin_svd(cols, rows, a, s, u, vt);
    }
    if (!st) {
        for (int o = 0; o < rows; o++)
            for (int j = 0; j < rank; j++) B[(size_t)o * rank + j] = (float)(vt[(size_t)o * least + j] * s[j]);
        for (int j = 0; j < rank; j++)
            for (int i = 0; i < cols; i++) A[(size_t)j * cols + i] = (float)u[(size_t)j * cols + i];
    }
    if (!st && clamp > 0) st = clamp_factors(B, (size_t)rows * rank, A, (size_t)rank * cols, clamp);
    free(a), free(s), free(u), free(vt);
    return st;
}

adapt_status low_rank_factors_of_product(const double *L, const double *R, int rows, int inner, int cols, int rank, double clamp,
                                         float *B, float *A)
{
    int least = rows < cols ? rows : cols;
    if (rank < 1 || rank > least) return adapt_fail(ADAPT_ERR_ARG, "rank %d for a %d x %d matrix", rank, rows, cols);
    if (!all_finite(L, (size_t)rows * inner) || !all_finite(R, (size_t)inner * cols))
        return adapt_fail(ADAPT_ERR_NUMERIC, "the combined LoRA delta is not finite");
    if (inner >= least || rank > inner) { /* no smaller than the matrix, or a rank past the core's: decompose the product */
        double *delta = malloc((size_t)rows * cols * sizeof *delta);
        if (!delta) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        for (int o = 0; o < rows; o++)
            for (int i = 0; i < cols; i++) {
                double sum = 0;
                for (int c = 0; c < inner; c++) sum += L[(size_t)o * inner + c] * R[(size_t)c * cols + i];
                delta[(size_t)o * cols + i] = sum;
            }
        adapt_status st = low_rank_factors(delta, rows, cols, rank, clamp, B, A);
        free(delta);
        return st;
    }
    /* L = Ql Rl and R^T = Qr Rr (column-major), so L R = Ql (Rl Rr^T) Qr^T: the small core's SVD
     * U S V^T gives the product's, (Ql U) S (Qr V)^T, without forming the [rows, cols] matrix. */
    size_t k2 = (size_t)inner * inner;
    double *ql = malloc((size_t)rows * inner * sizeof *ql), *qr = malloc((size_t)cols * inner * sizeof *qr);
    double *rl = malloc(k2 * sizeof *rl), *rr = malloc(k2 * sizeof *rr), *core = malloc(k2 * sizeof *core);
    double *s = malloc((size_t)inner * sizeof *s), *u = malloc(k2 * sizeof *u), *vt = malloc(k2 * sizeof *vt);
    adapt_status st = ql && qr && rl && rr && core && s && u && vt ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!st) {
        for (int o = 0; o < rows; o++)
            for (int c = 0; c < inner; c++) ql[o + (size_t)c * rows] = L[(size_t)o * inner + c];
        for (int c = 0; c < inner; c++)
            for (int i = 0; i < cols; i++) qr[i + (size_t)c * cols] = R[(size_t)c * cols + i];
        st = thin_qr(rows, inner, ql, rl);
    }
    if (!st) st = thin_qr(cols, inner, qr, rr);
    if (!st) {
        for (int c = 0; c < inner; c++) /* core = Rl Rr^T */
            for (int r = 0; r < inner; r++) {
                double sum = 0;
                for (int t = 0; t < inner; t++) sum += rl[r + (size_t)t * inner] * rr[c + (size_t)t * inner];
                core[r + (size_t)c * inner] = sum;
            }
        st = thin_svd(inner, inner, core, s, u, vt);
    }
    if (!st) {
        for (int o = 0; o < rows; o++) /* B = Ql U_rank diag(s) */
            for (int j = 0; j < rank; j++) {
                double sum = 0;
                for (int c = 0; c < inner; c++) sum += ql[o + (size_t)c * rows] * u[c + (size_t)j * inner];
                B[(size_t)o * rank + j] = (float)(sum * s[j]);
            }
        for (int j = 0; j < rank; j++) /* A = (Qr V_rank)^T */
            for (int i = 0; i < cols; i++) {
                double sum = 0;
                for (int c = 0; c < inner; c++) sum += qr[i + (size_t)c * cols] * vt[j + (size_t)c * inner];
                A[(size_t)j * cols + i] = (float)sum;
            }
    }
    if (!st && clamp > 0) st = clamp_factors(B, (size_t)rows * rank, A, (size_t)rank * cols, clamp);
    free(ql), free(qr), free(rl), free(rr), free(core), free(s), free(u), free(vt);
    return st;
}
