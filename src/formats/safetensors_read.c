/* safetensors reader: maps the file, validates the header completely, exposes tensor views. */
#include "core/error.h"
#include "core/json.h"
#include "formats/safetensors.h"
#include <stdlib.h>
#include <string.h>

static int by_offset(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    return (x->data > y->data) - (x->data < y->data);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

/* Fills one tensor entry from its header object; offsets are checked against the buffer size. */
static adapt_status parse_entry(const char *path, const cJSON *e, const unsigned char *buf, uint64_t buf_len, st_tensor *t)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\": entry is not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\": missing string \"dtype\"", path, name);
    if (!dtype_parse(dt->valuestring, &t->dtype))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%.32s\"", path, name, dt->valuestring);
    if (!cJSON_IsArray(shape)) return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\": missing array \"shape\"", path, name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > ADAPT_MAX_DIMS) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s: tensor \"%s\": %d dimensions (at most %d)", path, name, nd, ADAPT_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9.0e15 || d->valuedouble != (double)(int64_t)d->valuedouble)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\": shape[%d] is not a non-negative integer", path, name, i);
        t->shape[i] = (int64_t)d->valuedouble;
        if (t->shape[i] && numel > UINT64_MAX / 16 / (uint64_t)t->shape[i])
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\": shape overflows", path, name);
        numel *= (uint64_t)t->shape[i];
    }
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\": \"data_offsets\" must be [begin, end]", path, name);
    double b = cJSON_GetArrayItem(offs, 0)->valuedouble, en = cJSON_GetArrayItem(offs, 1)->valuedouble;
    /* Range before the conversions: (uint64_t) of inf or of 2^64 and above is undefined. */
    if (!cJSON_IsNumber(cJSON_GetArrayItem(offs, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(offs, 1)) || !(b >= 0) || !(en >= b) ||
        !(en < 18446744073709551616.0) || b != (double)(uint64_t)b || en != (double)(uint64_t)en)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\": bad data_offsets", path, name);
    uint64_t begin = (uint64_t)b, end = (uint64_t)en;
    if (end > buf_len)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] past the end of the data (%llu bytes)",
                          path, name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)buf_len);
    if (end - begin != numel * dtype_size(t->dtype))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\": %llu bytes for %llu elements of %s", path, name,
                          (unsigned long long)(end - begin), (unsigned long long)numel, dtype_name(t->dtype));
    t->numel = (size_t)numel;
    t->nbytes = (size_t)(end - begin);
    t->data = buf + begin;
    t->name = strdup(name);
    if (!t->name) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    return ADAPT_OK;
}

static adapt_status parse_header(st_file *f, const unsigned char *buf, uint64_t buf_len, const char *hdr, size_t hdr_len)
{
    const char *path = f->path;
    cJSON *root;
    TRY(json_parse(hdr, hdr_len, path, &root));
    adapt_status s = ADAPT_OK;
    if (!cJSON_IsObject(root)) {
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s: header is not a JSON object", path);
        goto done;
    }
    size_t n = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__")) n++;
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors) {
        s = adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            for (const cJSON *m = e->child; cJSON_IsObject(e) && m; m = m->next)
                if (!cJSON_IsString(m)) {
                    s = adapt_fail(ADAPT_ERR_FORMAT, "%s: __metadata__ value \"%s\" is not a string", path, m->string);
                    goto done;
                }
            if (!cJSON_IsObject(e)) {
                s = adapt_fail(ADAPT_ERR_FORMAT, "%s: __metadata__ is not an object", path);
                goto done;
            }
            continue;
        }
        s = parse_entry(path, e, buf, buf_len, &f->tensors[f->count]);
        if (s) goto done;
        f->count++;
    }
    /* Duplicate names: cJSON keeps both entries, so check explicitly. */
    qsort(f->tensors, f->count, sizeof *f->tensors, by_name);
    for (size_t i = 1; i < f->count; i++)
        if (!strcmp(f->tensors[i].name, f->tensors[i - 1].name)) {
            s = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" appears twice", path, f->tensors[i].name);
            goto done;
        }
    /* The data must be exactly covered, in order, without gaps or overlaps. */
    qsort(f->tensors, f->count, sizeof *f->tensors, by_offset);
    const unsigned char *expect = buf;
    for (size_t i = 0; i < f->count; i++) {
        if (f->tensors[i].data != expect) {
            s = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" starts at byte %lld of the data, expected %lld (offsets overlap or leave a gap)",
                           path, f->tensors[i].name, (long long)(f->tensors[i].data - buf), (long long)(expect - buf));
            goto done;
        }
        expect += f->tensors[i].nbytes;
    }
    if ((uint64_t)(expect - buf) != buf_len)
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s: %llu bytes after the last tensor", path, (unsigned long long)(buf_len - (uint64_t)(expect - buf)));
done:
    cJSON_Delete(root);
    return s;
}

adapt_status st_open(const char *path, st_file *f)
{
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    adapt_status s = file_map_open(path, &f->map);
    if (s) goto fail;
    if (f->map.size < 8) {
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors file", path, f->map.size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | f->map.data[i];
    if (hlen > ST_MAX_HEADER_BYTES) {
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s: header length %llu exceeds the %llu-byte limit", path,
                       (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER_BYTES);
        goto fail;
    }
    if (hlen > f->map.size - 8) {
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)", path,
                       (unsigned long long)hlen, f->map.size);
        goto fail;
    }
    if (hlen < 2 || f->map.data[8] != '{') {
        s = adapt_fail(ADAPT_ERR_FORMAT, "%s: header does not start with '{'", path);
        goto fail;
    }
    s = parse_header(f, f->map.data + 8 + hlen, f->map.size - 8 - hlen, (const char *)f->map.data + 8, (size_t)hlen);
    if (s) goto fail;
    return ADAPT_OK;
fail:
    st_close(f);
    return s;
}

void st_close(st_file *f)
{
    for (size_t i = 0; i < f->count; i++) free(f->tensors[i].name);
    free(f->tensors);
    file_map_close(&f->map);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (size_t i = 0; i < f->count; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}
