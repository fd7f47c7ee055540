#include "formats/adapterhub.h"
#include "adapters/setup.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "formats/adapterhub_lora.h"
#include "formats/param_io.h"
#include "formats/peft_prefix.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADAPTERS_VERSION "adapters.1.2.0"

const char *adapterhub_model_class(const adapt_model *m)
{
    if (!strcmp(m->cfg.model_type, "xlm-roberta")) return "XLMRobertaAdapterModel";
    return m->cfg.family == FAMILY_BERT ? "BertAdapterModel" : "RobertaAdapterModel";
}


/* Replaces the first occurrence of `from` in s (in place, s has room for `size` bytes). */
static bool replace_once(char *s, size_t size, const char *from, const char *to)
{
    char *at = strstr(s, from);
    if (!at) return false;
    size_t lf = strlen(from), lt = strlen(to), tail = strlen(at + lf);
    if ((size_t)(at - s) + lt + tail + 1 > size) return false;
    memmove(at + lt, at + lf, tail + 1);
    memcpy(at, to, lt);
    return true;
}

typedef struct rename_ctx {
    adapterhub_file file; /* first: adapterhub_load_tensors passes it to the rename */
    const adapt_model *m;
    const char *kind;     /* "adapters" (bottleneck and prefix tuning tensors), "fusion", "heads" */
    const char *old_name, *new_name;
} rename_ctx;

adapt_status adapterhub_prefixed_name(const adapt_model *m, const char *name, char *out, size_t size, const char *path, const char *file_name)
{
    size_t pl = strlen(m->prefix);
    if (!strncmp(name, m->prefix, pl) && name[pl] == '.') {
        snprintf(out, size, "%s", name);
        return ADAPT_OK;
    }
    const char *other = m->cfg.family == FAMILY_BERT ? "roberta." : "bert.";
    if (!strncmp(name, other, strlen(other)))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" is for another model type than %s", path, file_name, m->cfg.model_type);
    snprintf(out, size, "%s.%s", m->prefix, name);
    return ADAPT_OK;
}

/* A prefix tuning's tensor: under the model's pool ("<base>.prefix_tuning.prefix_tunings.<name>.")
 * or one of the copies PyTorch's state_dict also lists under every layer that links the pool
 * ("<...>.attention.self.prefix_tuning.pool.prefix_tunings.<name>."): all name the same tensor. */
static bool rename_prefix_tensor(rename_ctx *c, const char *file_name, char *out, size_t size)
{
    char seg[ADAPTER_NAME_MAX + 24];
    snprintf(seg, sizeof seg, ".prefix_tunings.%s.", c->old_name);
    const char *at = strstr(out, seg);
    bool ok = at != NULL;
    if (ok) {
        char rest[512];
        snprintf(rest, sizeof rest, "%s", at + strlen(seg));
        ok = snprintf(out, size, "%s.prefix_tuning.prefix_tunings.%s.%s", c->m->prefix, c->new_name, rest) < (int)size;
    }
    if (!ok) c->file.status = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" does not belong to prefix tuning \"%s\"", c->file.path,
                                         file_name, c->old_name);
    return ok;
}

/* File name -> store name: legacy segments, the base-model prefix, load_as. Tensors of other
 * adapters / heads in the file are refused (a file holds exactly one). */
static bool rename_tensor(const char *file_name, char *out, size_t size, void *vctx)
{
    rename_ctx *c = vctx;
    if (c->file.status) return false;
    snprintf(out, size, "%s", file_name);
    static const char *legacy[][2] = {
        {".attention_text_task_adapters.", ".adapters."}, {".attention_text_lang_adapters.", ".adapters."},
        {".layer_text_task_adapters.", ".adapters."},     {".layer_text_lang_adapters.", ".adapters."},
        {"invertible_lang_adapters.", "invertible_adapters."},
    };
    for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++) replace_once(out, size, legacy[i][0], legacy[i][1]);
    if (strcmp(c->kind, "heads")) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", out);
        if ((c->file.status = adapterhub_prefixed_name(c->m, tmp, out, size, c->file.path, file_name))) return false;
    }
    if (!strcmp(c->kind, "adapters") && strstr(out, ".prefix_tunings.")) return rename_prefix_tensor(c, file_name, out, size);
    char from[256], to[256], from2[256], to2[256];
    const char *seg = !strcmp(c->kind, "heads") ? "heads." : !strcmp(c->kind, "fusion") ? ".adapter_fusion_layer." : ".adapters.";
    snprintf(from, sizeof from, "%s%s.", seg, c->old_name);
    snprintf(to, sizeof to, "%s%s.", seg, c->new_name);
    snprintf(from2, sizeof from2, "invertible_adapters.%s.", c->old_name);
    snprintf(to2, sizeof to2, "invertible_adapters.%s.", c->new_name);
    bool ok = !strcmp(c->kind, "heads") ? !strncmp(out, from, strlen(from)) && replace_once(out, size, from, to)
                                        : replace_once(out, size, from, to) || replace_once(out, size, from2, to2);
    if (!ok) c->file.status = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" does not belong to \"%s\"", c->file.path, file_name, c->old_name);
    return ok;
}

