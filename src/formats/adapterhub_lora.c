#include "formats/adapterhub_lora.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "adapters/config_string.h"
#include "formats/adapterhub.h"
#include "formats/param_io.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The linear layers AdapterHub's flags can pick, and the names its attn_matrices use. */
static const char *const attn_letters[3] = {"q", "k", "v"}; /* LIN_QUERY, LIN_KEY, LIN_VALUE */

static const char *config_string(const cJSON *c)
{
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

bool adapterhub_is_lora(const cJSON *root)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "config");
    const char *named = config_string(c);
    if (named) return !strcmp(named, "lora") || !strcmp(named, "ia3");
    const char *arch = cJSON_IsObject(c) ? config_string(cJSON_GetObjectItemCaseSensitive(c, "architecture")) : NULL;
    return arch && !strcmp(arch, "lora");
}

/* AdapterHub's LoRAConfig fields that matter for loading (defaults: LoRAConfig's). */
typedef struct hub_lora {
    bool selfattn, intermediate, output, attn[3];
    int r;
    double alpha, dropout;
    bool scale; /* composition_mode "scale": (IA)^3 */
    int n_leave_out;
    int leave_out[LORA_MAX_LAYER_LIST];
} hub_lora;

static void hub_defaults(hub_lora *h, bool ia3)
{
    memset(h, 0, sizeof *h);
    h->selfattn = true;
    h->intermediate = ia3; /* IA3Config: selfattn + intermediate, k and v, r = alpha = 1 */
    h->attn[ia3 ? 1 : 0] = true;
    h->attn[2] = true;
    h->r = ia3 ? 1 : 8;
    h->alpha = ia3 ? 1 : 8;
    h->scale = ia3;
}

static adapt_status read_attn_matrices(const cJSON *c, const char *what, hub_lora *h)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(c, "attn_matrices");
    if (!list || cJSON_IsNull(list)) return ADAPT_OK;
    if (!cJSON_IsArray(list)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"attn_matrices\" must be a list of \"q\", \"k\", \"v\"", what);
    memset(h->attn, 0, sizeof h->attn);
    for (const cJSON *e = list->child; e; e = e->next) {
        int k = -1;
        for (int i = 0; i < 3 && cJSON_IsString(e); i++)
            if (!strcmp(e->valuestring, attn_letters[i])) k = i;
        if (k < 0) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"attn_matrices\" must be a list of \"q\", \"k\", \"v\"", what);
        h->attn[k] = true;
    }
    return ADAPT_OK;
}

/* Refuses what AdapterHub's LoRAConfig can say but adapt does not run. */
static adapt_status refuse_unsupported(const cJSON *c, const char *what)
{
    bool gating = false;
    TRY(json_get_bool_opt(c, "use_gating", what, &gating));
    if (gating) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: use_gating (UniPELT gates) is not supported", what);
    static const char *const vera[] = {"vera_d", "vera_b"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, vera[i]);
        if (v && !cJSON_IsNull(v)) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: \"%s\" (VeRA) is not supported", what, vera[i]);
    }
    const char *init = "lora";
    TRY(json_get_str_opt(c, "init_weights", what, &init));
    if (strcmp(init, "lora") && strcmp(init, "bert") && strcmp(init, "ia3"))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: init_weights \"%.40s\" is not supported (lora, bert, ia3)", what, init);
    return ADAPT_OK;
}

static adapt_status read_hub_config(const cJSON *root, const char *what, hub_lora *h)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "config");
    const char *named = config_string(c);
    if (named) {
        hub_defaults(h, !strcmp(named, "ia3"));
        return ADAPT_OK;
    }
    const char *mode = "add";
    TRY(json_get_str_opt(c, "composition_mode", what, &mode));
    if (strcmp(mode, "add") && strcmp(mode, "scale"))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: composition_mode \"%.40s\" is neither \"add\" nor \"scale\"", what, mode);
    hub_defaults(h, false); /* LoRAConfig's defaults, also under "scale" (IA3Config writes every field) */
    h->scale = !strcmp(mode, "scale");
    TRY(json_get_bool_opt(c, "selfattn_lora", what, &h->selfattn));
    TRY(json_get_bool_opt(c, "intermediate_lora", what, &h->intermediate));
    TRY(json_get_bool_opt(c, "output_lora", what, &h->output));
    long long r = h->r;
    TRY(json_get_int_opt(c, "r", 1, 4096, what, &r));
    h->r = (int)r;
    TRY(json_get_num_opt(c, "alpha", what, &h->alpha));
    TRY(json_get_num_opt(c, "dropout", what, &h->dropout));
    if (!isfinite(h->alpha)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"alpha\" must be a finite number", what);
    if (!(h->dropout >= 0 && (float)h->dropout < 1.0f)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"dropout\" must be in [0, 1)", what);
    TRY(read_attn_matrices(c, what, h));
    TRY(config_leave_out(c, what, LORA_MAX_LAYER_LIST, h->leave_out, &h->n_leave_out));
    return refuse_unsupported(c, what);
}

