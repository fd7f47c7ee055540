#include "case_files.h"
#include "core/error.h"
#include "core/fileio.h"
#include "formats/adapterhub.h"
#include "formats/param_io.h"
#include "formats/safetensors.h"
#include "model/heads.h"
#include <stdlib.h>
#include <string.h>

float *output_add(output_list *o, const char *name, int ndim, const int64_t *shape)
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
    for (int i = 0; i < ndim; i++) d->shape[i] = shape[i];
    d->data = buf;
    o->names[o->count] = nm;
    o->buffers[o->count] = buf;
    o->count++;
    return buf;
}

void output_free(output_list *o)
{
    for (size_t i = 0; i < o->count; i++) {
        free(o->names[i]);
        free(o->buffers[i]);
    }
    free(o->items);
    free(o->names);
    free(o->buffers);
}

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

int32_t *case_narrow(const int64_t *v, size_t n)
{
    if (!v) return NULL;
    int32_t *r = malloc(n * sizeof *r);
    for (size_t i = 0; r && i < n; i++) r[i] = v[i] < INT32_MIN ? INT32_MIN : v[i] > INT32_MAX ? INT32_MAX : (int32_t)v[i];
    return r;
}

adapt_status case_load_inputs(const char *case_dir, case_inputs *in)
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
    in->ids = case_narrow(v_ids, n);
    in->mask = case_narrow(v_mask, n);
    in->type_ids = case_narrow(v_types, n);
    free(v_ids);
    free(v_mask);
    free(v_types);
    if (!s && !in->mask) {
        in->mask = malloc(n * sizeof(int32_t));
        for (size_t i = 0; in->mask && i < n; i++) in->mask[i] = 1;
    }
    return s;
}

void case_free_inputs(case_inputs *in)
{
    free(in->ids);
    free(in->mask);
    free(in->type_ids);
    free(in->labels);
}

/* The AdapterHub folders a case names under "files" (a string or a list of strings per key). */
static size_t case_folders(const char *case_dir, const cJSON *cs, char **out, size_t max)
{
    size_t n = 0;
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cs, "files");
    for (const cJSON *e = cJSON_IsObject(files) ? files->child : NULL; e; e = e->next) {
        if (!strcmp(e->string, "peft") || !strcmp(e->string, "classifier")) continue; /* loaded on their own */
        const cJSON *items = cJSON_IsArray(e) ? e->child : e;
        for (const cJSON *v = items; v && n < max; v = cJSON_IsArray(e) ? v->next : NULL)
            if (cJSON_IsString(v)) out[n++] = path_join(case_dir, v->valuestring);
    }
    return n;
}

adapt_status case_setup_text(const cJSON *t, char *buf, size_t size)
{
    if (cJSON_IsString(t)) {
        snprintf(buf, size, "%s", t->valuestring);
        return ADAPT_OK;
    }
    const cJSON *kind = cJSON_GetArrayItem(t, 0), *kids = cJSON_GetArrayItem(t, 1);
    if (!cJSON_IsString(kind)) return adapt_fail(ADAPT_ERR_FORMAT, "case.json: malformed setup");
    if (!strcmp(kind->valuestring, "single") && cJSON_IsString(kids)) {
        snprintf(buf, size, "%s", kids->valuestring);
        return ADAPT_OK;
    }
    const char *block = !strcmp(kind->valuestring, "stack") ? "Stack" : !strcmp(kind->valuestring, "fuse") ? "Fuse"
                        : !strcmp(kind->valuestring, "batchsplit") ? "BatchSplit" : NULL;
    if (!block || !cJSON_IsArray(kids)) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "case.json: setup kind \"%s\"", kind->valuestring);
    size_t k = (size_t)snprintf(buf, size, "%s(", block);
    for (const cJSON *c = kids->child; c && k < size; c = c->next) {
        TRY(case_setup_text(c, buf + k, size - k));
        k = strlen(buf);
        if (c->next && k < size) k += (size_t)snprintf(buf + k, size - k, ", ");
    }
    if (!strcmp(block, "BatchSplit")) {
        const cJSON *sizes = cJSON_GetArrayItem(t, 2);
        k += (size_t)snprintf(buf + k, size > k ? size - k : 0, ", batch_sizes=[");
        for (const cJSON *c = cJSON_IsArray(sizes) ? sizes->child : NULL; c && k < size; c = c->next)
            k += (size_t)snprintf(buf + k, size - k, "%s%d", c == sizes->child ? "" : ",", c->valueint);
        if (k < size) k += (size_t)snprintf(buf + k, size - k, "]");
    }
    if (k < size) snprintf(buf + k, size - k, ")");
    return ADAPT_OK;
}

static adapt_status load_folders(adapt_model *m, char **folders, size_t nf, const char *case_dir, const cJSON *cs)
{
    for (size_t i = 0; i < nf; i++) {
        char *p = path_join(folders[i], "adapter_config.json");
        bool is_adapter = p && path_exists(p);
        free(p);
        if (is_adapter) TRY(adapterhub_load_adapter(m, folders[i], NULL, NULL, 0));
    }
    for (size_t i = 0; i < nf; i++) {
        char *hp = path_join(folders[i], "head_config.json"), *fp = path_join(folders[i], "adapter_fusion_config.json");
        bool has_head = hp && path_exists(hp), has_fusion = fp && path_exists(fp);
        free(hp);
        free(fp);
        head h;
        if (has_head) TRY(adapterhub_load_head(m, folders[i], NULL, &h));
        if (has_fusion) TRY(adapterhub_load_fusion(m, folders[i]));
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

adapt_status case_load_files(adapt_model *m, const char *case_dir, const cJSON *cs)
{
    char *folders[16];
    size_t nf = case_folders(case_dir, cs, folders, 16);
    adapt_status s = load_folders(m, folders, nf, case_dir, cs);
    for (size_t i = 0; i < nf; i++) free(folders[i]);
    return s;
}
