#include "formats/checkpoint.h"
#include "core/error.h"
#include "core/json.h"
#include <stdlib.h>
#include <string.h>

adapt_status tensor_source_open_file(const char *path, tensor_source *src)
{
    memset(src, 0, sizeof *src);
    src->files = calloc(1, sizeof *src->files);
    if (!src->files) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    adapt_status s = st_open(path, &src->files[0]);
    if (s) {
        free(src->files);
        src->files = NULL;
        return s;
    }
    src->nfiles = 1;
    return ADAPT_OK;
}

/* A shard name from the index must stay inside the model folder. */
static bool safe_shard_name(const char *name)
{
    return *name && !strchr(name, '/') && !strchr(name, '\\') && strcmp(name, ".") && strcmp(name, "..");
}

static adapt_status open_sharded(const char *dir, const char *index_path, tensor_source *src)
{
    cJSON *root;
    TRY(json_load_file(index_path, &root));
    adapt_status s = ADAPT_OK;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map) || !map->child) {
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s: missing or empty \"weight_map\" object", index_path);
        goto done;
    }
    /* Distinct shard names, in order of first appearance. */
    size_t n = (size_t)cJSON_GetArraySize(map);
    const char **names = calloc(n, sizeof *names);
    src->files = calloc(n, sizeof *src->files);
    if (!names || !src->files) {
        free(names);
        s = adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", index_path);
        goto done;
    }
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !safe_shard_name(e->valuestring)) {
            s = adapt_fail(ADAPT_ERR_FORMAT, "%s: weight_map[\"%s\"] is not a file name in the model folder", index_path, e->string);
            break;
        }
        size_t k = 0;
        while (k < src->nfiles && strcmp(names[k], e->valuestring)) k++;
        if (k == src->nfiles) {
            char *shard = path_join(dir, e->valuestring);
            if (!shard) { s = adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", index_path); break; }
            s = st_open(shard, &src->files[k]);
            free(shard);
            if (s) break;
            names[k] = e->valuestring;
            src->nfiles++;
        }
        if (!st_find(&src->files[k], e->string)) {
            s = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" is not in shard %s", index_path, e->string, names[k]);
            break;
        }
    }
    free(names);
done:
    cJSON_Delete(root);
    if (s) tensor_source_close(src);
    return s;
}

adapt_status tensor_source_open_dir(const char *dir, tensor_source *src)
{
    memset(src, 0, sizeof *src);
    char *single = path_join(dir, "model.safetensors");
    char *index = path_join(dir, "model.safetensors.index.json");
    adapt_status s;
    if (!single || !index) s = adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", dir);
    else if (path_exists(single)) s = tensor_source_open_file(single, src);
    else if (path_exists(index)) s = open_sharded(dir, index, src);
    else s = adapt_fail(ADAPT_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", dir);
    free(single);
    free(index);
    return s;
}

void tensor_source_close(tensor_source *src)
{
    for (size_t i = 0; i < src->nfiles; i++) st_close(&src->files[i]);
    free(src->files);
    memset(src, 0, sizeof *src);
}

const st_tensor *tensor_source_find(const tensor_source *src, const char *name, const st_file **file)
{
    for (size_t i = 0; i < src->nfiles; i++) {
        const st_tensor *t = st_find(&src->files[i], name);
        if (t) {
            if (file) *file = &src->files[i];
            return t;
        }
    }
    return NULL;
}