static bool left_out(const hub_lora *h, int layer) { return config_leaves_out(h->leave_out, h->n_leave_out, layer); }

/* The full-match expression naming the modules the flags pick:
 * ".*\.layer\.(0|2)\.(attention\.self\.(query|value)|intermediate\.dense)". */
static adapt_status targets_regex(const hub_lora *h, int layers, const char *what, char *out, size_t size)
{
    char layer_alt[sizeof ((lora_config *)0)->target_regex] = "", modules[160] = "";
    int kept = 0;
    for (int l = 0; l < layers; l++) {
        if (left_out(h, l)) continue;
        size_t used = strlen(layer_alt);
        snprintf(layer_alt + used, sizeof layer_alt - used, "%s%d", kept ? "|" : "", l);
        kept++;
    }
    static const char *const self_names[3] = {"query", "key", "value"};
    int n_self = 0;
    char self[64] = "";
    for (int k = 0; h->selfattn && k < 3; k++) {
        if (!h->attn[k]) continue;
        size_t used = strlen(self);
        snprintf(self + used, sizeof self - used, "%s%s", n_self++ ? "|" : "", self_names[k]);
    }
    if (n_self) snprintf(modules, sizeof modules, "attention\\.self\\.(%s)", self);
    if (h->intermediate) snprintf(modules + strlen(modules), sizeof modules - strlen(modules), "%sintermediate\\.dense", modules[0] ? "|" : "");
    if (h->output) snprintf(modules + strlen(modules), sizeof modules - strlen(modules), "%soutput\\.dense", modules[0] ? "|" : "");
    if (!kept || !modules[0])
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: the LoRA adapts no linear layer (%s)", what,
                          kept ? "selfattn_lora with attn_matrices, intermediate_lora and output_lora pick none" : "leave_out leaves out every layer");
    int w = snprintf(out, size, ".*\\.layer\\.(%s)\\.(%s)", kept == layers ? "\\d+" : layer_alt, modules);
    if (w < 0 || (size_t)w >= size) return adapt_fail(ADAPT_ERR_FORMAT, "%s: leave_out is too long to express", what);
    return ADAPT_OK;
}

typedef struct hub_rename {
    adapterhub_file file; /* first: adapterhub_load_tensors passes it to the rename */
    const adapt_model *m;
    const char *saved, *name;
    bool scale;
} hub_rename;

/* "[<prefix>.]encoder.layer.N.<module>.loras.<saved>.lora_A" -> "<prefix>.encoder.layer.N.<module>."
 * + the LoRA's factor name; lora_attach then checks that each lands on a module the config picks. */
static bool rename_hub(const char *file_name, char *out, size_t size, void *vctx)
{
    hub_rename *c = vctx;
    adapterhub_file *f = &c->file;
    char full[512];
    if (f->status || (f->status = adapterhub_prefixed_name(c->m, file_name, full, sizeof full, f->path, file_name))) return false;
    char marker[LORA_NAME_MAX + 96];
    snprintf(marker, sizeof marker, ".loras.%s.", c->saved);
    const char *at = strstr(full, marker);
    const char *factor = at ? at + strlen(marker) : NULL;
    bool known = factor && (!strcmp(factor, "lora_B") || (!c->scale && !strcmp(factor, "lora_A")));
    if (!known) {
        f->status = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" is not \"<module>.loras.%s.%s\"", f->path, file_name, c->saved,
                               c->scale ? "lora_B" : "lora_A|lora_B");
        return false;
    }
    char suffix[LORA_NAME_MAX + 32];
    lora_factor_name(c->name, factor, suffix, sizeof suffix);
    int w = snprintf(out, size, "%.*s.%s", (int)(at - full), full, suffix);
    if (w < 0 || (size_t)w >= size || strlen(file_name) + 1 + strlen(c->m->prefix) >= sizeof full) {
        f->status = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor name \"%.80s...\" is too long", f->path, file_name);
        return false;
    }
    if (store_get(&c->m->store, out)) { /* the same tensor with and without the model prefix */
        f->status = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" is in the file twice", f->path, file_name);
        return false;
    }
    return true;
}

/* Whether the folder says `adapters` older than 1.1.0 wrote it ("version": "adapters.1.0.1"), whose
 * LoRA ignored alpha / r (adapters' _fix_backward_compat sets alpha = r for such files). */
