#include "formats/peft.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "formats/adapterhub_lora.h"
#include "formats/param_io.h"
#include "model/heads.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEFT_PREFIX "base_model.model."

typedef struct peft_rename {
    const adapt_model *m;
    const char *path, *lora;
    adapt_status status;
    bool rootless;                 /* names like "encoder.layer..." (PEFT on a bare BertModel) */
    bool ia3;                      /* an IA3 config: its vectors are "<module>.ia3_l" */
} peft_rename;

/* An IA3 file's tensor: "<module>.ia3_l" (older PEFT: ".ia3_l.default") becomes the LoRA state's
 * l, "<module>.lora_B.weight" (lora_factor_name); LoRA factors have no place in it. */
static bool rename_ia3(peft_rename *c, const char *file_name, char *name, char *out, size_t size)
{
    char *l = strstr(name, ".ia3_l");
    if (l && (!strcmp(l, ".ia3_l") || !strcmp(l, ".ia3_l.default"))) {
        char suffix[LORA_NAME_MAX + 32];
        lora_factor_name(c->lora, "lora_B", suffix, sizeof suffix);
        l[1] = '\0';
        snprintf(out, size, "%s%s", name, suffix);
        return true;
    }
    if (l || lora_is_tensor(name, NULL)) {
        c->status = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" is not an (IA)^3 vector \"<module>.ia3_l\"", c->path, file_name);
        return false;
    }
    snprintf(out, size, LORA_STAGE_PREFIX "%s.%s", c->lora, name);
    return true;
}

/* "base_model.model.bert.encoder..." -> "bert.encoder..."; a base-model PEFT (no "bert." in the
 * names) gets the prefix added for encoder tensors. LoRA factors take the LoRA's name
 * (lora_factor_name); every other tensor (modules_to_save) is staged as "peft.<lora>.<tensor>"
 * for lora_bind_modules, so that loading never overwrites what another LoRA or the base uses. */
static bool rename_peft_name(const char *file_name, char *out, size_t size, peft_rename *c)
{
    size_t pl = strlen(PEFT_PREFIX);
    if (strncmp(file_name, PEFT_PREFIX, pl)) {
        c->status = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" does not start with \"" PEFT_PREFIX "\"", c->path, file_name);
        return false;
    }
    const char *rest = file_name + pl;
    char name[512];
    if (!strncmp(rest, "encoder.", 8) || !strncmp(rest, "embeddings.", 11)) {
        snprintf(name, sizeof name, "%s.%s", c->m->prefix, rest);
        c->rootless = true;
    } else {
        snprintf(name, sizeof name, "%s", rest);
    }
    /* Older PEFT versions keep the adapter name in the key. */
    char *dflt = strstr(name, ".default.");
    if (dflt) memmove(dflt, dflt + 8, strlen(dflt + 8) + 1);
    /* PEFT >= 0.7 wraps a targeted layer: its own tensors (bias "all" / "lora_only") are
     * "<module>.base_layer.bias" */
    char *base_layer = strstr(name, ".base_layer.");
    if (base_layer) memmove(base_layer, base_layer + 11, strlen(base_layer + 11) + 1);
    if (c->ia3) return rename_ia3(c, file_name, name, out, size);
    char *emb = strstr(name, ".lora_embedding_"); /* "<table>.lora_embedding_A" (older PEFT: ".default" after it) */
    if (emb && (emb[16] == 'A' || emb[16] == 'B') && (!emb[17] || !strcmp(emb + 17, ".default"))) {
        char factor[] = "lora_embedding_A", suffix[LORA_NAME_MAX + 40];
        factor[15] = emb[16];
        lora_factor_name(c->lora, factor, suffix, sizeof suffix);
        emb[1] = '\0';
        snprintf(out, size, "%s%s", name, suffix);
        return true;
    }
    if (!lora_is_tensor(name, NULL)) {
        snprintf(out, size, LORA_STAGE_PREFIX "%s.%s", c->lora, name);
        return true;
    }
    char *magnitude = strstr(name, "." LORA_MAGNITUDE);
    if (magnitude) { /* DoRA: "<module>.lora_magnitude_vector", some writers add ".weight" */
        const char *after = magnitude + 1 + strlen(LORA_MAGNITUDE);
        if (*after && strcmp(after, ".weight")) {
            c->status = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" is not a DoRA magnitude \"<module>." LORA_MAGNITUDE "\"",
                                   c->path, file_name);
            return false;
        }
        char suffix[LORA_NAME_MAX + 32];
        lora_magnitude_name(c->lora, suffix, sizeof suffix);
        magnitude[1] = '\0';
        snprintf(out, size, "%s%s", name, suffix);
        return true;
    }
    char *factor = strstr(name, ".lora_A.");
    if (!factor) factor = strstr(name, ".lora_B.");
    if (!factor || strcmp(factor + 7, ".weight")) { /* also "<table>.lora_embedding_A.<more>" */
        c->status = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" is not a LoRA factor \"<module>.lora_A.weight\" / \"lora_B.weight\"",
                               c->path, file_name);
        return false;
    }
    factor[7] = '\0';
    char suffix[LORA_NAME_MAX + 32];
    lora_factor_name(c->lora, factor + 1, suffix, sizeof suffix);
    factor[1] = '\0';
    snprintf(out, size, "%s%s", name, suffix);
    return true;
}

