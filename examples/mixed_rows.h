/* What examples/mixed-batch.c and examples/mixed-lora.c share: a batch of random rows where row b
 * belongs to group b mod G (a composition, a LoRA), the same rows regrouped (group g's rows
 * contiguous) for the baseline of one pass per group, the timing of both in the same run, and
 * the comparison of their hidden states. */
#ifndef ADAPT_EXAMPLES_MIXED_ROWS_H
#define ADAPT_EXAMPLES_MIXED_ROWS_H
#include "adapt.h"
#include <math.h>
#include <stdlib.h>
#include <time.h>

typedef struct mixed_rows {
    int B, T, groups;
    size_t row_floats;
    int32_t *ids, *mask, *grouped;  /* [B,T]; grouped: the rows regrouped */
    float *mixed, *alone;           /* [B,T,H]: the mixed pass, the passes per group (regrouped rows) */
} mixed_rows;

/* The whole batch in one pass into r->mixed; group g's adapter made active. */
typedef adapt_status (*mixed_pass_fn)(adapt_model *m, const void *ctx, const mixed_rows *r);
typedef adapt_status (*select_group_fn)(adapt_model *m, const void *ctx, int group);

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Where row b of the mixed batch sits among the regrouped rows. */
static size_t grouped_slot(const mixed_rows *r, int b)
{
    return (size_t)(b % r->groups) * (size_t)(r->B / r->groups) + (size_t)(b / r->groups);
}

static void mixed_rows_free(mixed_rows *r)
{
    free(r->ids), free(r->mask), free(r->grouped), free(r->mixed), free(r->alone);
}

/* Tokens drawn from the vocabulary past its first 5 (special tokens), the first and last
 * positions 0 and 2 (<s>, </s> in RoBERTa vocabularies), no padding. 0 when out of memory. */
static int mixed_rows_make(mixed_rows *r, const adapt_model *m, int B, int T, int groups)
{
    adapt_model_info info;
    adapt_model_get_info(m, &info);
    size_t cells = (size_t)B * T;
    *r = (mixed_rows){B, T, groups, (size_t)T * info.hidden_size, malloc(cells * sizeof(int32_t)), malloc(cells * sizeof(int32_t)),
                      malloc(cells * sizeof(int32_t)), malloc(cells * info.hidden_size * sizeof(float)),
                      malloc(cells * info.hidden_size * sizeof(float))};
    if (!r->ids || !r->mask || !r->grouped || !r->mixed || !r->alone) {
        mixed_rows_free(r);
        return 0;
    }
    uint64_t state = 7;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            int32_t id = t == 0 ? 0 : t == T - 1 ? 2 : (int32_t)(5 + (state >> 33) % (uint64_t)(info.vocab_size - 5));
            r->ids[(size_t)b * T + t] = r->grouped[grouped_slot(r, b) * T + t] = id;
            r->mask[(size_t)b * T + t] = 1;
        }
    return 1;
}

/* Best of `repeats` for the mixed pass and for the passes per group (same run, same rows);
 * *worst: the largest difference between the two results. */
static adapt_status mixed_rows_time(adapt_model *m, mixed_rows *r, int repeats, mixed_pass_fn mixed, select_group_fn select,
                                    const void *ctx, double *best_mixed, double *best_alone, double *worst)
{
    *best_mixed = *best_alone = INFINITY;
    int per_group = r->B / r->groups;
    for (int k = 0; k < repeats; k++) {
        double t0 = seconds();
        adapt_status s = mixed(m, ctx, r);
        double t1 = seconds();
        for (int g = 0; !s && g < r->groups; g++) {
            size_t first = (size_t)g * per_group;
            s = select(m, ctx, g);
            if (!s) s = adapt_model_encode(m, per_group, r->T, r->grouped + first * r->T, r->mask, NULL, r->alone + first * r->row_floats, NULL);
        }
        if (s) return s;
        double t2 = seconds();
        *best_mixed = fmin(*best_mixed, t1 - t0);
        *best_alone = fmin(*best_alone, t2 - t1);
    }
    *worst = 0;
    for (int b = 0; b < r->B; b++) {
        const float *a = r->mixed + (size_t)b * r->row_floats, *g = r->alone + grouped_slot(r, b) * r->row_floats;
        for (size_t i = 0; i < r->row_floats; i++) *worst = fmax(*worst, fabs((double)a[i] - g[i]));
    }
    return ADAPT_OK;
}

#endif
