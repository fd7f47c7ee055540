/* adapt predict — run a trained setup (adapters, a composition, LoRA, a head) over unlabelled data:
 * tags for a tagging head, labels for a classification head, values for a regression head. */
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "train/predict.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adapt predict --model DIR --input FILE --output FILE [options]\n"
                "  --load-adapter DIR[=NAME]  AdapterHub adapter folder (repeatable; the last one's head is used)\n"
                "  --head DIR                 head folder (head_config.json + model_head.safetensors)\n"
                "  --setup STR                composition, e.g. \"Stack(qu, ner)\" (default: the last adapter)\n"
                "  --lora DIR[=NAME]          PEFT LoRA folder (its head is read from the same folder); repeatable,\n"
                "                             each named, the first runs by default (see \"lora\" below)\n"
                "  --merge                    merge the (one) LoRA's weights into the base model first\n"
                "  --task sst2|rte|stsb|tsv|...  layout of TSV input for a classification or regression head\n"
                "                             (default: the input's GLUE folder name, else tsv: a header naming the\n"
                "                             text column(s))\n"
                "  --format auto|conll|tsv|jsonl|text  input format (default auto: .jsonl / .jsonl.xz are JSON Lines);\n"
                "                             text: raw sentences, one per line, split into words (tagging heads)\n"
                "  --scores                   tagging heads: also write each tag's probability (a third column, or\n"
                "                             \"scores\" in JSON Lines), e.g. to keep confident tags for self-training\n"
                "  --dtype fp32|bf16          bf16: weight-only bf16, the frozen encoder weights stored as bf16 and\n"
                "                             widened to fp32 for each GEMM (half their memory; arithmetic stays fp32)\n"
                "  --tokenizer PATH  --max-length N (128)  --batch-size N (32)\n"
                "Tagging head: reads column 1 of CoNLL input (blank lines between sentences) or JSON Lines\n"
                "{\"tokens\": [...]}, writes token<TAB>tag lines (CoNLL: a line for each input line, blank and\n"
                "-DOCSTART- lines kept in place). Classification / regression head: reads TSV or\n"
                "JSON Lines {\"text\", \"text_pair\"}, writes \"index<TAB>prediction\" rows (the label, or the value).\n"
                "An --output ending in .jsonl gets JSON Lines records instead, with \"tags\" or \"label\" filled in.\n"
                "A JSON Lines record with \"setup\": \"COMPOSITION\" runs under that composition of the loaded adapters\n"
                "(e.g. \"Stack(en, ner)\" beside \"Stack(qu, ner)\"), the others under --setup; the records are taken in\n"
                "groups of one composition each, the output in input order. A record's \"lora\": \"NAME\" runs under that\n"
                "--lora (\"__base__\": none), the others under the first; without --head or adapters each LoRA uses its\n"
                "folder's head (their labels must agree).\n");
}

int cmd_predict(int argc, char **argv)
{
    tagger_options o = {0};
    predict_options po = {0};
    const char *cmd = "predict";
    long n;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--merge")) {
            o.merge_lora = true;
            continue;
        }
        if (!strcmp(a, "--scores")) {
            po.scores = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "adapt predict: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--model")) o.model_dir = v;
        else if (!strcmp(a, "--tokenizer")) o.tokenizer = v;
        else if (!strcmp(a, "--head")) o.head_dir = v;
        else if (!strcmp(a, "--lora")) {
            if (o.n_loras == TAGGER_MAX_LORAS) {
                fprintf(stderr, "adapt predict: at most %d --lora options\n", TAGGER_MAX_LORAS);
                return 2;
            }
            o.loras[o.n_loras++] = v;
        }
        else if (!strcmp(a, "--setup")) o.setup = v;
        else if (!strcmp(a, "--input")) po.input = v;
        else if (!strcmp(a, "--output")) po.output = v;
        else if (!strcmp(a, "--max-length")) { if (!arg_long(cmd, a, v, 8, 65536, &n)) return 2; o.max_len = (int)n; }
        else if (!strcmp(a, "--batch-size")) { if (!arg_long(cmd, a, v, 1, 65536, &n)) return 2; o.batch_size = (int)n; }
        else if (!strcmp(a, "--task")) {
            if (!(po.task = glue_task_find(v))) {
                fprintf(stderr, "adapt predict: unknown task \"%s\" for sentence data (sst2, cola, mrpc, rte, stsb, tsv, ...)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--format")) {
            if (data_format_parse(v, &po.format)) {
                fprintf(stderr, "adapt predict: %s\n", adapt_error());
                return 2;
            }
        } else if (!strcmp(a, "--dtype")) {
            if (!arg_weight_dtype("predict", a, v, &o.weight_dtype)) return 2;
        }
        else if (!strcmp(a, "--load-adapter") && o.n_adapters < TAGGER_MAX_ADAPTERS) o.adapters[o.n_adapters++] = v;
        else {
            fprintf(stderr, "adapt predict: unknown or repeated option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o.model_dir || !po.input || !po.output) {
        usage(stderr);
        return 2;
    }
    if (!po.task) po.task = glue_task_from_path(po.input);
    tagger t;
    if (tagger_open(&o, &t)) return cli_report_error("predict");
    bool text_like = false;
    po.input_looks_like_text = &text_like;
    adapt_status s = predict_file(&t, &po);
    tagger_close(&t);
    if (!s && text_like) cli_warn_text_as_conll("predict", po.input);
    return s ? cli_report_error("predict") : 0;
}
