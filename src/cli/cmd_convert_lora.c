/* adapt adapters convert (convert-lora) — a LoRA folder rewritten in the other layout: PEFT's
 * (adapter_model.safetensors, peft_type LORA) or AdapterHub's (adapter.safetensors, architecture
 * "lora"), with the folder's AdapterHub head carried along. Prefix tunings are refused: the two
 * libraries' prefixes place the sequence differently (formats/peft_prefix.h). */
#include "adapters/lora.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "formats/adapterhub.h"
#include "formats/adapterhub_lora.h"
#include "formats/head_labels.h"
#include "formats/peft.h"
#include "formats/peft_prefix.h"
#include "adapters/adapter_spec.h"
#include "train/infer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adapt adapters convert --model DIR --to adapterhub|peft --output OUT_DIR [--name NAME] LORA_DIR\n"
                "       (convert-lora: the same)\n"
                "Prefix tuning folders are refused: PEFT's prefix moves the positions by its length, AdapterHub's does\n"
                "not, so the values would give other outputs in the other library (load either with --load-adapter).\n"
                "Rewrites a LoRA folder (PEFT's or AdapterHub's) in the other library's layout: the same LoRA factors,\n"
                "so the encoder gives the same outputs with either folder. --to adapterhub writes adapter_config.json\n"
                "(LoRAConfig: r, alpha = s r, attn_matrices, intermediate_lora, output_lora, leave_out) +\n"
                "adapter.safetensors for `adapters`' load_adapter(..., use_safetensors=True), under NAME (default: an\n"
                "AdapterHub folder's own name, else \"lora\"); LoRAs it cannot express are refused (DoRA, per-module\n"
                "ranks, attention.output.dense); a PEFT classifier in modules_to_save is not carried (an AdapterHub head\n"
                "is: keep head_config.json beside the LoRA). --to peft writes\n"
                "adapter_config.json + adapter_model.safetensors for PEFT. An AdapterHub head in LORA_DIR\n"
                "(head_config.json) is written beside it under NAME, and into a PEFT folder also as Hugging Face's head\n"
                "(modules_to_save).\n");
}

/* An AdapterHub folder's saved name, for --name's default. */
static void saved_name(const char *dir, char *out, size_t size)
{
    snprintf(out, size, "lora");
    char *path = path_join(dir, "adapter_config.json");
    cJSON *root = NULL;
    if (path && !json_load_file(path, &root) && adapterhub_is_lora(root)) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "name");
        if (cJSON_IsString(n) && !lora_check_name(n->valuestring)) snprintf(out, size, "%s", n->valuestring);
    }
    adapt_clear_error();
    cJSON_Delete(root);
    free(path);
}

/* Whether dir holds a prefix tuning (PEFT's, AdapterHub's, or in an AdapterHub union). */
static bool prefix_folder(const char *dir)
{
    char *path = path_join(dir, "adapter_config.json");
    cJSON *root = NULL;
    adapter_spec spec;
    bool prefix = path && !json_load_file(path, &root) &&
                  (peft_prefix_config(root) ||
                   (!cJSON_GetObjectItemCaseSensitive(root, "peft_type") && !adapterhub_is_lora(root) &&
                    !adapter_spec_from_json(cJSON_GetObjectItemCaseSensitive(root, "config"), path, true, &spec) && spec.has_prefix));
    adapt_clear_error();
    cJSON_Delete(root);
    free(path);
    return prefix;
}

static adapt_status convert_run(const char *model_dir, const char *lora_dir, bool to_hub, const char *out, const char *name)
{
    if (prefix_folder(lora_dir))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: a prefix tuning: PEFT's moves the positions by its length and AdapterHub's "
                                                 "does not, so the same values give other outputs in the other library (load it "
                                                 "with --load-adapter instead)", lora_dir);
    char default_name[LORA_NAME_MAX];
    if (!name) {
        saved_name(lora_dir, default_name, sizeof default_name);
        name = default_name;
    }
    adapt_model *m = NULL;
    TRY(adapt_model_load(model_dir, &m));
    adapt_status s = adapt_model_load_lora_as(m, lora_dir, name);
    char *head_cfg = path_join(lora_dir, "head_config.json");
    bool with_head = head_cfg && path_exists(head_cfg);
    head h;
    char **labels = NULL;
    int n_labels = 0;
    if (!s && with_head) s = infer_read_head(m, lora_dir, name, &h, &labels, &n_labels);
    if (!s && to_hub && !with_head && m->lora->n_modules)
        fprintf(stderr, "adapt adapters convert-lora: note: %s's modules_to_save (%s%s) are not part of an AdapterHub LoRA and are "
                "not written\n", lora_dir, m->lora->modules[0].name, m->lora->n_modules > 1 ? ", ..." : "");
    if (!s && to_hub) s = adapterhub_save_lora(m, out);
    if (!s && !to_hub) s = peft_save_with_model_head(m, out, with_head ? &h : NULL);
    if (!s && with_head) s = adapterhub_save_head(m, out, &h, (const char *const *)labels);
    if (!s) printf("%s: LoRA \"%s\" in %s layout%s\n", out, name, to_hub ? "AdapterHub" : "PEFT", with_head ? ", with its head" : "");
    head_labels_free(labels, labels ? n_labels : 0);
    free(head_cfg);
    adapt_model_free(m);
    return s;
}

int cmd_convert_lora(int argc, char **argv)
{
    const char *cmd = "adapters convert", *model = NULL, *to = NULL, *out = NULL, *name = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (a[0] != '-' || !a[1]) {
            if (dir) {
                usage(stderr);
                return 2;
            }
            dir = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "adapt %s: %s needs a value\n", cmd, a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--to")) to = v;
        else if (!strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--name")) name = v;
        else {
            fprintf(stderr, "adapt %s: unknown option %s\n", cmd, a);
            usage(stderr);
            return 2;
        }
    }
    if (!model || !to || !out || !dir) {
        usage(stderr);
        return 2;
    }
    if (strcmp(to, "adapterhub") && strcmp(to, "peft")) {
        fprintf(stderr, "adapt %s: --to must be adapterhub or peft, not \"%s\"\n", cmd, to);
        return 2;
    }
    return convert_run(model, dir, !strcmp(to, "adapterhub"), out, name) ? cli_report_error(cmd) : 0;
}
