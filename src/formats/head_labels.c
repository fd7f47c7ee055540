#include "formats/head_labels.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void head_labels_free(char **labels, int n)
{
    for (int i = 0; labels && i < n; i++) free(labels[i]);
    free(labels);
}

static adapt_status fill(const cJSON *l2i, const char *path, char **labels, int n)
{
    if (!cJSON_IsObject(l2i)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: config has no \"label2id\" object", path);
    for (const cJSON *e = l2i->child; e; e = e->next) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (v < 0 || v >= n || v != (double)(int)v || labels[(int)v])
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: label2id entry \"%.80s\" has an id outside [0, %d) or a repeated id", path, e->string, n);
        if (!(labels[(int)v] = strdup(e->string))) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++)
        if (!labels[i]) return adapt_fail(ADAPT_ERR_FORMAT, "%s: label2id has no label for id %d", path, i);
    return ADAPT_OK;
}

adapt_status head_labels_read(const char *dir, char ***labels, int *n_labels, char *head_type, size_t type_size)
{
    *labels = NULL;
    *n_labels = 0;
    char *path = path_join(dir, "head_config.json");
    cJSON *root = NULL;
    adapt_status s = path ? json_load_file(path, &root) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    const cJSON *cfg = root ? cJSON_GetObjectItemCaseSensitive(root, "config") : NULL;
    long long n = 0;
    const char *type = NULL;
    if (!s && !cJSON_IsObject(cfg)) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: missing \"config\" object", path);
    if (!s) s = json_get_int(cfg, "num_labels", 1, 1 << 20, path, &n);
    if (!s) s = json_get_str(cfg, "head_type", path, &type);
    char **l = s ? NULL : calloc((size_t)n, sizeof *l);
    if (!s && !l) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) s = fill(cJSON_GetObjectItemCaseSensitive(cfg, "label2id"), path, l, (int)n);
    if (!s && head_type) snprintf(head_type, type_size, "%s", type);
    if (s) head_labels_free(l, (int)n);
    else {
        *labels = l;
        *n_labels = (int)n;
    }
    cJSON_Delete(root);
    free(path);
    return s;
}
