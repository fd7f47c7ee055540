/* adapt-gpu case CASE_DIR OUT.safetensors: a fixture case on the GPU in fp32, writing the same
 * tensors as build/adapt-case: hidden_states.N, logits, loss and grad.<name> for the trainable
 * tensors. The plain encoder or a single AdapterHub adapter (setup ["single", NAME], loaded from
 * the case's folders); heads "mlm", "token_classifier" and AdapterHub "tagging". */
#include "adapters/setup.h"
#include "backend/cuda/gpu_host.h"
#include "formats/adapterhub.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "formats/param_io.h"
#include "formats/safetensors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct outputs {
    adapt_tensor_desc items[96];
    float *bufs[96];
    char *names[96];
    size_t count;
} outputs;

static float *out_add(outputs *o, const char *name, int ndim, const int64_t *shape)
{
    if (o->count == sizeof o->items / sizeof o->items[0]) return NULL;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *buf = calloc(n ? n : 1, sizeof(float));
    char *nm = strdup(name);
    if (!buf || !nm) {
        free(buf);
        free(nm);
        return NULL;
    }
    adapt_tensor_desc *d = &o->items[o->count];
    memset(d, 0, sizeof *d);
    d->name = nm;
    d->dtype = ADAPT_DTYPE_F32;
    d->ndim = ndim;
    memcpy(d->shape, shape, (size_t)ndim * sizeof(int64_t));
    d->data = buf;
    o->bufs[o->count] = buf;
    o->names[o->count++] = nm;
    return buf;
}

static void out_free(outputs *o)
{
    for (size_t i = 0; i < o->count; i++) {
        free(o->bufs[i]);
        free(o->names[i]);
    }
}

typedef struct inputs {
    int B, T;
    int32_t *ids, *mask, *types, *labels;
} inputs;

/* An integer [B, T] tensor of inputs.safetensors, narrowed to int32 (NULL when absent). */
static adapt_status read_ints(const st_file *f, const char *name, int B, int T, int32_t **out)
{
    *out = NULL;
    const st_tensor *t = st_find(f, name);
    if (!t) return ADAPT_OK;
    if (t->ndim != 2 || t->shape[0] != B || t->shape[1] != T)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must have shape [%d, %d]", f->path, name, B, T);
    size_t n = (size_t)B * T;
    int64_t *v = malloc(n * sizeof *v);
    *out = malloc(n * sizeof **out);
    if (!v || !*out) {
        free(v);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    adapt_status s = st_to_i64(f, t, v);
    for (size_t i = 0; !s && i < n; i++) {
        if (v[i] < INT32_MIN || v[i] > INT32_MAX) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" value out of range", f->path, name);
        else (*out)[i] = (int32_t)v[i];
    }
    free(v);
    return s;
}

static adapt_status load_inputs(const char *case_dir, inputs *in)
{
    memset(in, 0, sizeof *in);
    char *path = path_join(case_dir, "inputs.safetensors");
    if (!path) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    st_file f;
    adapt_status s = st_open(path, &f);
    free(path);
    if (s) return s;
    const st_tensor *ids = st_find(&f, "input_ids");
    if (!ids || ids->ndim != 2 || ids->shape[0] < 1 || ids->shape[1] < 1 || ids->shape[0] * ids->shape[1] > (1 << 20))
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s: \"input_ids\" missing or not a [B, T] tensor", f.path);
    if (!s) {
        in->B = (int)ids->shape[0];
        in->T = (int)ids->shape[1];
        s = read_ints(&f, "input_ids", in->B, in->T, &in->ids);
    }
    if (!s) s = read_ints(&f, "attention_mask", in->B, in->T, &in->mask);
    if (!s) s = read_ints(&f, "token_type_ids", in->B, in->T, &in->types);
    if (!s && st_find(&f, "labels")) {
        const st_tensor *l = st_find(&f, "labels");
        if (l->ndim != 2) s = adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: per-sequence labels (classification) are not supported on the GPU yet", f.path);
        else s = read_ints(&f, "labels", in->B, in->T, &in->labels);
    }
    st_close(&f);
    return s;
}