adapt_status adapterhub_check_hidden(const cJSON *root, const char *path, const adapt_model *m)
{
    long long hidden = m->cfg.hidden;
    TRY(json_get_int_opt(root, "hidden_size", 1, 1 << 20, path, &hidden));
    if (hidden != m->cfg.hidden)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: saved for hidden_size %lld, the model has %d", path, hidden, m->cfg.hidden);
    return ADAPT_OK;
}

adapt_status adapterhub_load_tensors(adapt_model *m, const char *dir, const char *file, param_rename_fn rename, adapterhub_file *f)
{
    char *path = path_join(dir, file);
    if (!path) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    f->path = path;
    adapt_status s;
    if (!path_exists(path)) {
        char *bin = path_join(dir, "pytorch_adapter.bin");
        bool legacy = bin && path_exists(bin);
        free(bin);
        s = legacy ? adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: only pytorch_adapter.bin is present; convert it to safetensors first (adapt convert)", dir)
                   : adapt_fail(ADAPT_ERR_IO, "%s: missing", path);
    } else {
        s = store_load_safetensors(&m->store, path, rename, f, NULL);
        if (!s) s = f->status;
    }
    f->path = NULL; /* freed here: the rename's messages are made by now */
    free(path);
    return s;
}

adapt_status adapterhub_load_adapter(adapt_model *m, const char *dir, const char *load_as, char *name_out, size_t name_size)
{
    char *cfg_path = path_join(dir, "adapter_config.json");
    cJSON *root = NULL;
    adapt_status s = cfg_path ? json_load_file(cfg_path, &root) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    const char *saved_name = NULL;
    adapter_spec spec;
    if (!s && peft_prefix_config(root)) { /* PEFT's prefix tuning: a flat prefix tuning here */
        const char *name = load_as ? load_as : "prefix";
        s = peft_prefix_load(m, dir, root, cfg_path, name);
        if (!s && name_out) snprintf(name_out, name_size, "%s", name);
        cJSON_Delete(root);
        free(cfg_path);
        return adapt_fail_in(s, dir);
    }
    if (!s && adapterhub_is_lora(root))
        s = adapt_fail(ADAPT_ERR_ARG, "%s: this is a LoRA (architecture \"lora\"), not a bottleneck adapter: load it as a LoRA "
                       "(--lora, adapt_model_load_lora)", cfg_path);
    if (!s) s = json_get_str(root, "name", cfg_path, &saved_name);
    if (!s) s = adapterhub_check_hidden(root, cfg_path, m);
    if (!s) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "config");
        bool has_version = cJSON_GetObjectItemCaseSensitive(root, "version") != NULL;
        if (cJSON_IsObject(c) || cJSON_IsString(c)) s = adapter_spec_from_json(c, cfg_path, has_version, &spec);
        else s = adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"config\"", cfg_path);
    }
    const char *name = load_as ? load_as : saved_name;
    if (!s) s = setup_check_new_adapter_name(m, name);
    if (!s) {
        rename_ctx rc = {{NULL, ADAPT_OK}, m, "adapters", saved_name, name};
        s = adapterhub_load_tensors(m, dir, "adapter.safetensors", rename_tensor, &rc.file);
        if (s) setup_remove_adapter_tensors(m, name);
        else s = setup_add_adapter_spec(m, name, &spec, false); /* removes them itself when it fails */
    }
    if (!s && name_out) snprintf(name_out, name_size, "%s", name);
    cJSON_Delete(root);
    free(cfg_path);
    return adapt_fail_in(s, dir);
}

void adapterhub_add_common(cJSON *root, const adapt_model *m, const char *name)
{
    cJSON_AddNumberToObject(root, "hidden_size", m->cfg.hidden);
    cJSON_AddStringToObject(root, "model_class", adapterhub_model_class(m));
    cJSON_AddStringToObject(root, "model_name", "");
    cJSON_AddStringToObject(root, "model_type", m->cfg.model_type);
    cJSON_AddStringToObject(root, "name", name);
    cJSON_AddStringToObject(root, "version", ADAPTERS_VERSION);
}

adapt_status adapterhub_write_json(const char *dir, const char *file, cJSON *root)
{
    char *path = path_join(dir, file);
    char *text = cJSON_Print(root);
    adapt_status s = path && text ? file_write_atomic(path, text, strlen(text)) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(text);
    free(path);
    return s;
}

