/* adapt — command-line entry point: dispatches to one function per sub-command. */
#include "cli/commands.h"
#include "adapt.h"
#include "train/data_parallel.h"
#include <stdio.h>
#include <string.h>

static const adapt_command commands[] = {
    {"info", cmd_info, "describe a Hugging Face model folder (architecture, sizes, parameters, dtypes)"},
    {"fill-mask", cmd_fill_mask, "the model's masked-LM predictions for <mask> tokens in a text"},
    {"tokenize", cmd_tokenize, "encode JSON lines from stdin with a tokenizer.json"},
    {"detokenize", cmd_detokenize, "decode id lists from stdin with a tokenizer.json"},
    {"tokenizer", cmd_tokenizer, "tokenizer tools: `adapt tokenizer train`"},
    {"train", cmd_train, "fine-tune with an adapter, LoRA or a baseline (NER, GLUE)"},
    {"predict", cmd_predict, "tag CoNLL input with a model, adapters and a head"},
    {"eval", cmd_eval, "score a trained setup on a labelled CoNLL or GLUE dev file (entity F1, accuracy, MCC, F1)"},
    {"demo", cmd_demo, "`adapt demo quechua-ner`: zero-shot Quechua NER with the shipped model (MAD-X)"},
    {"init-model", cmd_init_model, "a randomly initialised model from a config.json (to pretrain from scratch)"},
    {"pretrain", cmd_pretrain, "masked-LM pretraining from scratch: config.json + tokenizer + text -> a model folder"},
    {"bench", cmd_bench, "throughput of inference / adapter training / full fine-tuning on a preset shape"},
    {"encode-corpus", cmd_encode_corpus, "tokenize raw text into a uint16 id stream for pretraining"},
    {"adapters", cmd_adapters, "adapter folders: list (config, parameters, head), average, rename, combine-loras, merge-lora"},
    {"convert", cmd_convert, "AdapterHub's legacy pytorch_adapter.bin (torch.save zip) to adapter.safetensors"},
    {"fusion-attention", cmd_fusion_attention, "AdapterFusion weights per layer over a dataset: JSON + SVG heatmap"},
};

int cli_report_error(const char *cmd)
{
    if (dp_size() > 1) /* each process reports its own failure */
        fprintf(stderr, "adapt %s (process %d of %d): %s\n", cmd, dp_rank(), dp_size(), adapt_error());
    else
        fprintf(stderr, "adapt %s: %s\n", cmd, adapt_error());
    return 1;
}

void cli_warn_text_as_conll(const char *cmd, const char *path)
{
    fprintf(stderr, "adapt %s: warning: %s was read as CoNLL (a word per line, column 1 tagged), but most of its lines hold "
                    "5 or more space-separated words: for a sentence per line give --format text\n", cmd, path);
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adapt COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(fp, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\n`adapt COMMAND --help` describes a command.\n");
}

static int run_command(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    /* in a data-parallel run (adapt-mpi under mpirun) every process would write the same files */
    if (dp_size() > 1 && strcmp(argv[1], "train") && strcmp(argv[1], "pretrain")) {
        if (dp_rank() == 0)
            fprintf(stderr, "adapt: \"%s\" runs in one process; of %d processes, only train and pretrain share the work\n",
                    argv[1], dp_size());
        return 2;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "adapt: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv)
{
    cli_select_blas_kernels(argv);
    if (dp_init(&argc, &argv)) return 1;
    int rc = run_command(argc, argv);
    /* a failure may leave the other processes waiting for this one: all stop (exit code 2 is a
     * usage error, which every process found alike) */
    dp_finish(rc == 2 ? 0 : rc);
    return rc;
}
