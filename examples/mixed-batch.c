/* Multi-adapter batched inference through adapt.h alone: one batch whose rows each name their own
 * composition of the shipped adapters, encoded in one pass (adapt_model_encode_mixed), against the
 * same rows encoded one composition at a time, in the same run. Prints both times and the ratio,
 * and checks that the two give the same hidden states.
 *
 *   build/examples/mixed-batch [BATCH] [TOKENS] [REPEATS]     (defaults 8 32 5; run from the repo root)
 */
#include "adapt.h"
#include "mixed_rows.h"
#include <stdio.h>
#include <stdlib.h>

static const char *const compositions[] = {"Stack(qu, ner)", "Stack(en, ner)", "Stack(es, ner)", "ner"};
#define GROUPS 4

static int fail(void)
{
    fprintf(stderr, "mixed-batch: %s\n", adapt_error());
    return 1;
}

static adapt_status mixed_pass(adapt_model *m, const void *row_setup, const mixed_rows *r)
{
    return adapt_model_encode_mixed(m, r->B, r->T, r->ids, r->mask, NULL, row_setup, r->mixed);
}

static adapt_status select_composition(adapt_model *m, const void *unused, int group)
{
    (void)unused;
    return adapt_model_set_setup(m, compositions[group]);
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
    mixed_rows rows;
    const char **row_setup = malloc((size_t)B * sizeof *row_setup);
    if (!row_setup || !mixed_rows_make(&rows, model, B, T, GROUPS)) return 1;
    for (int b = 0; b < B; b++) row_setup[b] = compositions[b % GROUPS];
    double best_mixed, best_alone, worst;
    if (mixed_rows_time(model, &rows, repeats, mixed_pass, select_composition, row_setup, &best_mixed, &best_alone, &worst)) return fail();
    printf("batch %d x %d tokens, %d compositions: one mixed pass %.1f ms, one pass per composition %.1f ms, "
           "ratio %.2fx (best of %d); largest difference %.2g\n",
           B, T, GROUPS, 1e3 * best_mixed, 1e3 * best_alone, best_alone / best_mixed, repeats, worst);
    free(row_setup);
    mixed_rows_free(&rows);
    adapt_model_free(model);
    return worst < 1e-4 ? 0 : 1;
}
