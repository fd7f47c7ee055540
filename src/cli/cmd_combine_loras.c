/* adapt adapters combine-loras — PEFT LoRA folders combined into one LoRA (PEFT's
 * add_weighted_adapter, adapt_model_combine_loras) and saved as a PEFT folder. */
#include "adapters/lora.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

#define MAX_SOURCES (ADAPT_MODEL_MAX_LORAS - 1) /* the model also holds the combined one */

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adapt adapters combine-loras --model DIR --output OUT_DIR [options] LORA_DIR[=WEIGHT]...\n"
                "  --type T            svd (default, as PEFT), linear, cat, ties, ties_svd, magnitude_prune,\n"
                "                      magnitude_prune_svd, dare_linear, dare_ties, dare_linear_svd, dare_ties_svd\n"
                "  --svd-rank N        svd types: the new rank (default: the largest input rank)\n"
                "  --svd-clamp Q       svd types: clamp the factors at this quantile of their entries (0 < Q <= 1)\n"
                "  --density D         ties, magnitude_prune and dare types: fraction of each input kept (0 < D <= 1)\n"
                "  --majority-sign M   ties types: total (default) or frequency\n"
                "  --seed N            dare types: the random masks (default 0)\n"
                "Weights default to 1. cat: rank = the sum of the ranks, B A = sum w_i s_i B_i A_i exactly;\n"
                "linear and the pruning types merge the A's and the B's on their own (equal ranks, weights >= 0);\n"
                "the svd types merge the deltas s_i B_i A_i with weights w_i s_i and keep the truncated SVD. The\n"
                "result has r = lora_alpha = its rank and no modules_to_save or head of its own (predict with --head\n"
                "naming a source's folder). (IA)^3 folders (PEFT's IA3, AdapterHub's IA3Config) combine as PEFT's\n"
                "IA3 does: each module's vector the weighted sum of the sources' (no --type, or linear).\n");
}

static adapt_status combine_run(const char *model_dir, const char *out, char **dirs, const double *w, int n,
                                const adapt_lora_combination *how)
{
    adapt_model *m = NULL;
    TRY(adapt_model_load(model_dir, &m));
    char names[MAX_SOURCES][24];
    const char *np[MAX_SOURCES];
    adapt_status s = ADAPT_OK;
    for (int i = 0; !s && i < n; i++) {
        snprintf(names[i], sizeof names[i], "source-%d", i + 1);
        np[i] = names[i];
        s = adapt_model_load_lora_as(m, dirs[i], names[i]);
    }
    if (!s) s = adapt_model_combine_loras(m, np, w, n, "combined", how);
    if (!s) s = adapt_model_save_lora(m, "combined", out);
    if (!s && lora_find(m, "combined")->cfg.ia3)
        printf("combined %d (IA)^3s (the weighted sum of their vectors) into %s\n", n, out);
    else if (!s)
        printf("combined %d LoRAs (%s) into %s: rank %d\n", n, n == 1 ? "linear, as for one LoRA" : how->type ? how->type : "svd",
               out, lora_find(m, "combined")->cfg.r);
    adapt_model_free(m);
    return s;
}

int cmd_combine_loras(int argc, char **argv)
{
    const char *cmd = "adapters combine-loras", *model = NULL, *out = NULL;
    adapt_lora_combination how = {0};
    char *dirs[MAX_SOURCES];
    double w[MAX_SOURCES];
    int n = 0;
    long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (a[0] == '-' && a[1] == '-') {
            if (!value) {
                fprintf(stderr, "adapt %s: %s needs a value\n", cmd, a);
                return 2;
            }
            i++;
            if (!strcmp(a, "--model")) model = value;
            else if (!strcmp(a, "--output")) out = value;
            else if (!strcmp(a, "--type")) how.type = value;
            else if (!strcmp(a, "--majority-sign")) how.majority_sign = value;
            else if (!strcmp(a, "--svd-rank")) { if (!arg_long(cmd, a, value, 1, 4096, &v)) return 2; how.svd_rank = (int)v; }
            else if (!strcmp(a, "--svd-clamp")) { if (!arg_double(cmd, a, value, 1e-9, 1, &how.svd_clamp)) return 2; }
            else if (!strcmp(a, "--density")) { if (!arg_double(cmd, a, value, 1e-9, 1, &how.density)) return 2; }
            else if (!strcmp(a, "--seed")) { if (!arg_long(cmd, a, value, 0, 2147483647L, &v)) return 2; how.seed = (uint64_t)v; }
            else {
                fprintf(stderr, "adapt %s: unknown option %s\n", cmd, a);
                usage(stderr);
                return 2;
            }
            continue;
        }
        if (n == MAX_SOURCES) {
            fprintf(stderr, "adapt %s: at most %d LoRA folders\n", cmd, MAX_SOURCES);
            return 2;
        }
        dirs[n] = argv[i];
        if (!arg_split_weight(dirs[n], &w[n])) {
            fprintf(stderr, "adapt %s: \"%s\": the weight after '=' must be a finite number\n", cmd, a);
            return 2;
        }
        n++;
    }
    if (!model || !out || n < 1) {
        usage(stderr);
        return 2;
    }
    return combine_run(model, out, dirs, w, n, &how) ? cli_report_error(cmd) : 0;
}
