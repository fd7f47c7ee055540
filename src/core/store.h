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
    float *data;       /* NULL while the tensor is held as bf16 */
    uint16_t *bf16;    /* weight-only bf16 (frozen tensors only): the values rounded to bf16, the
                        * fp32 copy freed; readers widen it or refuse (param_require_fp32) */
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
/* The same held as bf16 from the start (zero-filled; never trainable): a model created for
 * weight-only bf16 never allocates the fp32 copies of these tensors. */
adapt_status store_add_bf16(param_store *s, const char *name, int ndim, const int64_t *shape, param **out);
/* Removes a tensor (e.g. when an adapter is deleted). */
void store_remove(param_store *s, const char *name);
/* Removes every tensor whose name `match(name, key)` accepts (an adapter's, a head's), in one pass. */
void store_remove_matching(param_store *s, bool (*match)(const char *name, const char *key), const char *key);
/* Marks a tensor trainable and allocates its gradient (zeroed). A tensor held as bf16 is refused:
 * the optimizer updates fp32 values. */
adapt_status store_set_trainable(param *p, bool trainable);
void store_zero_grads(param_store *s);
size_t store_count_params(const param_store *s, bool trainable_only);

/* Weight-only bf16 for one tensor: hold it as bf16 (rounded to nearest even; the fp32 copy is
 * freed) or back as fp32 (widened: the bf16 values exactly). Trainable tensors are refused. */
adapt_status param_hold_bf16(param *p);
adapt_status param_hold_fp32(param *p);
/* Fails with a message naming the tensor and `what` needs it, when it has no fp32 values. */
adapt_status param_require_fp32(const param *p, const char *what);
/* The same for every tensor of a store. */
adapt_status store_require_fp32(const param_store *s, const char *what);

/* 64-byte aligned, zeroed float buffer (NULL on failure). */
float *alloc_floats(size_t n);

#endif
