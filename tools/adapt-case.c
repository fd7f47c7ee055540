/* adapt-case CASE_DIR OUT.safetensors — the fixture runner.
 * Reads CASE_DIR/case.json and the files it names, computes every tensor of the case that adapt
 * supports (hidden_states.N, logits, loss, grad.*, fusion_probs.*, stepK.*) and writes them as F32
 * under the fixture names. Exit 0: all computed; 3: some setup not supported yet (the rest is
 * written); 1: error. It never opens expected.safetensors: comparing is the tests' job. */
#include "adapt.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "formats/safetensors.h"
#include "formats/param_io.h"
#include "model/heads.h"
#include "model/layers.h"
#include "model/model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct output_list {
    adapt_tensor_desc *items;
    char **names;
    float **buffers;
    size_t count, cap;
} output_list;

static float *output_add(output_list *o, const char *name, int ndim, const int64_t *shape)
{
    if (o->count == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 64;
        o->items = realloc(o->items, o->cap * sizeof *o->items);
        o->names = realloc(o->names, o->cap * sizeof *o->names);
        o->buffers = realloc(o->buffers, o->cap * sizeof *o->buffers);
        if (!o->items || !o->names || !o->buffers) return NULL;
    }
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= (size_t)shape[i];
    float *buf = calloc(numel ? numel : 1, sizeof(float));
    char *nm = strdup(name);
    if (!buf || !nm) return NULL;
    adapt_tensor_desc *d = &o->items[o->count];
    memset(d, 0, sizeof *d);
    d->name = nm;
    d->dtype = ADAPT_DTYPE_F32;
    d->ndim = ndim;
    for (int i = 0; i < ndim; i++) d->shape[i] = shape[i];
    d->data = buf;
    o->names[o->count] = nm;
    o->buffers[o->count] = buf;
    o->count++;
    return buf;
}

static void output_free(output_list *o)
{
    for (size_t i = 0; i < o->count; i++) {
        free(o->names[i]);
        free(o->buffers[i]);
    }
    free(o->items);
    free(o->names);
    free(o->buffers);
}

typedef struct case_inputs {
    int B, T;
    int32_t *ids, *mask, *type_ids; /* type_ids NULL when the case has none */
    int64_t *labels;                /* NULL when absent; [B,T] per token or [B] per sequence */
    int label_rows;
} case_inputs;

/* Reads an integer tensor of shape [B, T] (or [B] when T == 0). */
static adapt_status read_int_tensor(const st_file *f, const char *name, int B, int T, int64_t **out)
{
    const st_tensor *t = st_find(f, name);
    *out = NULL;
    if (!t) return ADAPT_OK;
    if (T ? (t->ndim != 2 || t->shape[0] != B || t->shape[1] != T) : (t->ndim != 1 || t->shape[0] != B))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must have shape [%d, %d]", f->path, name, B, T);
    *out = malloc((size_t)B * (T ? T : 1) * sizeof(int64_t));
    if (!*out) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    return st_to_i64(f, t, *out);
}

static int32_t *narrow(const int64_t *v, size_t n)
{
    if (!v) return NULL;
    int32_t *r = malloc(n * sizeof *r);
    for (size_t i = 0; r && i < n; i++) r[i] = v[i] < INT32_MIN ? INT32_MIN : v[i] > INT32_MAX ? INT32_MAX : (int32_t)v[i];
    return r;
}

static adapt_status load_inputs(const char *case_dir, case_inputs *in)
{
    memset(in, 0, sizeof *in);
    char *path = path_join(case_dir, "inputs.safetensors");
    st_file f;
    adapt_status s = st_open(path, &f);
    free(path);
    if (s) return s;
    const st_tensor *ids = st_find(&f, "input_ids");
    if (!ids || ids->ndim != 2 || ids->shape[0] < 1 || ids->shape[1] < 1 || ids->shape[0] * ids->shape[1] > (1 << 22)) {
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s: \"input_ids\" missing or not a [B, T] tensor", f.path);
        st_close(&f);
        return s;
    }
    in->B = (int)ids->shape[0];
    in->T = (int)ids->shape[1];
    size_t n = (size_t)in->B * in->T;
    int64_t *v_ids = NULL, *v_mask = NULL, *v_types = NULL;
    s = read_int_tensor(&f, "input_ids", in->B, in->T, &v_ids);
    if (!s) s = read_int_tensor(&f, "attention_mask", in->B, in->T, &v_mask);
    if (!s) s = read_int_tensor(&f, "token_type_ids", in->B, in->T, &v_types);
    if (!s) {
        const st_tensor *lab = st_find(&f, "labels");
        in->label_rows = lab && lab->ndim == 1 ? in->B : n > 0 ? (int)n : 0;
        s = read_int_tensor(&f, "labels", in->B, lab && lab->ndim == 1 ? 0 : in->T, &in->labels);
    }
    st_close(&f);
    in->ids = narrow(v_ids, n);
    in->mask = narrow(v_mask, n);
    in->type_ids = narrow(v_types, n);
    free(v_ids);
    free(v_mask);
    free(v_types);
    if (!s && !in->mask) {
        in->mask = malloc(n * sizeof(int32_t));
        for (size_t i = 0; in->mask && i < n; i++) in->mask[i] = 1;
    }
    return s;
}

