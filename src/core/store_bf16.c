/* Tensors held as bf16 (weight-only bf16, see store.h): switching a tensor's storage, and the
 * check every reader of fp32 values makes first. */
#include "core/bf16.h"
#include "core/error.h"
#include "core/store.h"
#include <stdlib.h>

adapt_status param_hold_bf16(param *p)
{
    if (p->bf16) return ADAPT_OK;
    if (p->trainable)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "\"%s\" is trainable: weight-only bf16 holds frozen weights only", p->name);
    uint16_t *h = malloc((p->numel ? p->numel : 1) * sizeof *h);
    if (!h) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for the bf16 copy of \"%s\"", p->name);
    bf16_round_array(h, p->data, p->numel);
    free(p->data); /* the point: the fp32 copy's memory goes back */
    p->data = NULL;
    p->bf16 = h;
    return ADAPT_OK;
}

adapt_status param_hold_fp32(param *p)
{
    if (!p->bf16) return ADAPT_OK;
    float *f = alloc_floats(p->numel);
    if (!f) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for the fp32 copy of \"%s\"", p->name);
    bf16_widen_array(f, p->bf16, p->numel);
    free(p->bf16);
    p->bf16 = NULL;
    p->data = f;
    return ADAPT_OK;
}

adapt_status param_require_fp32(const param *p, const char *what)
{
    if (!p->bf16) return ADAPT_OK;
    return adapt_fail(ADAPT_ERR_UNSUPPORTED, "%s needs fp32 weights, but \"%s\" is held as bf16 (weight-only bf16, --dtype bf16) "
                                             "and has no fp32 copy: load the model in fp32 for this",
                      what, p->name);
}

adapt_status store_require_fp32(const param_store *s, const char *what)
{
    for (size_t i = 0; i < s->count; i++) TRY(param_require_fp32(s->items[i], what));
    return ADAPT_OK;
}
