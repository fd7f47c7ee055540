/* adapt adapters — list AdapterHub adapter and PEFT LoRA folders, average and rename adapters
 * (combine-loras: cmd_combine_loras.c).
 * Deleting needs no command: an adapter is a folder of its own (setup_delete_adapter removes one
 * from a loaded model). */
#include "adapters/lora.h"
#include "adapters/ops.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "formats/adapterhub.h"
#include "formats/peft_prefix.h"
#include "formats/adapterhub_lora.h"
#include "formats/head_labels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: adapt adapters list [--model] MODEL_DIR ADAPTER_DIR...\n"
                "       adapt adapters average --model DIR --output OUT_DIR --name NAME [--no-head] DIR[=WEIGHT]...\n"
                "       adapt adapters rename --model DIR SRC_DIR NEW_NAME OUT_DIR\n"
                "       adapt adapters combine-loras --model DIR --output OUT_DIR [options] LORA_DIR[=WEIGHT]...\n"
                "       adapt adapters merge-lora --model DIR --lora DIR --output MODEL_DIR [--shard-mb N]\n"
                "       adapt adapters convert --model DIR --to adapterhub|peft --output OUT_DIR [--name NAME] LORA_DIR\n"
                "list: name, config, locations, parameters (and %% of the base model), invertible adapter, head; for a\n"
                "  LoRA folder (PEFT's or AdapterHub's) its r, alpha, scaling, targets, parameters, modules_to_save, head.\n"
                "average: linear average of adapters with the same config, weights normalised to sum 1 (default\n"
                "  equal); heads are averaged too when every folder has one with the same labels (--no-head: not).\n"
                "rename: the adapter (and its head) saved under a new name.\n"
                "combine-loras: PEFT LoRA folders combined into one (PEFT's add_weighted_adapter); `adapt adapters\n"
                "  combine-loras --help` lists its options.\n"
                "merge-lora: the model with a LoRA merged into its weights, saved as a Hugging Face model folder\n"
                "  (PEFT's merge_and_unload + save_pretrained).\n"
                "convert (or convert-lora): a LoRA folder rewritten in the other layout (PEFT's or AdapterHub's);\n"
                "  `adapt adapters convert --help`.\n");
}

static bool has_head(const char *dir)
{
    char *p = path_join(dir, "head_config.json");
    bool yes = p && path_exists(p);
    free(p);
    return yes;
}

/* Removes a loaded head's tensors, so the next folder may load one under the same name. */
static void drop_head(adapt_model *m, const head *h)
{
    const param *ps[4] = {h->w1, h->b1, h->w2, h->b2};
    char names[4][160];
    int k = 0;
    for (int i = 0; i < 4; i++)
        if (ps[i]) snprintf(names[k++], sizeof names[0], "%s", ps[i]->name);
    for (int i = 0; i < k; i++) store_remove(&m->store, names[i]);
}

/* A fusion folder: its adapters and config flags, read from adapter_fusion_config.json alone
 * (its tensors need the adapters loaded). */
static adapt_status list_fusion(const char *dir, const char *cfg_path)
{
    cJSON *root = NULL;
    TRY(json_load_file(cfg_path, &root));
    const char *name = NULL;
    adapt_status s = json_get_str(root, "name", cfg_path, &name);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "config");
    fusion_config fc;
    if (!s) s = cJSON_IsObject(c) ? fusion_config_from_json(c, cfg_path, &fc) : adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"config\"", cfg_path);
    if (!s) {
        printf("Fuse(%s)  (%s)\n  fusion:      key %s, query %s, value %s, temperature %s, regularization %s\n", name, dir,
               fc.key ? "on" : "off", fc.query ? "on" : "off", fc.value ? "on" : "off", fc.temperature ? "on" : "off",
               fc.regularization ? "on" : "off");
        printf("  head:        %s\n", has_head(dir) ? "yes" : "none");
    }
    cJSON_Delete(root);
    return s;
}

/* The folder's head (AdapterHub files beside the adapter or LoRA), or "none". */
static adapt_status list_head(adapt_model *m, const char *dir)
{
    if (!has_head(dir)) {
        printf("  head:        none\n");
        return ADAPT_OK;
    }
    head h;
    char **labels = NULL, type[64];
    int nl = 0;
    adapt_status s = adapterhub_load_head(m, dir, NULL, &h);
    if (!s) s = head_labels_read(dir, &labels, &nl, type, sizeof type);
    if (!s) {
        size_t hp = 0;
        const param *ps[4] = {h.w1, h.b1, h.w2, h.b2};
        for (int i = 0; i < 4; i++) hp += ps[i] ? ps[i]->numel : 0;
        printf("  head:        %s \"%s\", %zu parameters, %d labels:", type, h.name, hp, nl);
        for (int i = 0; i < nl && i < 32; i++) printf(" %s", labels[i]);
        printf("%s\n", nl > 32 ? " ..." : "");
        drop_head(m, &h);
    }
    head_labels_free(labels, nl);
    return s;
}

