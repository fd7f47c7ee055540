#include "core/store.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>

float *alloc_floats(size_t n)
{
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

void store_init(param_store *s) { memset(s, 0, sizeof *s); }

static void free_param(param *p)
{
    free(p->name);
    free(p->data);
    free(p->bf16);
    free(p->grad);
    free(p->adam_m);
    free(p->adam_v);
    free(p);
}

void store_free(param_store *s)
{
    for (size_t i = 0; i < s->count; i++) free_param(s->items[i]);
    free(s->items);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static bool rehash(param_store *s, size_t nslots)
{
    size_t *slots = calloc(nslots, sizeof *slots);
    if (!slots) return false;
    for (size_t i = 0; i < s->count; i++) {
        size_t j = hash_name(s->items[i]->name) & (nslots - 1);
        while (slots[j]) j = (j + 1) & (nslots - 1);
        slots[j] = i + 1;
    }
    free(s->slots);
    s->slots = slots;
    s->nslots = nslots;
    return true;
}

param *store_get(const param_store *s, const char *name)
{
    if (!s->nslots) return NULL;
    for (size_t j = hash_name(name) & (s->nslots - 1); s->slots[j]; j = (j + 1) & (s->nslots - 1))
        if (!strcmp(s->items[s->slots[j] - 1]->name, name)) return s->items[s->slots[j] - 1];
    return NULL;
}

static adapt_status add(param_store *s, const char *name, int ndim, const int64_t *shape, bool bf16, param **out)
{
    if (store_get(s, name)) return adapt_fail(ADAPT_ERR_FORMAT, "parameter \"%s\" defined twice", name);
    if (ndim < 0 || ndim > 4) return adapt_fail(ADAPT_ERR_ARG, "parameter \"%s\": rank %d", name, ndim);
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        param **items = realloc(s->items, cap * sizeof *items);
        if (!items) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory adding \"%s\"", name);
        s->items = items;
        s->cap = cap;
    }
    if (2 * (s->count + 1) > s->nslots && !rehash(s, s->nslots ? 2 * s->nslots : 128))
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory adding \"%s\"", name);
    param *p = calloc(1, sizeof *p);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] && numel > ((size_t)1 << 40) / (size_t)shape[i])) {
            free(p);
            return adapt_fail(ADAPT_ERR_NOMEM, "parameter \"%s\": shape too large", name);
        }
        numel *= (size_t)shape[i];
    }
    if (p) {
        p->name = strdup(name);
        if (bf16) p->bf16 = calloc(numel ? numel : 1, sizeof(uint16_t));
        else p->data = alloc_floats(numel);
    }
    if (!p || !p->name || (!p->data && !p->bf16)) {
        if (p) free_param(p);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for \"%s\" (%zu floats)", name, numel);
    }
    p->ndim = ndim;
    for (int i = 0; i < ndim; i++) p->shape[i] = shape[i];
    p->numel = numel;
    s->items[s->count++] = p;
    size_t j = hash_name(name) & (s->nslots - 1);
    while (s->slots[j]) j = (j + 1) & (s->nslots - 1);
    s->slots[j] = s->count;
    if (out) *out = p;
    return ADAPT_OK;
}

adapt_status store_add(param_store *s, const char *name, int ndim, const int64_t *shape, param **out)
{
    return add(s, name, ndim, shape, false, out);
}

adapt_status store_add_bf16(param_store *s, const char *name, int ndim, const int64_t *shape, param **out)
{
    return add(s, name, ndim, shape, true, out);
}

void store_remove(param_store *s, const char *name)
{
    param *p = store_get(s, name);
    if (!p) return;
    size_t k = 0;
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i] != p) s->items[k++] = s->items[i];
    s->count = k;
    free_param(p);
    rehash(s, s->nslots); /* cannot fail for lack of slots: same size */
}

void store_remove_matching(param_store *s, bool (*match)(const char *name, const char *key), const char *key)
{
    size_t k = 0;
    for (size_t i = 0; i < s->count; i++) {
        if (match(s->items[i]->name, key)) free_param(s->items[i]);
        else s->items[k++] = s->items[i];
    }
    if (k == s->count) return;
    s->count = k;
    rehash(s, s->nslots); /* cannot fail for lack of slots: same size */
}

adapt_status store_set_trainable(param *p, bool trainable)
{
    if (trainable && p->bf16)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "\"%s\" is held as bf16 (weight-only bf16 is for frozen weights): it cannot "
                                                 "train; load the model in fp32 to train it", p->name);
    p->trainable = trainable;
    if (trainable && !p->grad) {
        p->grad = alloc_floats(p->numel);
        if (!p->grad) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for the gradient of \"%s\"", p->name);
    }
    if (!trainable) {
        free(p->grad);
        free(p->adam_m);
        free(p->adam_v);
        p->grad = p->adam_m = p->adam_v = NULL;
    }
    return ADAPT_OK;
}

void store_zero_grads(param_store *s)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i]->grad) memset(s->items[i]->grad, 0, s->items[i]->numel * sizeof(float));
}

size_t store_count_params(const param_store *s, bool trainable_only)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++)
        if (!trainable_only || s->items[i]->trainable) n += s->items[i]->numel;
    return n;
}
