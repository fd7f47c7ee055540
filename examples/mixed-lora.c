/* Mixed-LoRA batched inference through adapt.h alone (PEFT's adapter_names): one batch whose rows
 * each name one of several LoRAs loaded into the same model (or none), encoded in one pass
 * (adapt_model_encode_mixed_lora), against the same rows encoded one LoRA at a time, in the same
 * run. Prints both times and the ratio, and checks that the two give the same hidden states.
 *
 *   build/examples/mixed-lora MODEL_DIR BATCH TOKENS REPEATS LORA_DIR...
 *
 * Row b runs under LoRA b mod (n + 1), the last of the n + 1 groups without LoRA (the base model).
 */
#include "adapt.h"
#include "mixed_rows.h"
#include <stdio.h>
#include <stdlib.h>

#define MAX_LORAS 15

typedef struct lora_rows {
    const char *group_lora[MAX_LORAS + 1]; /* NULL: the base model */
    const char **row_lora;
} lora_rows;

static int fail(void)
{
    fprintf(stderr, "mixed-lora: %s\n", adapt_error());
    return 1;
}

static adapt_status mixed_pass(adapt_model *m, const void *ctx, const mixed_rows *r)
{
    const lora_rows *l = ctx;
    return adapt_model_encode_mixed_lora(m, r->B, r->T, r->ids, r->mask, NULL, l->row_lora, r->mixed);
}

static adapt_status select_lora(adapt_model *m, const void *ctx, int group)
{
    const lora_rows *l = ctx;
    return adapt_model_set_lora(m, l->group_lora[group]);
}

int main(int argc, char **argv)
{
    int n_loras = argc - 5, groups = n_loras + 1;
    int B = argc > 2 ? atoi(argv[2]) : 0, T = argc > 3 ? atoi(argv[3]) : 0, repeats = argc > 4 ? atoi(argv[4]) : 0;
    if (n_loras < 1 || n_loras > MAX_LORAS || B < groups || B % groups || T < 3 || T > 512 || repeats < 1) {
        fprintf(stderr, "usage: %s MODEL_DIR BATCH (a multiple of LoRAs + 1) TOKENS (3-512) REPEATS LORA_DIR... (1-%d)\n", argv[0],
                MAX_LORAS);
        return 2;
    }
    adapt_model *model;
    if (adapt_model_load(argv[1], &model)) return fail();
    char names[MAX_LORAS][16];
    lora_rows l = {.row_lora = malloc((size_t)B * sizeof *l.row_lora)};
    for (int i = 0; i < n_loras; i++) {
        snprintf(names[i], sizeof names[i], "l%d", i);
        if (adapt_model_load_lora_as(model, argv[5 + i], names[i])) return fail();
        l.group_lora[i] = names[i];
    }
    mixed_rows rows;
    if (!l.row_lora || !mixed_rows_make(&rows, model, B, T, groups)) return 1;
    for (int b = 0; b < B; b++) l.row_lora[b] = l.group_lora[b % groups];
    double best_mixed, best_alone, worst;
    if (mixed_rows_time(model, &rows, repeats, mixed_pass, select_lora, &l, &best_mixed, &best_alone, &worst)) return fail();
    printf("batch %d x %d tokens, %d LoRAs + the base model: one mixed pass %.1f ms, one pass per LoRA %.1f ms, "
           "ratio %.2fx (best of %d); largest difference %.2g\n",
           B, T, n_loras, 1e3 * best_mixed, 1e3 * best_alone, best_alone / best_mixed, repeats, worst);
    free(l.row_lora);
    mixed_rows_free(&rows);
    adapt_model_free(model);
    return worst < 1e-4 ? 0 : 1;
}