static void free_inputs(case_inputs *in)
{
    free(in->ids);
    free(in->mask);
    free(in->type_ids);
    free(in->labels);
}

static adapt_status add_hidden_states(adapt_model *m, const case_inputs *in, output_list *out)
{
    int64_t shape[3] = {in->B, in->T, m->cfg.hidden};
    for (int l = 0; l <= m->cfg.layers; l++) {
        char name[64];
        snprintf(name, sizeof name, "hidden_states.%d", l);
        float *buf = output_add(out, name, 3, shape);
        if (!buf) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        memcpy(buf, m->fw.hidden[l], (size_t)in->B * in->T * m->cfg.hidden * sizeof(float));
    }
    return ADAPT_OK;
}

/* logits: [B,T,C] for token heads (rows = B*T), [B,C] for sequence heads (rows = B). */
static adapt_status add_logits_and_loss(const case_inputs *in, output_list *out, const float *logits, int rows, int C)
{
    int64_t shape3[3] = {in->B, in->T, C}, shape2[2] = {in->B, C};
    bool per_token = rows == in->B * in->T;
    float *buf = per_token ? output_add(out, "logits", 3, shape3) : output_add(out, "logits", 2, shape2);
    if (!buf) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    memcpy(buf, logits, (size_t)rows * C * sizeof(float));
    if (!in->labels) return ADAPT_OK;
    if (in->label_rows != rows) return adapt_fail(ADAPT_ERR_FORMAT, "case: %d labels for %d head outputs", in->label_rows, rows);
    for (int i = 0; i < rows; i++)
        if (in->labels[i] != -100 && (in->labels[i] < 0 || in->labels[i] >= C))
            return adapt_fail(ADAPT_ERR_FORMAT, "label %lld at position %d is outside [0, %d)", (long long)in->labels[i], i, C);
    int64_t one = 1;
    float *loss = output_add(out, "loss", 1, &one);
    if (!loss) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    loss[0] = (float)cross_entropy_forward_backward(NULL, logits, in->labels, rows, C, 1.0f);
    return ADAPT_OK;
}

/* The folders a case names under "files" (a string or a list of strings per key). */
static size_t case_folders(const char *case_dir, const cJSON *cs, char **out, size_t max)
{
    size_t n = 0;
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cs, "files");
    for (const cJSON *e = cJSON_IsObject(files) ? files->child : NULL; e; e = e->next) {
        const cJSON *items = cJSON_IsArray(e) ? e->child : e;
        for (const cJSON *v = items; v && n < max; v = cJSON_IsArray(e) ? v->next : NULL)
            if (cJSON_IsString(v)) out[n++] = path_join(case_dir, v->valuestring);
    }
    return n;
}

/* Loads the head's tensors from the case's folders: model_head.safetensors (AdapterHub) or a
 * classifier.safetensors file; num_labels comes from the tensors. */
static adapt_status load_head_files(adapt_model *m, char **folders, size_t nf, const char *case_dir, const cJSON *cs)
{
    for (size_t i = 0; i < nf; i++) {
        char *p = path_join(folders[i], "model_head.safetensors");
        if (p && path_exists(p)) {
            adapt_status s = store_load_safetensors(&m->store, p, NULL, NULL, NULL);
            free(p);
            TRY(s);
        } else {
            free(p);
        }
    }
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cs, "files");
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(files, "classifier");
    if (cJSON_IsString(cls)) {
        char *p = path_join(case_dir, cls->valuestring);
        adapt_status s = p ? store_load_safetensors(&m->store, p, NULL, NULL, NULL) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        free(p);
        TRY(s);
    }
    return ADAPT_OK;
}

static adapt_status create_case_head(adapt_model *m, const cJSON *head_spec, head *h)
{
    const char *kind = cJSON_IsArray(head_spec) && cJSON_IsString(head_spec->child) ? head_spec->child->valuestring : "";
    const cJSON *name_item = cJSON_GetArrayItem(head_spec, 1);
    const char *name = cJSON_IsString(name_item) ? name_item->valuestring : "";
    char tensor[160];
    if (!strcmp(kind, "mlm")) return head_create(m, h, HEAD_MLM, "mlm", 0);
    if (!strcmp(kind, "token_classifier")) {
        param *w = store_get(&m->store, "classifier.weight");
        if (!w) return adapt_fail(ADAPT_ERR_FORMAT, "case: no classifier.weight for the token classifier");
        return head_create(m, h, HEAD_TOKEN_CLASSIFIER, "classifier", (int)w->shape[0]);
    }
    bool tagging = !strcmp(kind, "tagging");
    if (!tagging && strcmp(kind, "classification")) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "case: head kind \"%s\"", kind);
    snprintf(tensor, sizeof tensor, "heads.%s.%d.weight", name, tagging ? 1 : 4);
    param *w = store_get(&m->store, tensor);
    if (!w) return adapt_fail(ADAPT_ERR_FORMAT, "case: head tensor \"%s\" not found in the case files", tensor);
    return head_create(m, h, tagging ? HEAD_TAGGING : HEAD_CLASSIFICATION, name, (int)w->shape[0]);
}

