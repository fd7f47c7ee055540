/* adapt fusion-attention — average AdapterFusion weights per layer over a dataset (JSON + SVG
 * heatmap), or combine several such runs into one heatmap with a row per target task. */
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/infer_args.h"
#include "core/error.h"
#include "data/task_data.h"
#include "train/fusion_attention.h"
#include "train/infer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adapt fusion-attention --model DIR --load-adapter DIR... --fusion DIR --task TASK --data FILE --output PREFIX\n"
                "       adapt fusion-attention --combine RUN.json... --output PREFIX\n"
                "  --task ner|sst2|rte|...   the data's layout (CoNLL or JSON Lines tokens for ner, else GLUE TSV or JSON\n"
                "                            Lines text; .jsonl files are JSON Lines); labels are not needed\n"
                "  --head DIR  --setup STR (default Fuse(...) of the fusion)  --tokenizer PATH\n"
                "  --max-examples N  --max-length N (128)  --batch-size N (32)\n"
                "  --dtype fp32|bf16 (bf16: frozen encoder weights stored as bf16, arithmetic in fp32)\n"
                "Writes PREFIX.json (per-layer mean weights over the non-padding tokens, and their average) and\n"
                "PREFIX.svg (rows: layers; with --combine: one row per run's task, columns: adapters).\n");
}

typedef struct fa_args {
    infer_options io;
    const char *task, *data, *output;
    const char *combine[64];
    int n_combine;
    long max_examples;
} fa_args;

static int parse(int argc, char **argv, fa_args *a)
{
    const char *cmd = "fusion-attention";
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int handled;
        if (!strcmp(k, "--combine")) { /* every following non-option argument is a run */
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) && a->n_combine < 64) a->combine[a->n_combine++] = argv[++i];
            continue;
        }
        if (!v) {
            fprintf(stderr, "adapt fusion-attention: %s needs a value\n", k);
            return 2;
        }
        i++;
        if (!strcmp(k, "--task")) a->task = v;
        else if (!strcmp(k, "--data")) a->data = v;
        else if (!strcmp(k, "--output")) a->output = v;
        else if ((handled = parse_infer_option(cmd, k, v, &a->io, &a->max_examples)) < 0) return 2;
        else if (!handled) {
            fprintf(stderr, "adapt %s: unknown option %s\n", cmd, k);
            return 2;
        }
    }
    if (!a->output || (!a->n_combine && (!a->io.model_dir || !a->data || !a->task))) {
        usage(stderr);
        return 2;
    }
    return 0;
}

/* The data, without labels: words for ner, text (pairs) otherwise. */
static adapt_status read_data(const fa_args *a, dataset *ds)
{
    task_data_options opt = {.glue = strcmp(a->task, "ner") ? glue_task_find(a->task) : NULL, .unlabeled = true};
    if (strcmp(a->task, "ner") && !opt.glue) {
        dataset_init(ds, DATASET_CLASSIFICATION, a->data);
        return adapt_fail(ADAPT_ERR_ARG, "unknown task \"%s\" (ner, sst2, cola, mrpc, rte, ...)", a->task);
    }
    return task_data_read(a->data, &opt, ds);
}

static adapt_status run(const fa_args *a)
{
    if (a->n_combine) return fusion_attention_combine(a->combine, a->n_combine, a->output);
    infer_options io = a->io;
    io.head_optional = true; /* the weights do not depend on the head */
    tagger t;
    TRY(infer_open(&io, &t));
    dataset ds;
    encoded_set enc = {0};
    fusion_attention *fa = malloc(sizeof *fa);
    adapt_status s = read_data(a, &ds);
    if (!s && a->max_examples > 0 && (size_t)a->max_examples < ds.n) ds.n = (size_t)a->max_examples;
    if (!s) s = encode_dataset(t.tok, &ds, t.max_len, &enc);
    if (!s && !fa) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) s = fusion_attention_collect(&t, &enc, fa);
    if (!s) s = fusion_attention_write(fa, a->task, a->data, a->output);
    if (!s) {
        printf("fusion weights over %zu tokens of %s (rows: layer; columns:", fa->tokens, a->data);
        for (int k = 0; k < fa->n_adapters; k++) printf(" %s", fa->adapters[k]);
        printf(")\n");
        for (int r = 0; r < fa->n_rows; r++) {
            printf("  layer %2d %-16s", fa->layer[r], fa->attention[r] ? "attention.output" : "output");
            for (int k = 0; k < fa->n_adapters; k++) printf(" %.3f", fa->sum[r][k]);
            printf("\n");
        }
        printf("wrote %s.json and %s.svg\n", a->output, a->output);
    }
    free(fa);
    encoded_set_free(&enc);
    dataset_free(&ds);
    tagger_close(&t);
    return s;
}

int cmd_fusion_attention(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
    fa_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    return run(&a) ? cli_report_error("fusion-attention") : 0;
}