/* Saves the store tensors whose names contain one of the markers (NULL ones skipped). */
static adapt_status save_matching(adapt_model *m, const char *dir, const char *file, const char *marker, const char *marker2,
                                  const char *marker3)
{
    size_t n = 0;
    const char **names = calloc(m->store.count + 1, sizeof *names);
    if (!names) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m->store.count; i++) {
        const char *t = m->store.items[i]->name;
        if (strstr(t, marker) || (marker2 && strstr(t, marker2)) || (marker3 && strstr(t, marker3))) names[n++] = t;
    }
    char *path = path_join(dir, file);
    adapt_status s = path ? store_save_safetensors(&m->store, path, names, NULL, n, NULL, 0) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(path);
    free(names);
    return s;
}

adapt_status adapterhub_save_adapter(adapt_model *m, const char *dir, const char *name)
{
    adapter_def *a = setup_find_adapter(m->setup, name);
    if (!a) return adapt_fail(ADAPT_ERR_ARG, "no adapter named \"%s\"", name);
    if (a->has_prefix && a->prefix.peft_positions)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "adapter \"%s\" is PEFT's prefix tuning, which moves the positions by its length: "
                                                 "AdapterHub's does not, so its layout cannot hold it", name);
    TRY(dir_make(dir));
    cJSON *root = cJSON_CreateObject();
    adapter_spec spec;
    setup_adapter_spec(a, &spec);
    cJSON *cfg = adapter_spec_to_json(&spec);
    if (!root || !cfg) {
        cJSON_Delete(root);
        cJSON_Delete(cfg);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    cJSON_AddItemToObject(root, "config", cfg);
    adapterhub_add_common(root, m, name);
    adapt_status s = adapterhub_write_json(dir, "adapter_config.json", root);
    cJSON_Delete(root);
    char marker[ADAPTER_NAME_MAX + 16], marker2[ADAPTER_NAME_MAX + 32], marker3[ADAPTER_NAME_MAX + 24];
    snprintf(marker, sizeof marker, ".adapters.%s.", name);
    snprintf(marker2, sizeof marker2, "invertible_adapters.%s.", name);
    snprintf(marker3, sizeof marker3, ".prefix_tunings.%s.", name);
    if (!s) s = save_matching(m, dir, "adapter.safetensors", marker, marker2, marker3);
    return s;
}

adapt_status adapterhub_load_head(adapt_model *m, const char *dir, const char *load_as, head *h)
{
    char *cfg_path = path_join(dir, "head_config.json");
    cJSON *root = NULL;
    adapt_status s = cfg_path ? json_load_file(cfg_path, &root) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    const char *saved_name = NULL, *type = NULL;
    const cJSON *c = root ? cJSON_GetObjectItemCaseSensitive(root, "config") : NULL;
    long long labels = 0, layers = 1;
    if (!s) s = json_get_str(root, "name", cfg_path, &saved_name);
    if (!s) s = adapterhub_check_hidden(root, cfg_path, m);
    if (!s && !cJSON_IsObject(c)) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"config\" object", cfg_path);
    if (!s) s = json_get_str(c, "head_type", cfg_path, &type);
    if (!s) s = json_get_int(c, "num_labels", 1, 1 << 20, cfg_path, &labels);
    if (!s) s = json_get_int_opt(c, "layers", 1, 16, cfg_path, &layers);
    head_kind kind = HEAD_TAGGING;
    if (!s) {
        if (!strcmp(type, "tagging") && layers == 1) kind = HEAD_TAGGING;
        else if (!strcmp(type, "classification") && layers == 2) kind = HEAD_CLASSIFICATION;
        else s = adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: head_type \"%.40s\" with %lld layers is not supported (tagging/1, classification/2)", cfg_path, type, layers);
    }
    const char *name = load_as ? load_as : saved_name;
    if (!s && head_tensors_present(m, name)) s = adapt_fail(ADAPT_ERR_ARG, "a head named \"%s\" is already loaded", name);
    if (!s) {
        rename_ctx rc = {{NULL, ADAPT_OK}, m, "heads", saved_name, name};
        s = adapterhub_load_tensors(m, dir, "model_head.safetensors", rename_tensor, &rc.file);
        if (!s) s = head_check_loaded(m, kind, name);
        if (!s) s = head_create(m, h, kind, name, (int)labels);
        if (s) head_remove_tensors(m, name);
    }
    cJSON_Delete(root);
    free(cfg_path);
    return adapt_fail_in(s, dir);
}