static bool written_before_1_1(const cJSON *root)
{
    const char *v = config_string(cJSON_GetObjectItemCaseSensitive(root, "version"));
    int major = 0, minor = 0;
    if (!v || strncmp(v, "adapters.", 9) || sscanf(v + 9, "%d.%d", &major, &minor) != 2) return false;
    return major < 1 || (major == 1 && minor < 1);
}

adapt_status adapterhub_load_lora(adapt_model *m, const char *dir, const cJSON *root, const char *cfg_path, const char *name)
{
    hub_lora h;
    const char *saved = NULL;
    TRY(json_get_str(root, "name", cfg_path, &saved));
    TRY(adapterhub_check_hidden(root, cfg_path, m));
    if (strlen(saved) >= LORA_NAME_MAX) return adapt_fail(ADAPT_ERR_FORMAT, "%s: the name \"%.40s...\" is too long", cfg_path, saved);
    TRY(read_hub_config(root, cfg_path, &h));
    if (h.scale && h.r != 1) return adapt_fail(ADAPT_ERR_FORMAT, "%s: composition_mode \"scale\" ((IA)^3) takes r 1, not %d", cfg_path, h.r);
    if (h.scale && h.dropout > 0) return adapt_fail(ADAPT_ERR_FORMAT, "%s: (IA)^3 takes no dropout", cfg_path);
    if (written_before_1_1(root)) h.alpha = h.r; /* as `adapters` loads them: those versions ran every LoRA at scaling 1 */
    lora_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.ia3 = h.scale;
    cfg.r = h.r;
    cfg.alpha = h.alpha;
    cfg.dropout = h.dropout;
    cfg.from_adapterhub = true;
    TRY(targets_regex(&h, m->cfg.layers, cfg_path, cfg.target_regex, sizeof cfg.target_regex));
    hub_rename rc = {{NULL, ADAPT_OK}, m, saved, name, h.scale};
    adapt_status s = adapterhub_load_tensors(m, dir, "adapter.safetensors", rename_hub, &rc.file);
    if (!s) s = lora_attach(m, &cfg, name, false, NULL, NULL);
    if (s) lora_remove_tensors(m, name); /* whatever of the file came in (lora_attach frees what it made when it fails) */
    return s;
}

/* ------------------------------------------------------------------ saving */

/* The AdapterHub config that picks exactly the active LoRA's modules, or a refusal naming why
 * none can. */
static adapt_status hub_config_of(const adapt_model *m, const lora_state *s, hub_lora *h)
{
    memset(h, 0, sizeof *h);
    if (s->cfg.use_dora) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "LoRA \"%s\" is a DoRA: AdapterHub's LoRA has no magnitudes", s->name);
    if (lora_has_embedding(s))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "LoRA \"%s\" adapts embedding tables, which AdapterHub's LoRA cannot target", s->name);
    const char *inside = lora_encoder_module(m, s);
    if (inside)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "LoRA \"%s\" replaces the encoder's \"%s\" (modules_to_save): an AdapterHub LoRA cannot carry it",
                          s->name, inside);
    bool any[LIN_COUNT] = {false}, first = true;
    float scaling = 0;
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!s->has[l][k]) continue;
            const lora_pair *p = &s->pairs[l][k];
            int r = p->A ? (int)p->A->shape[0] : 1;
            if (p->scales_input)
                return adapt_fail(ADAPT_ERR_UNSUPPORTED, "(IA)^3 \"%s\" scales layer %d's %s input (PEFT's feedforward_modules): AdapterHub's "
                                  "(IA)^3 scales outputs only", s->name, l, lora_module_names[k]);
            if (k == LIN_ATTN_OUT)
                return adapt_fail(ADAPT_ERR_UNSUPPORTED, "LoRA \"%s\" adapts attention.output.dense, which AdapterHub's LoRA cannot target", s->name);
            if (!first && (r != h->r || p->scaling != scaling))
                return adapt_fail(ADAPT_ERR_UNSUPPORTED, "LoRA \"%s\": its modules differ in rank or scaling (rank_pattern / alpha_pattern), "
                                  "AdapterHub's LoRA has one r and alpha", s->name);
            h->r = r, scaling = p->scaling, first = false;
            any[k] = true;
        }
    for (int l = 0; l < m->cfg.layers; l++) {
        bool used = false, same = true;
        for (int k = 0; k < LIN_COUNT; k++) used |= s->has[l][k];
        for (int k = 0; used && k < LIN_COUNT; k++) same &= s->has[l][k] == any[k];
        if (!same)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "LoRA \"%s\" adapts other modules in layer %d than elsewhere: AdapterHub's LoRA adapts the same "
                              "modules in every layer it is in", s->name, l);
        if (used) continue;
        if (h->n_leave_out == LORA_MAX_LAYER_LIST)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "LoRA \"%s\" leaves out more than %d layers", s->name, LORA_MAX_LAYER_LIST);
        h->leave_out[h->n_leave_out++] = l;
    }
    h->selfattn = any[LIN_QUERY] || any[LIN_KEY] || any[LIN_VALUE];
    for (int k = 0; k < 3; k++) h->attn[k] = any[k];
    h->intermediate = any[LIN_INTER];
    h->output = any[LIN_OUT];
    h->alpha = (double)scaling * h->r; /* scaling = alpha / r, also for a rsLoRA's alpha / sqrt(r); (IA)^3: alpha, r 1 */
    h->scale = s->cfg.ia3;
    h->dropout = s->cfg.dropout;
    return ADAPT_OK;
}

