#include "lora_fixture.h"
#include "adapters/lora.h"
#include "case_batch.h"
#include "model/heads.h"
#include "model/model.h"
#include "testutil.h"
#include "core/json.h"
#include "formats/param_io.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void expect_failure(adapt_status got, adapt_status want, const char *text)
{
    assert_int_equal(got, want);
    if (!strstr(adapt_error(), text)) fail_msg("message \"%s\" should say \"%s\"", adapt_error(), text);
}

void assert_largest_gradient(grad_run *g, param *p)
{
    size_t at = 0;
    for (size_t j = 1; j < p->numel; j++)
        if (fabsf(p->grad[j]) > fabsf(p->grad[at])) at = j;
    double got = p->grad[at], want = grad_run_numeric(g, p->data, at);
    if (!(fabs(got - want) <= 0.03 * fabs(want) + 2e-3)) fail_msg("%s[%zu]: gradient %g, central difference %g", p->name, at, got, want);
    assert_true(fabs(want) > 1e-3);
}

lora_state *attach_drawn_ia3(adapt_model *m, const lora_config *cfg, const char *name, uint64_t seed)
{
    lora_state *s;
    if (lora_attach(m, cfg, name, true, &seed, &s)) fail_msg("%s", adapt_error());
    for (int l = 0; l < s->layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!s->has[l][k]) continue;
            const param *B = s->pairs[l][k].B;
            assert_null(s->pairs[l][k].A);
            for (size_t o = 0; o < B->numel; o++) assert_float_equal(B->data[o], 1, 0); /* starts as the base model */
            for (size_t o = 0; o < B->numel; o++) B->data[o] = (float)(0.5 + test_uniform(&seed));
        }
    return s;
}

void assert_merge_round_trip(adapt_model *m, const case_batch *b, const float *want, const param *W)
{
    size_t n = (size_t)b->B * b->T * m->cfg.hidden;
    float *before = malloc(W->numel * sizeof *before);
    assert_non_null(before);
    memcpy(before, W->data, W->numel * sizeof *before);
    if (adapt_model_merge_lora(m)) fail_msg("%s", adapt_error());
    float *merged = encode_case_batch(m, b);
    if (!(max_abs_difference(want, merged, n) < 1e-5)) fail_msg("merged: %g from the unmerged outputs", max_abs_difference(want, merged, n));
    if (adapt_model_unmerge_lora(m)) fail_msg("%s", adapt_error());
    assert_true(max_abs_difference(before, W->data, W->numel) < 1e-6);
    free(before), free(merged);
}

void save_lora_and_read(adapt_model *m, const char *lora, const char *dir, param_store *st)
{
    if (adapt_model_save_lora(m, lora, dir)) fail_msg("%s", adapt_error());
    store_init(st);
    assert_int_equal(store_load_safetensors(st, path_in(dir, "adapter_model.safetensors"), NULL, NULL, NULL), ADAPT_OK);
}

cJSON *read_json(const char *path)
{
    cJSON *root = NULL;
    if (json_load_file(path, &root)) fail_msg("%s", adapt_error());
    return root;
}

const char *train_tiny_lora(const char *flag, const char *out)
{
    const char *tmp = test_tmp;
    assert_int_equal(run_command("head -n 400 '%s' > '%s/ner.conll' && '%s' train --task ner --model models/default --train "
                                 "'%s/ner.conll' --output '%s/%s' --name ner --method lora %s --max-steps 8 --batch-size 8 "
                                 "--max-length 32 --lr 3e-2 --quiet > '%s/train.log' 2>&1",
                                 shared_path("data/ner/wikiann-en/train.conll"), tmp, build_path("adapt"), tmp, tmp, out, flag, tmp),
                     0);
    static char dir[1100];
    snprintf(dir, sizeof dir, "%s/%s/best/lora", tmp, out);
    return dir;
}

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
