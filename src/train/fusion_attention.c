#include "train/fusion_attention.h"
#include "adapters/compose.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/svg.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first Fuse block of a composition (its children name the fused adapters). */
static const comp_node *find_fuse(const comp_node *n)
{
    if (!n) return NULL;
    if (n->kind == COMP_FUSE) return n;
    for (int i = 0; i < n->n; i++) {
        const comp_node *f = find_fuse(n->children[i]);
        if (f) return f;
    }
    return NULL;
}

static int row_of(fusion_attention *fa, int layer, bool attention)
{
    for (int r = 0; r < fa->n_rows; r++)
        if (fa->layer[r] == layer && fa->attention[r] == attention) return r;
    if (fa->n_rows == FA_MAX_ROWS) return -1;
    fa->layer[fa->n_rows] = layer;
    fa->attention[fa->n_rows] = attention;
    return fa->n_rows++;
}

/* Adds the probabilities of one point over the batch's real tokens. */
static adapt_status add_point(fusion_attention *fa, const point_cache *pc, int layer, bool attention, const batch *b)
{
    int n = 0;
    const float *p = adapter_point_fusion_probs(pc, &n);
    if (!p) return ADAPT_OK;
    if (n != fa->n_adapters) return adapt_fail(ADAPT_ERR_ARG, "layer %d: a fusion of %d adapters ran, expected %d", layer, n, fa->n_adapters);
    int r = row_of(fa, layer, attention);
    if (r < 0) return adapt_fail(ADAPT_ERR_ARG, "more than %d fusion locations", FA_MAX_ROWS);
    for (int i = 0; i < b->B * b->T; i++)
        if (b->mask[i])
            for (int k = 0; k < n; k++) fa->sum[r][k] += p[(size_t)i * n + k];
    return ADAPT_OK;
}

adapt_status fusion_attention_collect(tagger *t, const encoded_set *enc, fusion_attention *fa)
{
    memset(fa, 0, sizeof *fa);
    adapt_model *m = t->m;
    const comp_node *fuse = find_fuse(m->setup ? m->setup->active : NULL);
    if (!fuse) return adapt_fail(ADAPT_ERR_ARG, "the active setup has no Fuse(...) block: load a fusion (--fusion DIR) or give --setup");
    fa->n_adapters = fuse->n;
    for (int i = 0; i < fuse->n; i++) snprintf(fa->adapters[i], ADAPTER_NAME_MAX, "%s", fuse->children[i]->name);
    size_t *order = malloc((size_t)t->batch_size * sizeof(size_t));
    adapt_status s = order ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    m->training = false;
    for (size_t start = 0; !s && start < enc->n; start += (size_t)t->batch_size) {
        int B = (int)(enc->n - start < (size_t)t->batch_size ? enc->n - start : (size_t)t->batch_size);
        for (int i = 0; i < B; i++) order[i] = start + (size_t)i;
        batch b;
        s = batch_build(enc, order, B, m->cfg.pad_id, &b);
        if (s) break;
        s = model_forward(m, b.B, b.T, b.ids, b.mask, b.type_ids);
        for (int l = 0; !s && l < m->cfg.layers; l++) {
            s = add_point(fa, m->fw.layers[l].attn_point, l, true, &b);
            if (!s) s = add_point(fa, m->fw.layers[l].out_point, l, false, &b);
        }
        for (int i = 0; i < b.B * b.T; i++) fa->tokens += b.mask[i] != 0;
        batch_free(&b);
    }
    free(order);
    if (!s && !fa->tokens) s = adapt_fail(ADAPT_ERR_ARG, "no tokens to average over");
    if (!s && !fa->n_rows) s = adapt_fail(ADAPT_ERR_ARG, "the fusion did not run at any layer");
    for (int r = 0; !s && r < fa->n_rows; r++)
        for (int k = 0; k < fa->n_adapters; k++) fa->sum[r][k] /= (double)fa->tokens;
    return s;
}

/* ------------------------------------------------------------------ output */
static void row_label(const fusion_attention *fa, int r, char *buf, size_t size)
{
    snprintf(buf, size, "layer %d%s", fa->layer[r], fa->attention[r] ? " attention" : "");
}

static adapt_status write_svg(const char *prefix, const char *title, const char *const *rows, int n_rows, const char *const *cols,
                              int n_cols, const double *values)
{
    char *path = malloc(strlen(prefix) + 8);
    if (!path) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    sprintf(path, "%s.svg", prefix);
    adapt_status s = svg_heatmap(path, title, rows, (size_t)n_rows, cols, (size_t)n_cols, values);
    free(path);
    return s;
}

static adapt_status write_json(const char *prefix, cJSON *root)
{
    char *path = malloc(strlen(prefix) + 8), *text = cJSON_Print(root);
    adapt_status s = path && text ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) {
        sprintf(path, "%s.json", prefix);
        s = file_write_atomic(path, text, strlen(text));
    }
    free(path);
    free(text);
    return s;
}