static cJSON *hub_config_json(const hub_lora *h)
{
    cJSON *c = cJSON_CreateObject(), *attn = cJSON_CreateArray(), *leave = cJSON_CreateArray();
    if (!c || !attn || !leave) {
        cJSON_Delete(c), cJSON_Delete(attn), cJSON_Delete(leave);
        return NULL;
    }
    /* The fields every version of `adapters` (and adapter-transformers) knows, as LoRAConfig.to_dict writes them. */
    cJSON_AddNumberToObject(c, "alpha", h->alpha);
    cJSON_AddStringToObject(c, "architecture", "lora");
    for (int k = 0; k < 3; k++)
        if (h->attn[k]) cJSON_AddItemToArray(attn, cJSON_CreateString(attn_letters[k]));
    cJSON_AddItemToObject(c, "attn_matrices", attn);
    cJSON_AddStringToObject(c, "composition_mode", h->scale ? "scale" : "add");
    cJSON_AddNumberToObject(c, "dropout", h->dropout);
    cJSON_AddStringToObject(c, "init_weights", h->scale ? "ia3" : "lora");
    cJSON_AddBoolToObject(c, "intermediate_lora", h->intermediate);
    for (int i = 0; i < h->n_leave_out; i++) cJSON_AddItemToArray(leave, cJSON_CreateNumber((double)h->leave_out[i]));
    cJSON_AddItemToObject(c, "leave_out", leave);
    cJSON_AddBoolToObject(c, "output_lora", h->output);
    cJSON_AddNumberToObject(c, "r", h->r);
    cJSON_AddBoolToObject(c, "selfattn_lora", h->selfattn);
    cJSON_AddFalseToObject(c, "use_gating");
    return c;
}

adapt_status adapterhub_save_lora(adapt_model *m, const char *dir)
{
    TRY(lora_check_savable(m));
    const lora_state *s = m->lora;
    hub_lora h;
    TRY(hub_config_of(m, s, &h));
    TRY(dir_make(dir));
    size_t n = 0, cap = 2 * (size_t)m->cfg.layers * LIN_COUNT;
    const char **names = calloc(cap + 1, sizeof *names);
    char **file_names = calloc(cap + 1, sizeof *file_names);
    adapt_status st = names && file_names ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (int l = 0; !st && l < m->cfg.layers; l++)
        for (int k = 0; !st && k < LIN_COUNT; k++) {
            if (!s->has[l][k]) continue;
            const param *factors[2] = {s->pairs[l][k].A, s->pairs[l][k].B};
            for (int f = 0; f < 2 && !st; f++) {
                if (!factors[f]) continue; /* (IA)^3: lora_B alone */
                size_t len = 512;
                if (!(file_names[n] = malloc(len))) {
                    st = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
                    break;
                }
                snprintf(file_names[n], len, "%s.encoder.layer.%d.%s.loras.%s.%s", m->prefix, l, lora_module_names[k], s->name,
                         f ? "lora_B" : "lora_A");
                names[n++] = factors[f]->name;
            }
        }
    char *st_path = path_join(dir, "adapter.safetensors");
    if (!st && !st_path) st = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!st) st = store_save_safetensors(&m->store, st_path, names, (const char *const *)file_names, n, NULL, 0);
    cJSON *root = st ? NULL : cJSON_CreateObject(), *cfg = st ? NULL : hub_config_json(&h);
    if (!st && (!root || !cfg)) st = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!st) {
        cJSON_AddItemToObject(root, "config", cfg);
        cfg = NULL;
        adapterhub_add_common(root, m, s->name);
        st = adapterhub_write_json(dir, "adapter_config.json", root);
    }
    cJSON_Delete(cfg);
    cJSON_Delete(root);
    for (size_t i = 0; i < n; i++) free(file_names[i]);
    free(file_names);
    free(names);
    free(st_path);
    return st;
}
