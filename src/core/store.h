/* The parameter store: every tensor under its Hugging Face / AdapterHub name, with its float32
 * values and, when trainable, its gradient and AdamW moments. Loading, saving, freezing, counting
 * and the optimizer all work on the store by name; file formats are name mappings onto it. */
#ifndef ADAPT_CORE_STORE_H
#define ADAPT_CORE_STORE_H
#include "adapt.h"

typedef struct param {
    char *name;
    int ndim;
    int64_t shape[4];
    size_t numel;
    float *data;
    float *grad;       /* NULL while frozen: frozen tensors get no weight-gradient work */
    float *adam_m, *adam_v;
    bool trainable;
} param;

typedef struct param_store {
    param **items;     /* insertion order (stable for saving and the optimizer) */
    size_t count, cap;
    size_t *slots;     /* open-addressing hash: index+1 into items, 0 = empty */
    size_t nslots;
} param_store;

void store_init(param_store *s);
void store_free(param_store *s);
/* Adds a zero-filled tensor; fails when the name exists. */
adapt_status store_add(param_store *s, const char *name, int ndim, const int64_t *shape, param **out);
param *store_get(const param_store *s, const char *name);
/* Removes a tensor (e.g. when an adapter is deleted). */
void store_remove(param_store *s, const char *name);
/* Marks a tensor trainable and allocates its gradient (zeroed). */
adapt_status store_set_trainable(param *p, bool trainable);
void store_zero_grads(param_store *s);
size_t store_count_params(const param_store *s, bool trainable_only);

/* 64-byte aligned, zeroed float buffer (NULL on failure). */
float *alloc_floats(size_t n);

#endif
