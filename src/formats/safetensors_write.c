/* safetensors writer: header padded with spaces to a multiple of 8, tensors in the order given,
 * written atomically so an interrupted save never destroys an existing file. */
#include "core/error.h"
#include "core/fileio.h"
#include "formats/safetensors.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static cJSON *build_header(const adapt_tensor_desc *ts, size_t n, const char *const *meta, size_t n_meta, const char *path,
                           adapt_status *status)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) goto nomem;
    if (n_meta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        if (!m) goto nomem;
        for (size_t i = 0; i < n_meta; i++)
            if (!cJSON_AddStringToObject(m, meta[2 * i], meta[2 * i + 1])) goto nomem;
    }
    size_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const adapt_tensor_desc *t = &ts[i];
        if (!t->name || !*t->name || !strcmp(t->name, "__metadata__") || t->ndim < 0 || t->ndim > ADAPT_MAX_DIMS ||
            !dtype_size(t->dtype)) {
            *status = adapt_fail(ADAPT_ERR_ARG, "%s: tensor %zu has an invalid name, rank or dtype", path, i);
            cJSON_Delete(root);
            return NULL;
        }
        if (cJSON_GetObjectItemCaseSensitive(root, t->name)) {
            *status = adapt_fail(ADAPT_ERR_ARG, "%s: tensor \"%s\" given twice", path, t->name);
            cJSON_Delete(root);
            return NULL;
        }
        size_t numel = 1;
        double shape[ADAPT_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) {
            numel *= (size_t)t->shape[d];
            shape[d] = (double)t->shape[d];
        }
        size_t nbytes = numel * dtype_size(t->dtype);
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        double offs[2] = {(double)offset, (double)(offset + nbytes)};
        if (!e || !cJSON_AddStringToObject(e, "dtype", dtype_name(t->dtype)) ||
            !cJSON_AddItemToObject(e, "shape", cJSON_CreateDoubleArray(shape, t->ndim)) ||
            !cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateDoubleArray(offs, 2)))
            goto nomem;
        offset += nbytes;
    }
    return root;
nomem:
    cJSON_Delete(root);
    *status = adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory building the header", path);
    return NULL;
}

adapt_status adapt_safetensors_write(const char *path, const adapt_tensor_desc *ts, size_t n, const char *const *meta, size_t n_meta)
{
    adapt_status s = ADAPT_OK;
    cJSON *root = build_header(ts, n, meta, n_meta, path, &s);
    if (!root) return s;
    char *hdr = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!hdr) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    size_t hlen = strlen(hdr), padded = (hlen + 7) & ~(size_t)7;
    unsigned char lenbytes[8];
    for (int i = 0; i < 8; i++) lenbytes[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    atomic_file af;
    s = atomic_file_begin(&af, path);
    if (s) {
        free(hdr);
        return s;
    }
    bool ok = fwrite(lenbytes, 1, 8, af.fp) == 8 && fwrite(hdr, 1, hlen, af.fp) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', af.fp) != EOF;
    free(hdr);
    for (size_t i = 0; ok && i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < ts[i].ndim; d++) numel *= (size_t)ts[i].shape[d];
        size_t nbytes = numel * dtype_size(ts[i].dtype);
        ok = nbytes == 0 || fwrite(ts[i].data, 1, nbytes, af.fp) == nbytes;
    }
    if (!ok) {
        atomic_file_abort(&af);
        return adapt_fail(ADAPT_ERR_IO, "%s: write failed", path);
    }
    return atomic_file_commit(&af);
}
