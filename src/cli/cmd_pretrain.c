/* adapt pretrain — masked-LM pretraining from scratch: `adapt init-model` and
 * `adapt train --task mlm --method full` in one command, the result a Hugging Face model folder. */
#include "cli/commands.h"
#include "cli/train_args.h"
#include "model/model.h"
#include <stdio.h>
#include <string.h>

#define PRETRAIN_MAX_LENGTH 128

/* The trainer's defaults, but for pretraining a small encoder from scratch (the GPU recipe's
 * warm-up share, a higher peak rate, one pass over the text, a bounded held-out set). */
static void pretrain_defaults(train_options *o)
{
    train_options_defaults(o);
    o->task = "mlm";
    o->method = METHOD_FULL;
    o->lr = 5e-4;
    o->warmup_ratio = 0.05;
    o->epochs = 1;
    o->max_len = 0; /* PRETRAIN_MAX_LENGTH, or less when the position embeddings allow less */
    o->max_dev_examples = 500;
}

static void usage(FILE *fp)
{
    train_options d;
    pretrain_defaults(&d);
    fprintf(fp,
            "usage: adapt pretrain --config CONFIG.json --tokenizer PATH --train FILE [--train FILE...] --output DIR [options]\n"
            "Masked-LM pretraining from scratch: a randomly initialised model of CONFIG.json (as `adapt init-model`)\n"
            "with every parameter trainable; the text files (plain or .xz, one paragraph per line) packed into\n"
            "rows of --max-length tokens (<s> ... </s>, lines joined by </s>); 15%% of the tokens masked afresh in\n"
            "every batch (80%% <mask>, 10%% a random token, 10%% kept), the loss at the masked positions only.\n"
            "The engine of `adapt train --task mlm --method full`.\n"
            "  --config FILE             config.json: model_type bert|roberta|xlm-roberta, sizes, vocab_size >= the\n"
            "                            tokenizer's, max_position_embeddings\n"
            "  --tokenizer PATH          tokenizer.json (or a folder with one, vocab.txt or a .model); copied into DIR\n"
            "  --train FILE              text to learn from (repeatable; with --max-train-examples each file gets an\n"
            "                            equal share of the rows)\n"
            "  --dev FILE                held-out text (default: the last 2%% of the rows, at most --max-dev-examples,\n"
            "                            default %ld)\n"
            "  --max-length N            tokens per row (default %d, or what max_position_embeddings allows)\n",
            d.max_dev_examples, PRETRAIN_MAX_LENGTH);
    print_train_options_help(fp, &d);
    fprintf(fp, "Writes DIR as a Hugging Face model folder (the model with the best held-out loss): config.json,\n"
                "model.safetensors with the MLM head (shards of at most 15 MB + model.safetensors.index.json when\n"
                "larger) and the tokenizer, loadable by `adapt info`, `adapt fill-mask` and `adapt train`; beside it\n"
                "summary.json, curve.svg, losses.tsv (and checkpoint/ with --checkpoint-every).\n"
                "Data-parallel: `mpirun -np N adapt-mpi pretrain ...` (docs/data-parallel.md).\n");
}

/* --max-length by default: a full row where the position embeddings allow it. */
static int default_max_length(const char *config)
{
    model_config cfg;
    if (hf_config_load(config, &cfg)) return -1;
    int limit = model_max_tokens(&cfg);
    hf_config_free(&cfg);
    return limit < PRETRAIN_MAX_LENGTH ? limit : PRETRAIN_MAX_LENGTH;
}

int cmd_pretrain(int argc, char **argv)
{
    train_options o;
    pretrain_defaults(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        int k = parse_train_option("pretrain", argc, argv, &i, &o);
        if (k < 0) return 2;
        if (k > 0) continue;
        if (!strcmp(a, "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "adapt pretrain: --config needs a value\n");
                return 2;
            }
            o.init_config = argv[++i];
            continue;
        }
        fprintf(stderr, "adapt pretrain: unknown option %s\n", a);
        usage(stderr);
        return 2;
    }
    if (!o.init_config || !o.tokenizer || !o.n_train_files || !o.out_dir) {
        fprintf(stderr, "adapt pretrain: --config, --tokenizer, --train and --output are required\n");
        usage(stderr);
        return 2;
    }
    if (!o.max_len && (o.max_len = default_max_length(o.init_config)) < 8) {
        if (o.max_len < 0) return cli_report_error("pretrain");
        fprintf(stderr, "adapt pretrain: %s: max_position_embeddings leaves rows of %d tokens, fewer than 8\n", o.init_config, o.max_len);
        return 2;
    }
    o.model_out = o.out_dir;
    if (trainer_run(&o)) return cli_report_error("pretrain");
    return 0;
}