static void free_inputs(inputs *in)
{
    free(in->ids);
    free(in->mask);
    free(in->types);
    free(in->labels);
}

/* setup ["single", NAME]: the adapter NAME (NULL for no setup). */
static adapt_status case_adapter(const char *case_dir, const cJSON *cs, const char **name)
{
    *name = NULL;
    const cJSON *setup = cJSON_GetObjectItemCaseSensitive(cs, "setup"), *lora = cJSON_GetObjectItemCaseSensitive(cs, "lora");
    if (lora && !cJSON_IsNull(lora)) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: LoRA is not supported on the GPU yet", case_dir);
    if (!setup || cJSON_IsNull(setup)) return ADAPT_OK;
    const cJSON *kind = cJSON_GetArrayItem(setup, 0), *n = cJSON_GetArrayItem(setup, 1);
    if (cJSON_GetArraySize(setup) != 2 || !cJSON_IsString(kind) || strcmp(kind->valuestring, "single") || !cJSON_IsString(n))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: only a single adapter is supported on the GPU yet", case_dir);
    *name = n->valuestring;
    return ADAPT_OK;
}

/* Every folder of "files" that holds an AdapterHub adapter (with its head, if saved beside it). */
static adapt_status load_adapter_folders(adapt_model *m, const char *case_dir, const cJSON *cs)
{
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cs, "files");
    for (const cJSON *f = files ? files->child : NULL; f; f = f->next) {
        if (!cJSON_IsString(f) || !strcmp(f->string, "classifier")) continue;
        char *dir = path_join(case_dir, f->valuestring), *cfg = dir ? path_join(dir, "adapter_config.json") : NULL;
        char *hcfg = dir ? path_join(dir, "head_config.json") : NULL;
        adapt_status s = dir && cfg && hcfg ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        if (!s && path_exists(cfg)) s = adapterhub_load_adapter(m, dir, NULL, NULL, 0);
        head h;
        if (!s && path_exists(hcfg)) s = adapterhub_load_head(m, dir, NULL, &h);
        free(dir);
        free(cfg);
        free(hcfg);
        TRY(s);
    }
    return ADAPT_OK;
}