/* rename_peft_name, refusing a second tensor under the same name (older PEFT's ".default" spelling
 * beside the plain one): the later would silently overwrite the first. */
static bool rename_peft(const char *file_name, char *out, size_t size, void *vctx)
{
    peft_rename *c = vctx;
    if (!rename_peft_name(file_name, out, size, c)) return false;
    if (!store_get(&c->m->store, out)) return true;
    c->status = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" is in the file twice (once with \".default\" or \".base_layer\" in its name)",
                           c->path, file_name);
    return false;
}

/* PEFT's files: its config (read from root), the tensors, the LoRA attached and its
 * modules_to_save bound; nothing of the file stays behind on failure. */
static adapt_status load_peft_files(adapt_model *m, const cJSON *root, const char *cfg_path, const char *st_path, const char *name)
{
    lora_config cfg;
    adapt_status s = lora_config_from_json(root, cfg_path, &cfg);
    if (!s && !path_exists(st_path)) s = adapt_fail(ADAPT_ERR_IO, "%s: missing", st_path);
    bool touched = !s, rc_rootless = false; /* from here a failure has tensors of the file to take out again */
    if (!s) {
        peft_rename rc = {m, st_path, name, ADAPT_OK, false, cfg.ia3};
        s = store_load_safetensors(&m->store, st_path, rename_peft, &rc, NULL);
        if (!s) s = rc.status;
        rc_rootless = rc.rootless;
    }
    lora_state *attached = NULL;
    cfg.names_without_root = rc_rootless; /* its patterns and regexes name modules that way */
    if (!s) s = lora_attach(m, &cfg, name, false, NULL, &attached);
    if (!s) s = lora_bind_modules(m, attached, st_path);
    if (s && attached) { /* undoes the attach (a fresh, unmerged LoRA: nothing fails, the message stays) */
        lora_delete(m, name);
    } else if (s && touched) { /* leave nothing of the file behind */
        lora_remove_tensors(m, name);
    }
    return s;
}

adapt_status peft_load_as(adapt_model *m, const char *dir, const char *name)
{
    char *cfg_path = path_join(dir, "adapter_config.json"), *st_path = path_join(dir, "adapter_model.safetensors");
    cJSON *root = NULL;
    adapt_status s = cfg_path && st_path ? lora_check_name(name) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s && lora_find(m, name)) s = adapt_fail(ADAPT_ERR_ARG, "the model already has a LoRA named \"%s\"", name);
    if (!s) s = json_load_file(cfg_path, &root);
    bool adapterhub = !s && !cJSON_GetObjectItemCaseSensitive(root, "peft_type") && adapterhub_is_lora(root);
    if (!s) s = adapterhub ? adapterhub_load_lora(m, dir, root, cfg_path, name) : load_peft_files(m, root, cfg_path, st_path, name);
    cJSON_Delete(root);
    free(cfg_path);
    free(st_path);
    return adapt_fail_in(s, dir);
}

adapt_status peft_load(adapt_model *m, const char *dir) { return peft_load_as(m, dir, LORA_DEFAULT_NAME); }

