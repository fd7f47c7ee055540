#include "adapters/task_merge.h"
#include "core/error.h"
#include "core/random.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The k-th largest (1-based, 1 <= k <= n) of v, which is reordered: quickselect with a three-way
 * partition (larger | equal | smaller), so runs of equal magnitudes cannot stall it. */
static float kth_largest(float *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1, want = k - 1;
    for (;;) {
        if (lo == hi) return v[lo];
        float pivot = v[lo + (hi - lo) / 2], t;
        size_t larger_end = lo, i = lo, smaller_start = hi + 1;
        while (i < smaller_start) {
            if (v[i] > pivot) t = v[larger_end], v[larger_end++] = v[i], v[i++] = t;
            else if (v[i] < pivot) t = v[--smaller_start], v[smaller_start] = v[i], v[i] = t;
            else i++;
        }
        if (want < larger_end) hi = larger_end - 1;
        else if (want < smaller_start) return pivot;
        else lo = smaller_start;
    }
}

/* Keeps the k = floor(density * numel) largest magnitudes of t (ties: the earlier elements), zeroes
 * the rest (PEFT's magnitude_based_pruning). */
static adapt_status prune_by_magnitude(float *t, size_t numel, double density)
{
    size_t k = (size_t)(density * (double)numel);
    if (k >= numel) return ADAPT_OK;
    if (k == 0) {
        memset(t, 0, numel * sizeof *t);
        return ADAPT_OK;
    }
    float *mag = malloc(numel * sizeof *mag);
    if (!mag) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < numel; j++) mag[j] = fabsf(t[j]);
    float threshold = kth_largest(mag, numel, k);
    free(mag);
    size_t above = 0;
    for (size_t j = 0; j < numel; j++) above += fabsf(t[j]) > threshold;
    size_t equal_kept = k - above;
    for (size_t j = 0; j < numel; j++) {
        float a = fabsf(t[j]);
        if (a > threshold) continue;
        if (a == threshold && equal_kept > 0) equal_kept--;
        else t[j] = 0;
    }
    return ADAPT_OK;
}

/* Each element kept with probability density and rescaled by 1/density (PEFT's random_pruning). */
static void drop_at_random(float *t, size_t numel, double density, uint64_t *rng)
{
    for (size_t j = 0; j < numel; j++) t[j] = adapt_rng_uniform(rng) < density ? (float)(t[j] / density) : 0.0f;
}

static int sign_of(float v) { return (v > 0) - (v < 0); }

adapt_status task_merge(const float *const *in, const double *w, int n, size_t numel, const task_merge_options *o, float *out)
{
    if (o->kind == MERGE_TASK_ARITHMETIC) {
        for (size_t j = 0; j < numel; j++) {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += w[i] * in[i][j];
            out[j] = (float)sum;
        }
        return ADAPT_OK;
    }
    float *pruned = malloc((size_t)n * numel * sizeof *pruned);
    if (!pruned) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_status s = ADAPT_OK;
    bool random = o->kind == MERGE_DARE_LINEAR || o->kind == MERGE_DARE_TIES;
    for (int i = 0; !s && i < n; i++) {
        float *t = pruned + (size_t)i * numel;
        memcpy(t, in[i], numel * sizeof *t);
        if (o->density >= 1) continue;
        if (random) drop_at_random(t, numel, o->density, o->rng);
        else s = prune_by_magnitude(t, numel, o->density);
    }
    bool ties = o->kind == MERGE_TIES || o->kind == MERGE_DARE_TIES;
    for (size_t j = 0; !s && j < numel; j++) {
        double sum = 0;
        if (!ties) {
            for (int i = 0; i < n; i++) sum += w[i] * pruned[(size_t)i * numel + j];
            out[j] = (float)sum;
            continue;
        }
        double vote = 0; /* the elected sign: of the pruned values' sum, or of their signs' count */
        for (int i = 0; i < n; i++) {
            float v = pruned[(size_t)i * numel + j];
            vote += o->sign == MAJORITY_SIGN_TOTAL ? v : sign_of(v);
        }
        int elected = vote >= 0 ? 1 : -1, agreeing = 0;
        for (int i = 0; i < n; i++) {
            float v = pruned[(size_t)i * numel + j];
            if (sign_of(v) != elected) continue; /* zeros never agree */
            sum += w[i] * v;
            agreeing++;
        }
        out[j] = (float)(sum / (agreeing > 1 ? agreeing : 1));
    }
    free(pruned);
    return s;
}
