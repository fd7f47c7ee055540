/* adapt eval — score a trained setup on a labelled CoNLL / JSON Lines file (entity F1), or a GLUE
 * TSV / JSON Lines file (accuracy, MCC, F1; Pearson and Spearman for a regression head). */
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/infer_args.h"
#include "core/error.h"
#include "core/fileio.h"
#include <cjson/cJSON.h>
#include "train/evaluate.h"
#include "train/infer.h"
#include "model/heads.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adapt eval --model DIR --data FILE [options]\n"
                "  --task ner|sst2|cola|mrpc|rte|stsb|tsv|...  (default: ner for a tagging head, else from the data's\n"
                "                             folder name, else tsv for JSON Lines data or a regression head)\n"
                "  --format auto|conll|tsv|jsonl  data format (default auto: .jsonl / .jsonl.xz are JSON Lines, else\n"
                "                             CoNLL for ner and TSV for the rest)\n"
                "  --load-adapter DIR[=NAME]  AdapterHub adapter folder (repeatable)\n"
                "  --fusion DIR               AdapterFusion folder (repeatable; its adapters loaded first)\n"
                "  --lora DIR                 PEFT LoRA folder\n"
                "  --head DIR                 head folder (default: the last fusion's, else the last adapter's)\n"
                "  --setup STR                composition (default: Fuse(...) of the last fusion, else the last adapter)\n"
                "  --strict                   entity F1 in seqeval's strict IOB2 mode (default: seqeval's default)\n"
                "  --json FILE                also write the scores as JSON\n"
                "  --dtype fp32|bf16          bf16: weight-only bf16, the frozen encoder weights stored as bf16 and\n"
                "                             widened to fp32 for each GEMM (half their memory; arithmetic stays fp32)\n"
                "  --tokenizer PATH  --max-length N (128)  --batch-size N (32)  --max-examples N\n"
                "A regression head (one output) is scored by Pearson (the metric) and Spearman correlation and MSE.\n");
}

typedef struct eval_args {
    infer_options io;
    const char *task, *data, *json;
    data_format format;
    long max_examples;
    bool strict;
} eval_args;

/* Returns 0 on success, 2 on a usage error (message printed). */
static int parse(int argc, char **argv, eval_args *a)
{
    const char *cmd = "eval";
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int handled;
        if (!strcmp(k, "--strict")) {
            a->strict = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "adapt eval: %s needs a value\n", k);
            return 2;
        }
        i++;
        if (!strcmp(k, "--task")) a->task = v;
        else if (!strcmp(k, "--data")) a->data = v;
        else if (!strcmp(k, "--json")) a->json = v;
        else if (!strcmp(k, "--format")) {
            if (data_format_parse(v, &a->format)) {
                fprintf(stderr, "adapt eval: %s\n", adapt_error());
                return 2;
            }
        }
        else if ((handled = parse_infer_option(cmd, k, v, &a->io, &a->max_examples)) < 0) return 2;
        else if (!handled) {
            fprintf(stderr, "adapt %s: unknown option %s\n", cmd, k);
            return 2;
        }
    }
    if (!a->io.model_dir || !a->data) {
        usage(stderr);
        return 2;
    }
    return 0;
}

typedef enum eval_kind { EVAL_TAGGING, EVAL_CLASSIFICATION, EVAL_REGRESSION } eval_kind;

