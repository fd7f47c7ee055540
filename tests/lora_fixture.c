#include "lora_fixture.h"
#include "adapters/lora.h"
#include "case_batch.h"
#include "model/heads.h"
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

void grad_run_init(grad_run *g, adapt_model *m, uint64_t seed)
{
    g->m = m;
    g->h = calloc(1, sizeof *g->h);
    assert_non_null(g->h);
    if (head_create(m, g->h, HEAD_TAGGING, "t", GRAD_LABELS)) fail_msg("%s", adapt_error());
    head_init_random(g->h, &seed);
    for (int i = 0; i < GRAD_B * GRAD_T; i++) g->ids[i] = 5 + (int32_t)(test_uniform(&seed) * 500);
    for (int i = 0; i < GRAD_B * GRAD_T * GRAD_LABELS; i++) g->w[i] = (float)(2 * test_uniform(&seed) - 1);
}

void grad_run_free(grad_run *g)
{
    free(g->h);
    g->h = NULL;
}

double grad_run_loss(grad_run *g, bool backward)
{
    float logits[GRAD_B * GRAD_T * GRAD_LABELS];
    g->m->dropout_rng = 12345;
    assert_int_equal(model_forward(g->m, GRAD_B, GRAD_T, g->ids, NULL, NULL), ADAPT_OK);
    assert_int_equal(head_forward(g->m, g->h, logits), ADAPT_OK);
    double loss = 0;
    for (int i = 0; i < GRAD_B * GRAD_T * GRAD_LABELS; i++) loss += (double)g->w[i] * logits[i];
    if (backward) {
        float *d_hidden = calloc((size_t)GRAD_B * GRAD_T * g->m->cfg.hidden, sizeof(float));
        assert_non_null(d_hidden);
        store_zero_grads(&g->m->store);
        assert_int_equal(head_backward(g->m, g->h, g->w, d_hidden), ADAPT_OK);
        assert_int_equal(model_backward(g->m, d_hidden), ADAPT_OK);
        free(d_hidden);
    }
    return loss;
}

double grad_run_numeric(grad_run *g, float *v, size_t i)
{
    const float eps = 1e-2f, x = v[i];
    v[i] = x + eps;
    double up = grad_run_loss(g, false);
    v[i] = x - eps;
    double down = grad_run_loss(g, false);
    v[i] = x;
    return (up - down) / (2.0 * eps);
}