static adapt_status add_tensor_output(output_list *out, const char *name, const param *p, const float *values)
{
    float *buf = output_add(out, name, p->ndim, p->shape);
    if (!buf) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    memcpy(buf, values, p->numel * sizeof(float));
    return ADAPT_OK;
}

/* Runs the case; *complete is cleared when part of it is not supported yet. */
static adapt_status run_case(const char *case_dir, const cJSON *cs, output_list *out, bool *complete)
{
    const char *what = "case.json", *model_rel;
    TRY(json_get_str(cs, "model", what, &model_rel));
    char *model_dir = model_rel[0] == '/' ? strdup(model_rel) : path_join(case_dir, model_rel);
    if (!model_dir) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    adapt_model *m = NULL;
    adapt_status s = adapt_model_load(model_dir, &m);
    free(model_dir);
    if (s) return s;
    case_inputs in;
    char *folders[16];
    size_t nf = case_folders(case_dir, cs, folders, 16);
    const cJSON *setup = cJSON_GetObjectItemCaseSensitive(cs, "setup");
    const cJSON *lora = cJSON_GetObjectItemCaseSensitive(cs, "lora");
    const cJSON *trainable = cJSON_GetObjectItemCaseSensitive(cs, "trainable");
    bool plain = (!setup || cJSON_IsNull(setup)) && (!lora || cJSON_IsNull(lora));
    head h;
    float *logits = NULL, *d_logits = NULL, *d_hidden = NULL;
    s = load_inputs(case_dir, &in);
    if (!s && !plain) {
        *complete = false; /* adapters and LoRA: next milestone */
        goto done;
    }
    if (!s) s = load_head_files(m, folders, nf, case_dir, cs);
    if (!s) s = create_case_head(m, cJSON_GetObjectItemCaseSensitive(cs, "head"), &h);
    for (const cJSON *t = cJSON_IsArray(trainable) ? trainable->child : NULL; !s && t; t = t->next) {
        param *p = cJSON_IsString(t) ? store_get(&m->store, t->valuestring) : NULL;
        s = p ? store_set_trainable(p, true) : adapt_fail(ADAPT_ERR_FORMAT, "case: trainable tensor \"%s\" does not exist", cJSON_IsString(t) ? t->valuestring : "?");
    }
    if (s) goto done;
    s = model_forward(m, in.B, in.T, in.ids, in.mask, in.type_ids);
    if (!s) s = add_hidden_states(m, &in, out);
    if (s) goto done;
    int rows = head_rows(m, &h), C = h.num_labels;
    logits = malloc((size_t)rows * C * sizeof(float));
    d_logits = calloc((size_t)rows * C, sizeof(float));
    d_hidden = calloc((size_t)m->fw.N * m->cfg.hidden, sizeof(float));
    if (!logits || !d_logits || !d_hidden) {
        s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        goto done;
    }
    s = head_forward(m, &h, logits);
    if (!s) s = add_logits_and_loss(&in, out, logits, rows, C);
    if (s || !in.labels || cJSON_GetArraySize(trainable) == 0) goto done;
    if (in.label_rows != rows) {
        s = adapt_fail(ADAPT_ERR_FORMAT, "case: %d labels for %d head outputs", in.label_rows, rows);
        goto done;
    }
    cross_entropy_forward_backward(d_logits, logits, in.labels, rows, C, 1.0f);
    s = head_backward(m, &h, d_logits, d_hidden);
    if (!s) s = model_backward(m, d_hidden);
    for (const cJSON *t = trainable->child; !s && t; t = t->next) {
        char name[600];
        snprintf(name, sizeof name, "grad.%s", t->valuestring);
        const param *p = store_get(&m->store, t->valuestring);
        s = add_tensor_output(out, name, p, p->grad);
    }
done:
    free(logits);
    free(d_logits);
    free(d_hidden);
    for (size_t i = 0; i < nf; i++) free(folders[i]);
    free_inputs(&in);
    adapt_model_free(m);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: adapt-case CASE_DIR OUT.safetensors\n");
        return 1;
    }
    char *case_path = path_join(argv[1], "case.json");
    cJSON *cs = NULL;
    adapt_status s = case_path ? json_load_file(case_path, &cs) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    free(case_path);
    output_list out = {0};
    bool complete = true;
    if (!s) s = run_case(argv[1], cs, &out, &complete);
    if (!s) s = adapt_safetensors_write(argv[2], out.items, out.count, NULL, 0);
    cJSON_Delete(cs);
    output_free(&out);
    if (s) {
        fprintf(stderr, "adapt-case: %s\n", adapt_error());
        return 1;
    }
    if (!complete) fprintf(stderr, "adapt-case: %s: some tensors of this case are not supported yet\n", argv[1]);
    return complete ? 0 : 3;
}
