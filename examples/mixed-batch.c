/* Multi-adapter batched inference through adapt.h alone: one batch whose rows each name their own
 * composition of the shipped adapters, encoded in one pass (adapt_model_encode_mixed), against the
 * same rows encoded one composition at a time, in the same run. Prints both times and the ratio,
 * and checks that the two give the same hidden states.
 *
 *   build/examples/mixed-batch [BATCH] [TOKENS] [REPEATS]     (defaults 8 32 5; run from the repo root)
 */
#include "adapt.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *const compositions[] = {"Stack(qu, ner)", "Stack(en, ner)", "Stack(es, ner)", "ner"};
#define GROUPS 4

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(void)
{
    fprintf(stderr, "mixed-batch: %s\n", adapt_error());
    return 1;
}

int main(int argc, char **argv)
{
    int B = argc > 1 ? atoi(argv[1]) : 8, T = argc > 2 ? atoi(argv[2]) : 32, repeats = argc > 3 ? atoi(argv[3]) : 5;
    if (B < GROUPS || B % GROUPS || T < 3 || T > 512 || repeats < 1) {
        fprintf(stderr, "usage: %s [BATCH (a multiple of %d)] [TOKENS (3-512)] [REPEATS]\n", argv[0], GROUPS);
        return 2;
    }
    adapt_model *model;
    if (adapt_model_load("models/default", &model)) return fail();
    const char *folders[] = {"models/adapters/en", "models/adapters/es", "models/adapters/qu", "models/adapters/ner"};
    for (int i = 0; i < 4; i++)
        if (adapt_model_load_adapter(model, folders[i], NULL, NULL, 0)) return fail();
    adapt_model_info info;
    adapt_model_get_info(model, &info);
    size_t cells = (size_t)B * T, row = (size_t)T * info.hidden_size;
    int32_t *ids = malloc(cells * sizeof *ids), *mask = malloc(cells * sizeof *mask);
    const char **row_setup = malloc((size_t)B * sizeof *row_setup);
    float *mixed = malloc(cells * info.hidden_size * sizeof *mixed), *alone = malloc(cells * info.hidden_size * sizeof *alone);
    if (!ids || !mask || !row_setup || !mixed || !alone) return 1;
    /* rows of tokens drawn from the vocabulary between <s> and </s>; row b under composition b mod 4
     * (the separate passes take the same rows grouped by composition: rows g, g+4, ... are contiguous there) */
    uint64_t state = 7;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            int32_t id = t == 0 ? 0 : t == T - 1 ? 2 : (int32_t)(5 + (state >> 33) % (uint64_t)(info.vocab_size - 5));
            ids[(size_t)b * T + t] = id;
            mask[(size_t)b * T + t] = 1;
        }
        row_setup[b] = compositions[b % GROUPS];
    }
    int32_t *grouped = malloc(cells * sizeof *grouped);
    if (!grouped) return 1;
    for (int b = 0; b < B; b++) {
        int slot = (b % GROUPS) * (B / GROUPS) + b / GROUPS;
        for (int t = 0; t < T; t++) grouped[(size_t)slot * T + t] = ids[(size_t)b * T + t];
    }
    double best_mixed = INFINITY, best_alone = INFINITY;
    for (int r = 0; r < repeats; r++) {
        double t0 = seconds();
        if (adapt_model_encode_mixed(model, B, T, ids, mask, NULL, row_setup, mixed)) return fail();
        double t1 = seconds();
        for (int g = 0; g < GROUPS; g++) {
            size_t first = (size_t)g * (B / GROUPS);
            if (adapt_model_set_setup(model, compositions[g])) return fail();
            if (adapt_model_encode(model, B / GROUPS, T, grouped + first * T, mask, NULL, alone + first * row, NULL)) return fail();
        }
        double t2 = seconds();
        best_mixed = fmin(best_mixed, t1 - t0);
        best_alone = fmin(best_alone, t2 - t1);
    }
    double worst = 0;
    for (int b = 0; b < B; b++) {
        int slot = (b % GROUPS) * (B / GROUPS) + b / GROUPS;
        for (size_t i = 0; i < row; i++) worst = fmax(worst, fabs((double)mixed[(size_t)b * row + i] - alone[(size_t)slot * row + i]));
    }
    printf("batch %d x %d tokens, %d compositions: one mixed pass %.1f ms, one pass per composition %.1f ms, "
           "ratio %.2fx (best of %d); largest difference %.2g\n",
           B, T, GROUPS, 1e3 * best_mixed, 1e3 * best_alone, best_alone / best_mixed, repeats, worst);
    free(ids), free(mask), free(row_setup), free(mixed), free(alone), free(grouped);
    adapt_model_free(model);
    return worst < 1e-4 ? 0 : 1;
}
