#include "train/batch_share.h"
#include "core/error.h"
#include "data/dataset.h"
#include "train/data_parallel.h"
#include <stdlib.h>
#include <string.h>

batch batch_share(const batch *b, int rank, int size)
{
    int lo = (int)((long)b->B * rank / size), hi = (int)((long)b->B * (rank + 1) / size);
    size_t at = (size_t)lo * b->T;
    /* per-token labels (tagging, MLM) or one per row (sequence tasks); alike when T is 1 */
    bool per_token = b->label_rows == b->B * b->T;
    batch v = {.B = hi - lo, .T = b->T, .ids = b->ids + at, .mask = b->mask + at, .type_ids = b->type_ids + at};
    v.labels = b->labels + (per_token ? at : (size_t)lo);
    v.label_rows = per_token ? v.B * v.T : v.B;
    v.targets = b->targets ? b->targets + lo : NULL;
    return v;
}

long batch_labelled(const batch *b, bool regression)
{
    if (regression) return b->B;
    long n = 0;
    for (int i = 0; i < b->label_rows; i++) n += b->labels[i] != DATA_IGNORE_INDEX;
    return n;
}

adapt_status gradients_sum(param_store *s, float **scratch, size_t *scratch_n)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i]->grad) n += s->items[i]->numel;
    if (n > *scratch_n) {
        float *grown = realloc(*scratch, n * sizeof(float));
        if (!grown) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for the gradient sum (%zu values)", n);
        *scratch = grown, *scratch_n = n;
    }
    float *at = *scratch;
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i]->grad) {
            memcpy(at, s->items[i]->grad, s->items[i]->numel * sizeof(float));
            at += s->items[i]->numel;
        }
    TRY(dp_sum_floats(*scratch, n));
    at = *scratch;
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i]->grad) {
            memcpy(s->items[i]->grad, at, s->items[i]->numel * sizeof(float));
            at += s->items[i]->numel;
        }
    return ADAPT_OK;
}