static adapt_status run(const char *case_dir, const cJSON *cs, outputs *out)
{
    const char *model_rel, *what = "case.json", *adapter = NULL;
    TRY(json_get_str(cs, "model", what, &model_rel));
    TRY(case_adapter(case_dir, cs, &adapter));
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(cs, "head");
    const char *kind = cJSON_IsArray(head) && cJSON_IsString(head->child) ? head->child->valuestring : "";
    const cJSON *head_name = cJSON_GetArrayItem(head, 1);
    bool mlm = !strcmp(kind, "mlm"), tagging = !strcmp(kind, "tagging") && cJSON_IsString(head_name);
    if (!mlm && !tagging && strcmp(kind, "token_classifier"))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: head \"%s\" is not supported on the GPU yet", case_dir, kind);
    char head_w[160] = "classifier.weight", head_b[160] = "classifier.bias";
    if (tagging) { /* AdapterHub's tagging head: dropout, then the linear layer at index 1 */
        snprintf(head_w, sizeof head_w, "heads.%s.1.weight", head_name->valuestring);
        snprintf(head_b, sizeof head_b, "heads.%s.1.bias", head_name->valuestring);
    }
    char *model_dir = model_rel[0] == '/' ? strdup(model_rel) : path_join(case_dir, model_rel);
    if (!model_dir) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_model *m = NULL;
    adapt_status s = adapt_model_load(model_dir, &m);
    free(model_dir);
    if (s) return s;
    inputs in;
    gpu_model *g = NULL;
    int32_t *pos = NULL;
    float *logits = NULL;
    s = load_inputs(case_dir, &in);
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cs, "files"), *cls = cJSON_GetObjectItemCaseSensitive(files, "classifier");
    if (!s && cJSON_IsString(cls)) {
        char *p = path_join(case_dir, cls->valuestring);
        s = p ? store_load_safetensors(&m->store, p, NULL, NULL, NULL) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        free(p);
    }
    if (!s && adapter) s = load_adapter_folders(m, case_dir, cs);
    if (!s && adapter) s = setup_activate(m, adapter);
    const cJSON *trainable = cJSON_GetObjectItemCaseSensitive(cs, "trainable");
    for (const cJSON *t = cJSON_IsArray(trainable) ? trainable->child : NULL; !s && t; t = t->next) {
        param *p = cJSON_IsString(t) ? store_get(&m->store, t->valuestring) : NULL;
        s = p ? store_set_trainable(p, true) : adapt_fail(ADAPT_ERR_FORMAT, "case: trainable tensor \"%s\" does not exist", cJSON_IsString(t) ? t->valuestring : "?");
    }
    bool train = cJSON_GetArraySize(trainable) > 0 && in.labels;
    int N = in.B * in.T, H = m->cfg.hidden, C = 0;
    if (!s) {
        pos = malloc((size_t)N * sizeof *pos);
        s = pos ? model_position_ids(&m->cfg, in.B, in.T, in.ids, pos) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    if (!s) {
        gpu_options o = {.precision = GPU_FP32, .max_B = in.B, .max_T = in.T, .max_head_rows = N, .train = train,
                         .head = mlm ? GPU_HEAD_MLM : GPU_HEAD_TOKEN, .head_w = head_w, .head_b = head_b};
        s = gpu_model_create(m, &o, &g);
    }
    if (!s) {
        param *cw = store_get(&m->store, head_w);
        C = mlm ? m->cfg.vocab : (int)cw->shape[0];
        int counted = 0;
        for (int i = 0; in.labels && i < N; i++) counted += in.labels[i] != -100;
        gpu_batch b = {.B = in.B, .T = in.T, .ids = in.ids, .pos_ids = pos, .type_ids = in.types, .mask = in.mask, .n_rows = N,
                       .labels = in.labels, .label_scale = counted ? 1.0f / counted : 0.0f};
        s = gpu_upload_batch(g, &b);
        if (!s) s = gpu_forward(g, false, 0);
        if (!s && train) s = gpu_backward(g);
    }
    for (int l = 0; !s && l <= m->cfg.layers; l++) {
        char name[64];
        int64_t shape[3] = {in.B, in.T, H};
        snprintf(name, sizeof name, "hidden_states.%d", l);
        float *buf = out_add(out, name, 3, shape);
        s = buf ? gpu_download_hidden(g, l, buf) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    if (!s) {
        int64_t shape[3] = {in.B, in.T, C};
        logits = out_add(out, "logits", 3, shape);
        s = logits ? gpu_download_logits(g, logits) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    if (!s && in.labels) {
        int64_t one = 1;
        float *loss = out_add(out, "loss", 1, &one);
        double sum;
        s = loss ? gpu_read_loss(g, &sum, NULL) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        if (!s) loss[0] = (float)sum;
    }
    if (!s && train) s = gpu_download_grads(g);
    for (const cJSON *t = train ? trainable->child : NULL; !s && t; t = t->next) {
        char name[600];
        const param *p = store_get(&m->store, t->valuestring);
        snprintf(name, sizeof name, "grad.%s", t->valuestring);
        float *buf = out_add(out, name, p->ndim, p->shape);
        if (!buf) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        else memcpy(buf, p->grad, p->numel * sizeof(float));
    }
    gpu_model_free(g);
    free(pos);
    free_inputs(&in);
    adapt_model_free(m);
    return s;
}

int gpu_cmd_case(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: adapt-gpu case CASE_DIR OUT.safetensors\n");
        return 1;
    }
    char *case_path = path_join(argv[0], "case.json");
    cJSON *cs = NULL;
    outputs out = {0};
    adapt_status s = case_path ? json_load_file(case_path, &cs) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(case_path);
    if (!s) s = run(argv[0], cs, &out);
    if (!s) s = adapt_safetensors_write(argv[1], out.items, out.count, NULL, 0);
    cJSON_Delete(cs);
    out_free(&out);
    if (s) {
        fprintf(stderr, "adapt-gpu case: %s\n", adapt_error());
        return s == ADAPT_ERR_UNSUPPORTED ? 3 : 1;
    }
    return 0;
}