adapt_status fusion_attention_write(const fusion_attention *fa, const char *task, const char *data, const char *prefix)
{
    cJSON *root = cJSON_CreateObject(), *adapters = cJSON_CreateArray(), *layers = cJSON_CreateArray(), *avg = cJSON_CreateArray();
    double values[FA_MAX_ROWS * FUSION_MAX_ADAPTERS];
    char labels[FA_MAX_ROWS][32];
    const char *rows[FA_MAX_ROWS], *cols[FUSION_MAX_ADAPTERS];
    if (!root || !adapters || !layers || !avg) {
        cJSON_Delete(root), cJSON_Delete(adapters), cJSON_Delete(layers), cJSON_Delete(avg);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    cJSON_AddStringToObject(root, "task", task);
    cJSON_AddStringToObject(root, "data", data);
    cJSON_AddNumberToObject(root, "tokens", (double)fa->tokens);
    for (int k = 0; k < fa->n_adapters; k++) {
        cJSON_AddItemToArray(adapters, cJSON_CreateString(fa->adapters[k]));
        cols[k] = fa->adapters[k];
        double mean = 0;
        for (int r = 0; r < fa->n_rows; r++) mean += fa->sum[r][k] / fa->n_rows;
        cJSON_AddItemToArray(avg, cJSON_CreateNumber(mean));
    }
    for (int r = 0; r < fa->n_rows; r++) {
        cJSON *row = cJSON_CreateObject(), *w = cJSON_CreateArray();
        cJSON_AddNumberToObject(row, "layer", fa->layer[r]);
        cJSON_AddStringToObject(row, "location", fa->attention[r] ? "attention.output" : "output");
        for (int k = 0; k < fa->n_adapters; k++) {
            cJSON_AddItemToArray(w, cJSON_CreateNumber(fa->sum[r][k]));
            values[r * fa->n_adapters + k] = fa->sum[r][k];
        }
        cJSON_AddItemToObject(row, "weights", w);
        cJSON_AddItemToArray(layers, row);
        row_label(fa, r, labels[r], sizeof labels[r]);
        rows[r] = labels[r];
    }
    cJSON_AddItemToObject(root, "adapters", adapters);
    cJSON_AddItemToObject(root, "layers", layers);
    cJSON_AddItemToObject(root, "average", avg);
    adapt_status s = write_json(prefix, root);
    cJSON_Delete(root);
    char title[128];
    snprintf(title, sizeof title, "AdapterFusion attention on %.60s", task);
    if (!s) s = write_svg(prefix, title, rows, fa->n_rows, cols, fa->n_adapters, values);
    return s;
}

/* One combined row from a run's JSON: its task and "average"; the adapters must match the first. */
static adapt_status read_run(const char *path, cJSON *first_adapters, cJSON **root, const char **task, double *row, int *n)
{
    TRY(json_load_file(path, root));
    TRY(json_get_str(*root, "task", path, task));
    const cJSON *ad = cJSON_GetObjectItemCaseSensitive(*root, "adapters"), *avg = cJSON_GetObjectItemCaseSensitive(*root, "average");
    int na = cJSON_IsArray(ad) ? cJSON_GetArraySize(ad) : 0;
    if (na < 1 || na > FUSION_MAX_ADAPTERS || !cJSON_IsArray(avg) || cJSON_GetArraySize(avg) != na)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: needs \"adapters\" (1 to %d names) and an \"average\" of the same length", path, FUSION_MAX_ADAPTERS);
    if (first_adapters && !cJSON_Compare(first_adapters, ad, true))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: fuses other adapters (or another order) than the first run", path);
    for (int k = 0; k < na; k++) {
        const cJSON *v = cJSON_GetArrayItem(avg, k);
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1))
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: \"average\"[%d] is not a probability", path, k);
        row[k] = v->valuedouble;
    }
    *n = na;
    return ADAPT_OK;
}

adapt_status fusion_attention_combine(const char *const *json_paths, int n, const char *prefix)
{
    if (n < 1 || n > FA_MAX_ROWS) return adapt_fail(ADAPT_ERR_ARG, "combine: 1 to %d runs", FA_MAX_ROWS);
    cJSON **roots = calloc((size_t)n, sizeof *roots);
    const char **tasks = calloc((size_t)n, sizeof *tasks), *cols[FUSION_MAX_ADAPTERS];
    double *values = calloc((size_t)n * FUSION_MAX_ADAPTERS, sizeof(double));
    adapt_status s = roots && tasks && values ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    int na = 0;
    for (int i = 0; !s && i < n; i++) {
        cJSON *first = i ? cJSON_GetObjectItemCaseSensitive(roots[0], "adapters") : NULL;
        int k = 0;
        s = read_run(json_paths[i], first, &roots[i], &tasks[i], values + (size_t)i * FUSION_MAX_ADAPTERS, &k);
        na = k;
    }
    /* pack rows of FUSION_MAX_ADAPTERS into rows of na */
    for (int i = 0; !s && i < n; i++) memmove(values + (size_t)i * na, values + (size_t)i * FUSION_MAX_ADAPTERS, (size_t)na * sizeof(double));
    cJSON *out = s ? NULL : cJSON_CreateObject();
    if (!s && !out) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) {
        const cJSON *ad = cJSON_GetObjectItemCaseSensitive(roots[0], "adapters");
        for (int k = 0; k < na; k++) cols[k] = cJSON_GetArrayItem(ad, k)->valuestring;
        cJSON_AddItemToObject(out, "adapters", cJSON_Duplicate(ad, true));
        cJSON *rows = cJSON_AddArrayToObject(out, "tasks");
        for (int i = 0; i < n; i++) {
            cJSON *row = cJSON_CreateObject();
            cJSON_AddStringToObject(row, "task", tasks[i]);
            cJSON_AddItemToObject(row, "average", cJSON_CreateDoubleArray(values + (size_t)i * na, na));
            cJSON_AddItemToArray(rows, row);
        }
        s = write_json(prefix, out);
    }
    if (!s) s = write_svg(prefix, "AdapterFusion attention by target task", tasks, n, cols, na, values);
    cJSON_Delete(out);
    for (int i = 0; roots && i < n; i++) cJSON_Delete(roots[i]);
    free(roots);
    free(tasks);
    free(values);
    return s;
}
