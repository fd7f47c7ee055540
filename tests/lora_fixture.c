#include "lora_fixture.h"
#include "adapters/lora.h"
#include "testutil.h"
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
