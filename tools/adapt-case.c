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
    int64_t *labels;                /* NULL when absent */
} case_inputs;

static adapt_status read_int_tensor(const st_file *f, const char *name, int B, int T, int64_t **out)
{
    const st_tensor *t = st_find(f, name);
    *out = NULL;
    if (!t) return ADAPT_OK;
    if (t->ndim != 2 || t->shape[0] != B || t->shape[1] != T)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" must have shape [%d, %d]", f->path, name, B, T);
    *out = malloc((size_t)B * T * sizeof(int64_t));
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
    if (!s) s = read_int_tensor(&f, "labels", in->B, in->T, &in->labels);
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

static adapt_status add_logits_and_loss(const case_inputs *in, output_list *out, const float *logits, int C)
{
    int64_t shape[3] = {in->B, in->T, C};
    float *buf = output_add(out, "logits", 3, shape);
    if (!buf) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    memcpy(buf, logits, (size_t)in->B * in->T * C * sizeof(float));
    if (!in->labels) return ADAPT_OK;
    for (int i = 0; i < in->B * in->T; i++)
        if (in->labels[i] != -100 && (in->labels[i] < 0 || in->labels[i] >= C))
            return adapt_fail(ADAPT_ERR_FORMAT, "label %lld at position %d is outside [0, %d)", (long long)in->labels[i], i, C);
    int64_t one = 1;
    float *loss = output_add(out, "loss", 1, &one);
    if (!loss) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    loss[0] = (float)cross_entropy_forward_backward(NULL, logits, in->labels, in->B * in->T, C, 1.0f);
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
    s = load_inputs(case_dir, &in);
    const cJSON *setup = cJSON_GetObjectItemCaseSensitive(cs, "setup");
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(cs, "head");
    const cJSON *lora = cJSON_GetObjectItemCaseSensitive(cs, "lora");
    const cJSON *trainable = cJSON_GetObjectItemCaseSensitive(cs, "trainable");
    const char *head_kind = cJSON_IsArray(head) && cJSON_IsString(head->child) ? head->child->valuestring : "";
    bool plain = (!setup || cJSON_IsNull(setup)) && (!lora || cJSON_IsNull(lora));
    if (!s && !plain) *complete = false; /* adapters and LoRA: next milestone */
    if (!s && plain) s = model_forward(m, in.B, in.T, in.ids, in.mask, in.type_ids);
    if (!s && plain) s = add_hidden_states(m, &in, out);
    if (!s && plain && !strcmp(head_kind, "mlm")) {
        float *logits = malloc((size_t)in.B * in.T * m->cfg.vocab * sizeof(float));
        s = logits ? model_mlm_forward(m, logits) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        if (!s) s = add_logits_and_loss(&in, out, logits, m->cfg.vocab);
        free(logits);
    } else if (!s && plain) {
        *complete = false;
    }
    if (!s && cJSON_GetArraySize(trainable) > 0) *complete = false; /* gradients: next milestone */
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