static adapt_status write_json(const char *path, const char *task, const char *data, const eval_result *r, eval_kind kind)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    cJSON_AddStringToObject(o, "task", task);
    cJSON_AddStringToObject(o, "data", data);
    cJSON_AddNumberToObject(o, "examples", (double)r->n_examples);
    cJSON_AddStringToObject(o, "metric", r->metric_name);
    cJSON_AddNumberToObject(o, "value", r->metric);
    static const char *const keys[3][4] = {{"precision", "recall", "f1", "token_accuracy"}, {"accuracy", "mcc", "f1", "macro_f1"},
                                           {"pearson", "spearman", "mse", NULL}};
    double vals[3][4] = {{r->entity.precision, r->entity.recall, r->entity.f1, r->token_accuracy}, {r->accuracy, r->mcc, r->f1, r->macro_f1},
                         {r->pearson, r->spearman, r->mse, 0}};
    for (int i = 0; i < 4 && keys[kind][i]; i++) cJSON_AddNumberToObject(o, keys[kind][i], vals[kind][i]);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    adapt_status s = text ? file_write_atomic(path, text, strlen(text)) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(text);
    return s;
}

/* The task: --task, else ner for a tagging head, else the data's GLUE folder name, else the generic
 * "tsv" where the layout does not matter (JSON Lines) or a regression head reads it. */
static adapt_status pick_task(const eval_args *a, eval_kind kind, const char **task, const glue_task **g)
{
    *g = NULL;
    *task = a->task ? a->task : kind == EVAL_TAGGING ? "ner" : NULL;
    if (*task && !strcmp(*task, "ner")) return ADAPT_OK;
    if (*task) {
        if (!(*g = glue_task_find(*task))) return adapt_fail(ADAPT_ERR_ARG, "unknown task \"%s\" (ner, sst2, cola, mrpc, rte, stsb, tsv, ...)", *task);
        return ADAPT_OK;
    }
    if (!(*g = glue_task_from_path(a->data)) && (kind == EVAL_REGRESSION || data_format_resolve(a->data, a->format, false) == DATA_FORMAT_JSONL))
        *g = glue_task_find("tsv");
    if (!*g) return adapt_fail(ADAPT_ERR_ARG, "%s: give --task (the folder name is not a GLUE task)", a->data);
    *task = (*g)->name;
    return ADAPT_OK;
}

static adapt_status run_eval(const eval_args *a)
{
    tagger t;
    TRY(infer_open(&a->io, &t));
    eval_kind kind = t.h.kind == HEAD_TAGGING || t.h.kind == HEAD_TOKEN_CLASSIFIER ? EVAL_TAGGING
                     : head_is_regression(&t.h)                                   ? EVAL_REGRESSION
                                                                                  : EVAL_CLASSIFICATION;
    const char *task;
    const glue_task *g;
    adapt_status s = pick_task(a, kind, &task, &g);
    eval_result r;
    size_t maxn = a->max_examples > 0 ? (size_t)a->max_examples : 0;
    if (!s && !g) s = eval_tagging_file(&t, a->data, a->format, a->strict ? NER_MODE_STRICT : NER_MODE_DEFAULT, maxn, &r);
    else if (!s && kind == EVAL_REGRESSION) s = eval_regression_file(&t, g, a->data, a->format, maxn, &r);
    else if (!s) s = eval_classification_file(&t, g, a->data, a->format, maxn, &r);
    if (!s && r.n_examples == 0) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: no examples to evaluate", a->data); /* not "F1 0.00" */
    if (!s) {
        printf("%s on %s (%zu examples): %s %.2f\n", task, a->data, r.n_examples, r.metric_name, r.metric);
        if (!g) printf("  precision %.4f  recall %.4f  f1 %.4f  token accuracy %.4f\n", r.entity.precision, r.entity.recall, r.entity.f1, r.token_accuracy);
        else if (kind == EVAL_REGRESSION) printf("  pearson %.4f  spearman %.4f  mse %.4f\n", r.pearson, r.spearman, r.mse);
        else printf("  accuracy %.4f  mcc %.4f  f1 %.4f  macro_f1 %.4f\n", r.accuracy, r.mcc, r.f1, r.macro_f1);
    }
    if (!s && a->json) s = write_json(a->json, task, a->data, &r, g ? kind : EVAL_TAGGING);
    tagger_close(&t);
    return s;
}

int cmd_eval(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
    eval_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    return run_eval(&a) ? cli_report_error("eval") : 0;
}
