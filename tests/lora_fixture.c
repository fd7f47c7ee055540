#include "lora_fixture.h"
#include "adapters/lora.h"
#include "case_batch.h"
#include "model/model.h"
#include "testutil.h"
#include <math.h>
#include <stdlib.h>

adapt_model *load_tiny_bert(void)
{
    adapt_model *m = NULL;
    if (adapt_model_load(shared_path("fixtures/models/tiny-bert"), &m)) fail_msg("%s", adapt_error());
    return m;
}

double *lora_delta(const adapt_model *m, const char *lora, int layer, int k)
{
    const lora_state *st = lora_find(m, lora);
    assert_non_null(st);
    const lora_pair *p = &st->pairs[layer][k];
    int64_t r = p->A->shape[0], in = p->A->shape[1], out = p->B->shape[0];
    double *d = calloc((size_t)(out * in), sizeof *d);
    assert_non_null(d);
    for (int64_t o = 0; o < out; o++)
        for (int64_t c = 0; c < r; c++)
            for (int64_t i = 0; i < in; i++) d[o * in + i] += p->scaling * (double)p->B->data[o * r + c] * p->A->data[c * in + i];
    return d;
}

float *encode_case_batch(adapt_model *m, const case_batch *b)
{
    float *h = malloc((size_t)b->B * b->T * m->cfg.hidden * sizeof *h);
    assert_non_null(h);
    if (adapt_model_encode(m, b->B, b->T, b->ids, b->mask, b->type_ids, h, NULL)) fail_msg("%s", adapt_error());
    return h;
}

double max_abs_difference(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}