/* A LoRA folder (PEFT's or AdapterHub's): its config, the layers it adapts, its parameters, modules_to_save, head. */
static adapt_status list_lora(adapt_model *m, const char *dir, size_t base)
{
    TRY(adapt_model_load_lora_as(m, dir, "listed"));
    const lora_state *st = lora_find(m, "listed");
    const lora_config *c = &st->cfg;
    printf("LoRA  (%s, %s layout)\n", dir, c->from_adapterhub ? "AdapterHub" : "PEFT");
    int inputs = 0;
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) inputs += st->has[l][k] && st->pairs[l][k].scales_input;
    if (c->ia3 && inputs) printf("  config:      (IA)^3: outputs (%d modules' inputs: feedforward_modules) times alpha %g x a learnt vector\n", inputs, c->alpha);
    else if (c->ia3) printf("  config:      (IA)^3: each output times alpha %g x a learnt vector\n", c->alpha);
    else printf("  config:      r %d, lora_alpha %g (scaling %g%s), dropout %g%s\n", c->r, c->alpha, (double)st->scaling,
           c->use_rslora ? ", rsLoRA" : "", c->dropout, c->use_dora ? ", DoRA (magnitudes per output row)" : "");
    size_t n = 0;
    int modules = 0;
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!st->has[l][k]) continue;
            const lora_pair *p = &st->pairs[l][k];
            n += (p->A ? p->A->numel : 0) + p->B->numel + (p->magnitude ? p->magnitude->numel : 0);
            modules++;
        }
    int tables = 0;
    for (int e = 0; e < EMB_COUNT; e++)
        if (st->has_emb[e]) n += st->emb[e].A->numel + st->emb[e].B->numel, tables++;
    printf("  targets:     ");
    if (c->target_regex[0]) printf("\"%s\"", c->target_regex);
    for (int i = 0; i < c->n_targets; i++) printf("%s%s", i ? ", " : "", c->targets[i]);
    if (c->layers_set) printf(" in layers");
    for (int i = 0; c->layers_set && i < c->n_layers; i++) printf(" %d", c->layers[i]);
    printf(": %d linear layers of %d", modules, m->cfg.layers * LIN_COUNT);
    for (int e = 0, shown = 0; e < EMB_COUNT; e++)
        if (st->has_emb[e]) printf("%s%s", shown++ ? ", " : (tables == 1 ? " and the table " : " and the tables "), lora_embedding_names[e] + 11);
    printf("\n");
    if (c->n_exclude || c->exclude_regex[0]) printf("  excluded:    ");
    if (c->exclude_regex[0]) printf("\"%s\"\n", c->exclude_regex);
    for (int i = 0; i < c->n_exclude; i++) printf("%s%s", i ? ", " : "", c->exclude[i]);
    if (c->n_exclude) printf("\n");
    for (int i = 0; i < c->n_rank_pattern; i++) printf("  rank_pattern:  %s: r %g\n", c->rank_pattern[i].key, c->rank_pattern[i].value);
    for (int i = 0; i < c->n_alpha_pattern; i++) printf("  alpha_pattern: %s: lora_alpha %g\n", c->alpha_pattern[i].key, c->alpha_pattern[i].value);
    printf("  parameters:  %zu (%.3f%% of the base model's %zu)\n", n, base ? 100.0 * (double)n / (double)base : 0.0, base);
    printf("  modules_to_save:");
    for (int i = 0; i < c->n_modules_to_save; i++) printf(" %s", c->modules_to_save[i]);
    printf("%s\n", c->n_modules_to_save ? "" : " none");
    adapt_status s = list_head(m, dir);
    adapt_status d = adapt_model_delete_lora(m, "listed");
    return s ? s : d;
}

/* Whether dir's adapter_config.json is a LoRA's: PEFT's (it names a peft_type other than prefix tuning) or AdapterHub's. */
static bool is_lora_folder(const char *dir)
{
    char *path = path_join(dir, "adapter_config.json");
    cJSON *root = NULL;
    bool peft = path && path_exists(path) && !json_load_file(path, &root) && !peft_prefix_config(root) &&
                (cJSON_GetObjectItemCaseSensitive(root, "peft_type") || adapterhub_is_lora(root));
    cJSON_Delete(root);
    free(path);
    return peft;
}