adapt_status peft_save(adapt_model *m, const char *dir, const char *task_type) { return peft_save_with_head(m, dir, task_type, NULL); }

void peft_head_of(const adapt_model *m, const head *h, peft_head_tensors *out, bool *ok)
{
    memset(out, 0, sizeof *out);
    *ok = true;
    if (h->kind == HEAD_TAGGING || h->kind == HEAD_TOKEN_CLASSIFIER) {
        const param *t[2] = {h->w1, h->b1};
        static const char *const names[2] = {"classifier.weight", "classifier.bias"};
        for (int i = 0; i < 2; i++) out->tensor[i] = t[i], snprintf(out->file_name[i], sizeof out->file_name[0], "%s", names[i]);
        out->n = 2;
        out->modules[out->n_modules++] = "classifier";
    } else if (h->kind == HEAD_CLASSIFICATION && h->w2) { /* dense + tanh on token 0, then the output layer */
        bool roberta = m->cfg.family == FAMILY_ROBERTA;
        const param *t[4] = {h->w1, h->b1, h->w2, h->b2};
        for (int i = 0; i < 4; i++) {
            out->tensor[i] = t[i];
            if (roberta) snprintf(out->file_name[i], sizeof out->file_name[0], "classifier.%s.%s", i < 2 ? "dense" : "out_proj", i % 2 ? "bias" : "weight");
            else if (i < 2) snprintf(out->file_name[i], sizeof out->file_name[0], "%s.pooler.dense.%s", m->prefix, i % 2 ? "bias" : "weight");
            else snprintf(out->file_name[i], sizeof out->file_name[0], "classifier.%s", i % 2 ? "bias" : "weight");
        }
        out->n = 4;
        out->modules[out->n_modules++] = "classifier";
        if (!roberta) out->modules[out->n_modules++] = "pooler";
    } else {
        *ok = false;
    }
}

adapt_status peft_save_with_model_head(adapt_model *m, const char *dir, const head *h)
{
    peft_head_tensors hf;
    bool has_hf = false;
    if (h) peft_head_of(m, h, &hf, &has_hf);
    const char *task = !h ? NULL : h->kind == HEAD_TAGGING || h->kind == HEAD_TOKEN_CLASSIFIER ? "TOKEN_CLS" : "SEQ_CLS";
    return peft_save_with_head(m, dir, task, has_hf ? &hf : NULL);
}

/* The length of the targeted module ("<module>.", without the dot) that tensor t ("<module>.<x>")
 * belongs to, 0 when none: PEFT (>= 0.7) names such a tensor "<module>.base_layer.<x>". */
static size_t targeted_module_len(const adapt_model *m, const lora_state *s, const char *t)
{
    char module[320];
    for (int j = 0; j < lora_module_count(m); j++) {
        if (!lora_state_has(s, j)) continue;
        size_t len = (size_t)lora_module_path(m, j, module, sizeof module);
        if (!strncmp(t, module, len) && t[len] == '.' && !strchr(t + len + 1, '.')) return len;
    }
    return 0;
}

