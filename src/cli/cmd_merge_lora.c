/* adapt adapters merge-lora — a LoRA merged into the model's weights and the result saved as a
 * Hugging Face model folder (PEFT's merge_and_unload followed by save_pretrained): the model runs
 * as the LoRA did, without it. */
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "model/model.h"
#include "tokenize/files.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adapt adapters merge-lora --model DIR --lora DIR --output OUT_DIR [--shard-mb N]\n"
                "Merges the LoRA (a DoRA as c (W + s B A)) into the model's linear weights and saves the model in\n"
                "Hugging Face layout (config.json, model.safetensors or shards of at most N MB), with the model's\n"
                "tokenizer files. Tensors the LoRA replaces (modules_to_save, e.g. its classifier) are saved with\n"
                "its values. Adapters and AdapterHub heads are not part of the model folder.\n");
}

static adapt_status merge_run(const char *model_dir, const char *lora_dir, const char *out, long shard_mb)
{
    adapt_model *m = NULL;
    TRY(adapt_model_load(model_dir, &m));
    adapt_status s = adapt_model_load_lora(m, lora_dir);
    if (!s) s = adapt_model_merge_lora(m);
    if (!s) s = model_save(m, out, (size_t)shard_mb << 20);
    if (!s) {
        char *tok = NULL;
        bool is_dir;
        if (!tokenizer_find_file(model_dir, &tok, &is_dir)) s = tokenizer_copy_files(model_dir, out);
        else adapt_clear_error(); /* a model folder without a tokenizer: nothing to copy */
        free(tok);
    }
    if (!s) printf("merged %s into the weights of %s: %s\n", lora_dir, model_dir, out);
    adapt_model_free(m);
    return s;
}

int cmd_merge_lora(int argc, char **argv)
{
    const char *cmd = "adapters merge-lora", *model = NULL, *lora = NULL, *out = NULL;
    long shard_mb = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "adapt %s: %s needs a value\n", cmd, a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--lora")) lora = v;
        else if (!strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--shard-mb")) { if (!arg_long(cmd, a, v, 1, 1 << 20, &shard_mb)) return 2; }
        else {
            fprintf(stderr, "adapt %s: unknown option %s\n", cmd, a);
            usage(stderr);
            return 2;
        }
    }
    if (!model || !lora || !out) {
        usage(stderr);
        return 2;
    }
    return merge_run(model, lora, out, shard_mb) ? cli_report_error(cmd) : 0;
}
