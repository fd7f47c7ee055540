/* adapt adapters convert (convert-lora) — a LoRA or prefix tuning folder rewritten in the other
 * layout: PEFT's (adapter_model.safetensors, peft_type LORA / PREFIX_TUNING) or AdapterHub's
 * (adapter.safetensors, architecture "lora" / "prefix_tuning"), with the folder's AdapterHub head
 * carried along. */
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
#include "adapters/setup.h"
#include "train/infer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adapt adapters convert --model DIR --to adapterhub|peft --output OUT_DIR [--name NAME] DIR\n"
                "       (convert-lora: the same)\n"
                "A prefix tuning folder (PEFT's peft_type PREFIX_TUNING, or AdapterHub's prefix_tuning) becomes the other\n"
                "library's: PEFT's prompt_embeddings are AdapterHub's prefix_tuning_flat values (a MLP's output when it\n"
                "has one); PEFT's covers every layer (leave_out refused) and holds no bottleneck (unions refused).\n"
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

/* Whether dir holds a prefix tuning, PEFT's or AdapterHub's. */
static bool prefix_folder(const char *dir)
{
    char *path = path_join(dir, "adapter_config.json");
    cJSON *root = NULL;
    bool prefix = path && !json_load_file(path, &root) &&
                  (peft_prefix_config(root) || prefix_config_is_prefix_json(cJSON_GetObjectItemCaseSensitive(root, "config")));
    adapt_clear_error();
    cJSON_Delete(root);
    free(path);
    return prefix;
}

static adapt_status convert_run(const char *model_dir, const char *dir, bool to_hub, const char *out, const char *name)
{
    bool prefix = prefix_folder(dir);
    char loaded[ADAPTER_NAME_MAX > LORA_NAME_MAX ? ADAPTER_NAME_MAX : LORA_NAME_MAX];
    if (!name && !prefix) { /* a prefix tuning keeps the name its loader gives it */
        saved_name(dir, loaded, sizeof loaded);
        name = loaded;
    }
    adapt_model *m = NULL;
    TRY(adapt_model_load(model_dir, &m));
    adapt_status s = prefix ? adapt_model_load_adapter(m, dir, name, loaded, sizeof loaded) : adapt_model_load_lora_as(m, dir, name);
    name = prefix ? loaded : name;
    char *head_cfg = path_join(dir, "head_config.json");
    bool with_head = head_cfg && path_exists(head_cfg);
    head h;
    char **labels = NULL;
    int n_labels = 0;
    if (!s && with_head) s = infer_read_head(m, dir, name, &h, &labels, &n_labels);
    if (!s && !prefix && to_hub && !with_head && m->lora->n_modules)
        fprintf(stderr, "adapt adapters convert: note: %s's modules_to_save (%s%s) are not part of an AdapterHub LoRA and are "
                "not written\n", dir, m->lora->modules[0].name, m->lora->n_modules > 1 ? ", ..." : "");
    const head *hp = with_head ? &h : NULL;
    if (!s && prefix) s = to_hub ? adapterhub_save_adapter(m, out, name) : peft_prefix_save(m, name, out, hp);
    else if (!s) s = to_hub ? adapterhub_save_lora(m, out) : peft_save_with_model_head(m, out, hp);
    if (!s && with_head) s = adapterhub_save_head(m, out, &h, (const char *const *)labels);
    if (!s) printf("%s: %s \"%s\" in %s layout%s\n", out, prefix ? "prefix tuning" : "LoRA", name, to_hub ? "AdapterHub" : "PEFT",
                   with_head ? ", with its head" : "");
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
