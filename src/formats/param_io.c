#include "formats/param_io.h"
#include "core/error.h"
#include "formats/safetensors.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

adapt_status store_load_safetensors(param_store *s, const char *path, param_rename_fn rename, void *ctx, size_t *loaded)
{
    st_file f;
    TRY(st_open(path, &f));
    adapt_status st = ADAPT_OK;
    size_t count = 0;
    for (size_t i = 0; i < f.count && !st; i++) {
        const st_tensor *t = &f.tensors[i];
        char name[512];
        if (rename) {
            if (!rename(t->name, name, sizeof name, ctx)) continue;
        } else {
            snprintf(name, sizeof name, "%s", t->name);
        }
        if (t->dtype != ADAPT_DTYPE_F32 && t->dtype != ADAPT_DTYPE_F16 && t->dtype != ADAPT_DTYPE_BF16 && t->dtype != ADAPT_DTYPE_F64) {
            st = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" has dtype %s, expected a float type", path, t->name, dtype_name(t->dtype));
            break;
        }
        if (t->ndim > 4) {
            st = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" has %d dimensions", path, t->name, t->ndim);
            break;
        }
        param *p = store_get(s, name);
        if (p) {
            bool same = p->ndim == t->ndim;
            for (int d = 0; same && d < t->ndim; d++) same = p->shape[d] == t->shape[d];
            if (!same) {
                st = adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" does not have the shape of \"%s\" in the model", path, t->name, name);
                break;
            }
        } else {
            st = store_add(s, name, t->ndim, t->shape, &p);
            if (st) break;
        }
        char what[1100];
        snprintf(what, sizeof what, "loading %.1024s", path);
        st = param_require_fp32(p, what); /* a bf16-held tensor is frozen: nothing loads into it */
        if (!st) st = st_to_f32(&f, t, p->data);
        count++;
    }
    st_close(&f);
    if (loaded) *loaded = count;
    return st;
}

adapt_status store_save_safetensors(const param_store *s, const char *path, const char *const *names,
                                    const char *const *file_names, size_t n, const char *const *metadata, size_t n_meta)
{
    adapt_tensor_desc *d = calloc(n ? n : 1, sizeof *d);
    if (!d) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) {
        const param *p = store_get(s, names[i]);
        char what[1100];
        snprintf(what, sizeof what, "saving %.1024s", path);
        adapt_status bad = p ? param_require_fp32(p, what) : adapt_fail(ADAPT_ERR_ARG, "%s: no tensor \"%s\" to save", path, names[i]);
        if (bad) {
            free(d);
            return bad;
        }
        d[i].name = file_names ? file_names[i] : names[i];
        d[i].dtype = ADAPT_DTYPE_F32;
        d[i].ndim = p->ndim;
        for (int k = 0; k < p->ndim; k++) d[i].shape[k] = p->shape[k];
        d[i].data = p->data;
    }
    adapt_status st = adapt_safetensors_write(path, d, n, metadata, n_meta);
    free(d);
    return st;
}