adapt_status peft_save_with_head(adapt_model *m, const char *dir, const char *task_type, const peft_head_tensors *head)
{
    TRY(lora_check_savable(m));
    const lora_state *ls = m->lora;
    for (int l = 0; ls->cfg.ia3 && l < ls->layers; l++)
        for (int k = 0; k < LIN_COUNT; k++)
            if (ls->has[l][k] && ls->pairs[l][k].scaling != 1.0f)
                return adapt_fail(ADAPT_ERR_UNSUPPORTED, "(IA)^3 \"%s\" scales by alpha %g: PEFT's IA3 has no alpha (1 only; "
                                  "save it in AdapterHub's layout)", ls->name, (double)ls->pairs[l][k].scaling);
    TRY(dir_make(dir));
    size_t n = 0, cap = m->store.count + PEFT_MAX_HEAD_TENSORS;
    const char **names = calloc(cap + 1, sizeof *names);
    char **file_names = calloc(cap + 1, sizeof *file_names);
    adapt_status s = names && file_names ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < m->store.count; i++) {
        const char *t = m->store.items[i]->name;
        bool keep = lora_tensor_of(t, m->lora->name), factor = keep;
        for (int k = 0; !keep && k < m->lora->n_modules; k++) keep = !strcmp(t, m->lora->modules[k].name);
        for (int k = 0; !keep && k < m->lora->cfg.n_modules_to_save; k++) { /* PEFT saves every module the config names */
            size_t len = strlen(m->lora->cfg.modules_to_save[k]);
            keep = !strncmp(t, m->lora->cfg.modules_to_save[k], len) && t[len] == '.' && strncmp(t, LORA_STAGE_PREFIX, strlen(LORA_STAGE_PREFIX));
        }
        if (!keep) continue;
        names[n] = t;
        size_t size = strlen(t) + sizeof PEFT_PREFIX + 16;
        file_names[n] = malloc(size);
        if (!file_names[n]) {
            s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
            break;
        }
        size_t root = strlen(m->prefix); /* a LoRA read from bare-model names is written back the same way */
        bool strip = m->lora->cfg.names_without_root && !strncmp(t, m->prefix, root) && t[root] == '.';
        const char *written = strip ? t + root + 1 : t;
        size_t module = factor ? 0 : targeted_module_len(m, ls, t);
        if (module) module -= strip ? root + 1 : 0;
        if (module) snprintf(file_names[n], size, PEFT_PREFIX "%.*s.base_layer.%s", (int)module, written, written + module + 1);
        else snprintf(file_names[n], size, PEFT_PREFIX "%s", written);
        /* the factor's kind starts at the first ".lora_" (no module name has one; a LoRA's name may) */
        char *kind = factor ? strstr(file_names[n], ".lora_") : NULL;
        char *vector = kind && ls->cfg.ia3 ? kind : NULL;
        if (vector) snprintf(vector, 8, ".ia3_l"); /* l: "<module>.ia3_l" */
        char *emb = kind && !strncmp(kind, ".lora_embedding_", 16) ? kind : NULL;
        if (emb) emb[17] = '\0'; /* "<table>.lora_embedding_A", no ".weight" (PEFT's ParameterDict) */
        char *infix = kind && !vector && !emb && strcmp(m->lora->name, LORA_DEFAULT_NAME) ? kind : NULL;
        if (infix && !strncmp(infix + 1, LORA_MAGNITUDE, strlen(LORA_MAGNITUDE))) infix[1 + strlen(LORA_MAGNITUDE)] = '\0';
        else if (infix) snprintf(infix + 7, 8, ".weight"); /* the files name no adapter: "<module>.lora_A.weight" */
        n++;
    }
    for (int i = 0; !s && head && i < head->n; i++) { /* PEFT's modules_to_save copies of the head */
        names[n] = head->tensor[i]->name;
        size_t len = strlen(head->file_name[i]) + sizeof PEFT_PREFIX;
        if (!(file_names[n] = malloc(len))) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        else snprintf(file_names[n++], len, PEFT_PREFIX "%s", head->file_name[i]);
    }
    static const char *const meta[] = {"format", "pt"};
    char *st_path = path_join(dir, "adapter_model.safetensors"), *cfg_path = path_join(dir, "adapter_config.json");
    if (!s) s = store_save_safetensors(&m->store, st_path, names, (const char *const *)file_names, n, meta, 1);
    lora_config cfg = m->lora->cfg;
    for (int k = 0; head && k < head->n_modules; k++) {
        bool listed = false;
        for (int i = 0; i < cfg.n_modules_to_save; i++) listed |= !strcmp(cfg.modules_to_save[i], head->modules[k]);
        if (!listed && cfg.n_modules_to_save < 8) snprintf(cfg.modules_to_save[cfg.n_modules_to_save++], 64, "%s", head->modules[k]);
    }
    cJSON *root = s ? NULL : lora_config_to_json(&cfg, task_type);
    char *text = root ? cJSON_Print(root) : NULL;
    if (!s) s = text ? file_write_atomic(cfg_path, text, strlen(text)) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(text);
    cJSON_Delete(root);
    for (size_t i = 0; i < n; i++) free(file_names[i]);
    free(file_names);
    free(names);
    free(st_path);
    free(cfg_path);
    return s;
}
