#include "cli/infer_args.h"
#include "cli/args.h"
#include <stdio.h>
#include <string.h>

int parse_infer_option(const char *cmd, const char *k, const char *v, infer_options *io, long *max_examples)
{
    long n;
    if (!strcmp(k, "--model")) io->model_dir = v;
    else if (!strcmp(k, "--tokenizer")) io->tokenizer = v;
    else if (!strcmp(k, "--head")) io->head_dir = v;
    else if (!strcmp(k, "--setup")) io->setup = v;
    else if (!strcmp(k, "--lora")) {
        if (io->lora_dir) {
            fprintf(stderr, "adapt %s: --lora given twice: this command runs one LoRA (adapt predict takes several)\n", cmd);
            return -1;
        }
        io->lora_dir = v;
    }
    else if (!strcmp(k, "--load-adapter") || !strcmp(k, "--fusion")) {
        bool fusion = !strcmp(k, "--fusion");
        int *count = fusion ? &io->n_fusions : &io->n_adapters;
        if (*count == (fusion ? INFER_MAX_FUSIONS : INFER_MAX_ADAPTERS)) {
            fprintf(stderr, "adapt %s: too many %s options\n", cmd, k);
            return -1;
        }
        (fusion ? io->fusions : io->adapters)[(*count)++] = v;
    } else if (!strcmp(k, "--max-length")) {
        if (!arg_long(cmd, k, v, 8, 65536, &n)) return -1;
        io->max_len = (int)n;
    } else if (!strcmp(k, "--batch-size")) {
        if (!arg_long(cmd, k, v, 1, 65536, &n)) return -1;
        io->batch_size = (int)n;
    } else if (!strcmp(k, "--dtype")) {
        if (!arg_weight_dtype(cmd, k, v, &io->weight_dtype)) return -1;
    } else if (!strcmp(k, "--max-examples")) {
        if (!arg_long(cmd, k, v, 1, 1000000000, max_examples)) return -1;
    } else {
        return 0;
    }
    return 1;
}
