/* adapt predict — tag CoNLL input with a model, adapters, a composition and a tagging head. */
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "train/tagger.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adapt predict --model DIR --input FILE.conll --output OUT.conll [options]\n"
                "  --load-adapter DIR[=NAME]  AdapterHub adapter folder (repeatable; the last one's head is used)\n"
                "  --head DIR                 head folder (head_config.json + model_head.safetensors)\n"
                "  --setup STR                composition, e.g. \"Stack(qu, ner)\" (default: the last adapter)\n"
                "  --lora DIR                 PEFT LoRA folder (its head is read from the same folder)\n"
                "  --merge                    merge the LoRA weights into the base model first\n"
                "  --dtype fp32|bf16          bf16: weight-only bf16, the frozen encoder weights stored as bf16 and\n"
                "                             widened to fp32 for each GEMM (half their memory; arithmetic stays fp32)\n"
                "  --tokenizer PATH  --max-length N (128)  --batch-size N (32)\n"
                "Reads column 1 of the input (other columns ignored, blank lines between sentences) and writes\n"
                "token<TAB>tag lines.\n");
}

int cmd_predict(int argc, char **argv)
{
    tagger_options o = {0};
    const char *input = NULL, *output = NULL;
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
        if (!v) {
            fprintf(stderr, "adapt predict: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--model")) o.model_dir = v;
        else if (!strcmp(a, "--tokenizer")) o.tokenizer = v;
        else if (!strcmp(a, "--head")) o.head_dir = v;
        else if (!strcmp(a, "--lora")) o.lora_dir = v;
        else if (!strcmp(a, "--setup")) o.setup = v;
        else if (!strcmp(a, "--input")) input = v;
        else if (!strcmp(a, "--output")) output = v;
        else if (!strcmp(a, "--max-length")) o.max_len = atoi(v);
        else if (!strcmp(a, "--batch-size")) o.batch_size = atoi(v);
        else if (!strcmp(a, "--dtype")) {
            if (!arg_weight_dtype("predict", a, v, &o.weight_dtype)) return 2;
        }
        else if (!strcmp(a, "--load-adapter") && o.n_adapters < TAGGER_MAX_ADAPTERS) o.adapters[o.n_adapters++] = v;
        else {
            fprintf(stderr, "adapt predict: unknown or repeated option %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o.model_dir || !input || !output || o.max_len < 0 || o.max_len > 65536 || o.batch_size < 0 || o.batch_size > 65536) {
        usage(stderr);
        return 2;
    }
    tagger t;
    if (tagger_open(&o, &t)) return cli_report_error("predict");
    adapt_status s = tagger_tag_conll(&t, input, output);
    tagger_close(&t);
    return s ? cli_report_error("predict") : 0;
}