static adapt_status list_one(adapt_model *m, const char *dir, size_t base)
{
    if (is_lora_folder(dir)) return list_lora(m, dir, base);
    char name[ADAPTER_NAME_MAX], text[1024];
    char *fusion_cfg = path_join(dir, "adapter_fusion_config.json"), *adapter_cfg = path_join(dir, "adapter_config.json");
    bool fusion_only = fusion_cfg && adapter_cfg && path_exists(fusion_cfg) && !path_exists(adapter_cfg);
    adapt_status fs = fusion_only ? list_fusion(dir, fusion_cfg) : ADAPT_OK;
    free(fusion_cfg);
    free(adapter_cfg);
    if (fusion_only) return fs;
    TRY(adapterhub_load_adapter(m, dir, NULL, name, sizeof name));
    const adapter_def *a = setup_find_adapter(m->setup, name);
    size_t n = adapter_param_count(m, name);
    printf("%s  (%s)\n", name, dir);
    text[0] = 0;
    if (a->has_bn) adapter_config_summary(&a->cfg, m->cfg.hidden, text, sizeof text);
    if (a->has_prefix) { /* a union ("mam"): both parts */
        size_t used = strlen(text);
        if (used) snprintf(text + used, sizeof text - used, " + ");
        used = strlen(text);
        prefix_config_summary(&a->prefix, text + used, sizeof text - used);
    }
    printf("  config:      %s\n", text);
    adapter_locations_summary(m, a, text, sizeof text);
    printf("  locations:   %s\n", text);
    printf("  parameters:  %zu (%.3f%% of the base model's %zu)\n", n, base ? 100.0 * (double)n / (double)base : 0.0, base);
    printf("  invertible:  %s\n", a->has_inv ? "yes (NICE)" : "no");
    printf("  layer norms: %s\n", a->has_ln_copies ? "its own copies (--train-layer-norms)" : "the model's");
    adapt_status s = list_head(m, dir);
    setup_delete_adapter(m, name);
    return s;
}

static int cmd_list(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--model")) { /* as average and rename take it */
        argv[1] = argv[0];
        argc--, argv++;
    }
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    adapt_model *m = NULL;
    if (adapt_model_load(argv[1], &m)) return cli_report_error("adapters list");
    size_t base = model_base_param_count(m);
    adapt_status s = ADAPT_OK;
    for (int i = 2; !s && i < argc; i++) {
        if (i > 2) printf("\n");
        s = list_one(m, argv[i], base);
    }
    adapt_model_free(m);
    return s ? cli_report_error("adapters list") : 0;
}

/* The name a source loads under: its saved name, or "<name>_<i>" when an earlier source took it
 * (several seeds of one task adapter share a name), so errors name the adapters people know. */
static adapt_status source_name(const adapt_model *m, const char *dir, int i, char *out, size_t size)
{
    char *path = path_join(dir, "adapter_config.json");
    cJSON *root = NULL;
    const char *saved = NULL;
    adapt_status s = path ? json_load_file(path, &root) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) s = json_get_str(root, "name", path, &saved);
    if (!s && strlen(saved) + 8 >= size) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: adapter name too long", path);
    if (!s) {
        snprintf(out, size, "%s", saved);
        char suffix[8];
        snprintf(suffix, sizeof suffix, "_%d", (i + 1) % 1000);
        if (setup_find_adapter(m->setup, out)) snprintf(out, size, "%.*s%s", (int)(size - sizeof suffix), saved, suffix);
    }
    cJSON_Delete(root);
    free(path);
    return s;
}