adapt_status adapterhub_save_head(adapt_model *m, const char *dir, const head *h, const char *const *labels)
{
    if (h->kind != HEAD_TAGGING && h->kind != HEAD_CLASSIFICATION)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "only tagging and classification heads are saved in the AdapterHub layout");
    TRY(dir_make(dir));
    cJSON *root = cJSON_CreateObject(), *cfg = cJSON_CreateObject(), *l2i = cJSON_CreateObject();
    if (!root || !cfg || !l2i) {
        cJSON_Delete(root);
        cJSON_Delete(cfg);
        cJSON_Delete(l2i);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    bool tagging = h->kind == HEAD_TAGGING;
    if (tagging) cJSON_AddNullToObject(cfg, "activation_function");
    else cJSON_AddStringToObject(cfg, "activation_function", "tanh");
    if (!tagging) cJSON_AddTrueToObject(cfg, "bias");
    cJSON_AddNullToObject(cfg, "dropout_prob");
    cJSON_AddStringToObject(cfg, "head_type", tagging ? "tagging" : "classification");
    for (int i = 0; i < h->num_labels; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "LABEL_%d", i);
        cJSON_AddNumberToObject(l2i, labels && labels[i] ? labels[i] : buf, i);
    }
    cJSON_AddItemToObject(cfg, "label2id", l2i);
    cJSON_AddNumberToObject(cfg, "layers", tagging ? 1 : 2);
    cJSON_AddNumberToObject(cfg, "num_labels", h->num_labels);
    if (!tagging) cJSON_AddFalseToObject(cfg, "use_pooler");
    cJSON_AddItemToObject(root, "config", cfg);
    adapterhub_add_common(root, m, h->name);
    adapt_status s = adapterhub_write_json(dir, "head_config.json", root);
    cJSON_Delete(root);
    char marker[96];
    snprintf(marker, sizeof marker, "heads.%s.", h->name);
    if (!s) s = save_matching(m, dir, "model_head.safetensors", marker, NULL, NULL);
    return s;
}

adapt_status adapterhub_load_fusion(adapt_model *m, const char *dir)
{
    char *cfg_path = path_join(dir, "adapter_fusion_config.json");
    cJSON *root = NULL;
    adapt_status s = cfg_path ? json_load_file(cfg_path, &root) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    const char *fname = NULL;
    fusion_config cfg;
    const char *names[FUSION_MAX_ADAPTERS];
    char split[FUSION_MAX_ADAPTERS * (ADAPTER_NAME_MAX + 1)];
    int n = 0;
    if (!s) s = json_get_str(root, "name", cfg_path, &fname);
    if (!s) s = adapterhub_check_hidden(root, cfg_path, m);
    if (!s) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "config");
        if (cJSON_IsObject(c)) s = fusion_config_from_json(c, cfg_path, &cfg);
        else if (cJSON_IsString(c)) s = fusion_config_parse_string(c->valuestring, &cfg);
        else s = adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"config\"", cfg_path);
    }
    if (!s) { /* the adapters: "adapter_names", else the fusion name split at commas */
        snprintf(split, sizeof split, "%s", fname);
        for (char *tok = strtok(split, ","); tok && n < FUSION_MAX_ADAPTERS; tok = strtok(NULL, ",")) names[n++] = tok;
        if (n == 0) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: fusion name \"%s\" names no adapters", cfg_path, fname);
    }
    if (!s && setup_find_fusion(m->setup, names, n)) s = adapt_fail(ADAPT_ERR_ARG, "fusion \"%s\" is already loaded", fname);
    if (!s) {
        rename_ctx rc = {{NULL, ADAPT_OK}, m, "fusion", fname, fname};
        s = adapterhub_load_tensors(m, dir, "model_adapter_fusion.safetensors", rename_tensor, &rc.file);
        if (s) setup_remove_fusion_tensors(m, fname);
        else s = setup_add_fusion(m, names, n, &cfg, false); /* removes them itself when it fails */
    }
    cJSON_Delete(root);
    free(cfg_path);
    return adapt_fail_in(s, dir);
}

adapt_status adapterhub_save_fusion(adapt_model *m, const char *dir, const char *const *names, int n)
{
    fusion_def *f = setup_find_fusion(m->setup, names, n);
    if (!f) return adapt_fail(ADAPT_ERR_ARG, "no such fusion");
    TRY(dir_make(dir));
    cJSON *root = cJSON_CreateObject(), *list = cJSON_CreateArray(), *cfg = fusion_config_to_json(&f->cfg);
    if (!root || !list || !cfg) {
        cJSON_Delete(root);
        cJSON_Delete(list);
        cJSON_Delete(cfg);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(list, cJSON_CreateString(names[i]));
    cJSON_AddItemToObject(root, "adapter_names", list);
    cJSON_AddItemToObject(root, "config", cfg);
    adapterhub_add_common(root, m, f->name);
    adapt_status s = adapterhub_write_json(dir, "adapter_fusion_config.json", root);
    cJSON_Delete(root);
    char marker[sizeof f->name + 32];
    snprintf(marker, sizeof marker, ".adapter_fusion_layer.%s.", f->name);
    if (!s) s = save_matching(m, dir, "model_adapter_fusion.safetensors", marker, NULL, NULL);
    return s;
}
