/* adapt fill-mask MODEL_DIR "text with <mask>" [--top N] — the checkpoint's MLM head at work:
 * the most likely tokens for each mask, with their probabilities. */
#include "adapt.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "model/model.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *mask_token(const adapt_tokenizer *tok)
{
    return adapt_tokenizer_token_to_id(tok, "<mask>") >= 0 ? "<mask>" : "[MASK]";
}

static void print_top(adapt_tokenizer *tok, const float *logits, int V, int top)
{
    double mx = logits[0], sum = 0;
    for (int v = 1; v < V; v++) mx = logits[v] > mx ? logits[v] : mx;
    for (int v = 0; v < V; v++) sum += exp(logits[v] - mx);
    int best[32];
    for (int k = 0; k < top; k++) {
        best[k] = -1;
        for (int v = 0; v < V; v++) {
            bool taken = false;
            for (int j = 0; j < k; j++) taken |= best[j] == v;
            if (!taken && (best[k] < 0 || logits[v] > logits[best[k]])) best[k] = v;
        }
        char *text = NULL;
        int32_t id = best[k];
        if (adapt_tokenizer_decode(tok, &id, 1, false, &text)) text = NULL;
        printf("  %5.1f%%  %s\n", 100.0 * exp(logits[id] - mx) / sum, text ? text : "?");
        free(text);
    }
}

int cmd_fill_mask(int argc, char **argv)
{
    long top = 5;
    if (argc == 5 && !strcmp(argv[3], "--top")) {
        if (!arg_long("fill-mask", "--top", argv[4], 1, 32, &top)) return 2;
    } else if (argc != 3) {
        fprintf(stderr, "usage: adapt fill-mask MODEL_DIR \"text with <mask>\" [--top N]\n"
                        "  MODEL_DIR holds the checkpoint and its tokenizer.json\n");
        return 2;
    }
    adapt_model *m = NULL;
    adapt_tokenizer *tok = NULL;
    adapt_encoding enc = {0};
    float *logits = NULL;
    adapt_status s = adapt_model_load(argv[1], &m);
    if (!s) s = adapt_tokenizer_load(argv[1], &tok);
    if (!s) s = adapt_tokenizer_encode(tok, argv[2], strlen(argv[2]), NULL, 0, true, &enc);
    int32_t mask_id = s ? -1 : adapt_tokenizer_token_to_id(tok, mask_token(tok));
    int n_masks = 0;
    for (size_t i = 0; !s && i < enc.length; i++) n_masks += enc.ids[i] == mask_id;
    if (!s && !n_masks) s = adapt_fail(ADAPT_ERR_ARG, "the text has no %s token", mask_token(tok));
    int T = (int)enc.length, V = s ? 0 : m->cfg.vocab;
    if (!s) {
        logits = malloc((size_t)T * V * sizeof(float));
        s = logits ? adapt_model_mlm_logits(m, 1, T, enc.ids, NULL, NULL, logits) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    for (int t = 0, k = 0; !s && t < T; t++)
        if (enc.ids[t] == mask_id) {
            printf("mask %d:\n", ++k);
            print_top(tok, logits + (size_t)t * V, V, (int)top);
        }
    free(logits);
    adapt_encoding_free(&enc);
    adapt_tokenizer_free(tok);
    adapt_model_free(m);
    return s ? cli_report_error("fill-mask") : 0;
}