/* Loads every source adapter (and head) under a private name, averages, saves. */
static adapt_status average_run(const char *model_dir, const char *out, const char *name, bool with_head, char **dirs,
                                const double *w, int n)
{
    adapt_model *m = NULL;
    TRY(adapt_model_load(model_dir, &m));
    char names[FUSION_MAX_ADAPTERS][ADAPTER_NAME_MAX];
    const char *np[FUSION_MAX_ADAPTERS];
    head heads[FUSION_MAX_ADAPTERS];
    const head *hp[FUSION_MAX_ADAPTERS];
    char **labels = NULL;
    int n_labels = 0;
    adapt_status s = ADAPT_OK;
    for (int i = 0; !s && i < n; i++) {
        s = source_name(m, dirs[i], i, names[i], sizeof names[i]);
        np[i] = names[i];
        hp[i] = &heads[i];
        s = adapterhub_load_adapter(m, dirs[i], names[i], NULL, 0);
        if (!s && with_head && !has_head(dirs[i])) with_head = false;
    }
    for (int i = 0; !s && with_head && i < n; i++) { /* heads only when all agree on their labels */
        char **l = NULL;
        int nl = 0;
        s = adapterhub_load_head(m, dirs[i], names[i], &heads[i]);
        if (!s) s = head_labels_read(dirs[i], &l, &nl, NULL, 0);
        bool same = !s && (i == 0 || nl == n_labels);
        for (int k = 0; same && i > 0 && k < nl; k++) same = !strcmp(l[k], labels[k]);
        if (!s && !same) s = adapt_fail(ADAPT_ERR_ARG, "%s: the head's labels differ from %s's (use --no-head)", dirs[i], dirs[0]);
        if (i == 0 && !s) labels = l, n_labels = nl;
        else head_labels_free(l, nl);
    }
    if (!s) s = adapters_average(m, name, np, w, n);
    if (!s) s = adapterhub_save_adapter(m, out, name);
    head avg;
    if (!s && with_head) s = heads_average(m, &avg, name, hp, w, n);
    if (!s && with_head) s = adapterhub_save_head(m, out, &avg, (const char *const *)labels);
    if (!s) printf("averaged %d adapters%s into \"%s\" in %s\n", n, with_head ? " and heads" : "", name, out);
    head_labels_free(labels, n_labels);
    adapt_model_free(m);
    return s;
}

static int cmd_average(int argc, char **argv)
{
    const char *model = NULL, *out = NULL, *name = NULL;
    bool with_head = true;
    char *dirs[FUSION_MAX_ADAPTERS];
    double w[FUSION_MAX_ADAPTERS];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-head")) with_head = false;
        else if ((!strcmp(a, "--model") || !strcmp(a, "--output") || !strcmp(a, "--name")) && i + 1 < argc) {
            const char **dst = a[2] == 'm' ? &model : a[2] == 'o' ? &out : &name;
            *dst = argv[++i];
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "adapt adapters average: unknown option %s (or it needs a value)\n", a);
            return 2;
        } else if (n == FUSION_MAX_ADAPTERS) {
            fprintf(stderr, "adapt adapters average: at most %d adapters\n", FUSION_MAX_ADAPTERS);
            return 2;
        } else {
            dirs[n] = argv[i];
            if (!arg_split_weight(dirs[n], &w[n])) {
                fprintf(stderr, "adapt adapters average: \"%s\": the weight after '=' must be a finite number\n", a);
                return 2;
            }
            n++;
        }
    }
    if (!model || !out || !name || n < 1) {
        usage(stderr);
        return 2;
    }
    return average_run(model, out, name, with_head, dirs, w, n) ? cli_report_error("adapters average") : 0;
}

static adapt_status rename_run(const char *model_dir, const char *src, const char *new_name, const char *out)
{
    adapt_model *m = NULL;
    TRY(adapt_model_load(model_dir, &m));
    adapt_status s = adapterhub_load_adapter(m, src, new_name, NULL, 0);
    if (!s) s = adapterhub_save_adapter(m, out, new_name);
    if (!s && has_head(src)) {
        head h;
        char **labels = NULL;
        int nl = 0;
        s = adapterhub_load_head(m, src, new_name, &h);
        if (!s) s = head_labels_read(src, &labels, &nl, NULL, 0);
        if (!s) s = adapterhub_save_head(m, out, &h, (const char *const *)labels);
        head_labels_free(labels, nl);
    }
    if (!s) printf("saved %s as \"%s\" in %s\n", src, new_name, out);
    adapt_model_free(m);
    return s;
}

static int cmd_rename(int argc, char **argv)
{
    const char *model = NULL, *pos[3];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "adapt adapters rename: unknown option %s\n", argv[i]);
            return 2;
        } else if (n < 3) pos[n++] = argv[i];
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!model || n != 3) {
        usage(stderr);
        return 2;
    }
    return rename_run(model, pos[0], pos[1], pos[2]) ? cli_report_error("adapters rename") : 0;
}

int cmd_adapters(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "list")) return cmd_list(argc - 1, argv + 1);
    if (!strcmp(argv[1], "average")) return cmd_average(argc - 1, argv + 1);
    if (!strcmp(argv[1], "rename")) return cmd_rename(argc - 1, argv + 1);
    if (!strcmp(argv[1], "combine-loras")) return cmd_combine_loras(argc - 1, argv + 1);
    if (!strcmp(argv[1], "merge-lora")) return cmd_merge_lora(argc - 1, argv + 1);
    if (!strcmp(argv[1], "convert-lora") || !strcmp(argv[1], "convert")) return cmd_convert_lora(argc - 1, argv + 1);
    fprintf(stderr, "adapt adapters: unknown sub-command \"%s\" (list, average, rename, combine-loras, merge-lora, convert)\n", argv[1]);
    return 2;
}
