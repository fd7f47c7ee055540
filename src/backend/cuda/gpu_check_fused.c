/* adapt-gpu check-fused: the fused attention kernels inside the model against the GEMM + softmax
 * path they replace, on a small BERT with 64-wide heads (hidden 128, 2 heads, 2 layers) in bf16,
 * batch 4 x 100 whose last sequence ends in padding: the last hidden state in inference, then one
 * training step with dropout (both paths draw the same hashed masks) -- loss and every gradient.
 * The paths round in the same places, so they agree to a few bf16 steps: rtol 1e-2 per tensor.
 * Exit 0 when everything agrees, 2 when something does not, 1 on an error. */
#include "backend/cuda/gpu_host.h"
#include "core/error.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CF_B 4
#define CF_T 100
#define CF_CLASSES 9
#define CF_RTOL 1e-2

typedef struct check_batch {
    int32_t ids[CF_B * CF_T], pos[CF_B * CF_T], mask[CF_B * CF_T], labels[CF_B * CF_T];
    int counted;
} check_batch;

static adapt_status make_batch(const adapt_model *m, check_batch *b)
{
    uint64_t r = 0x2545f4914f6cdd1dull;
    b->counted = 0;
    for (int i = 0; i < CF_B * CF_T; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        bool pad = i / CF_T == CF_B - 1 && i % CF_T >= CF_T - 30;
        b->ids[i] = pad ? m->cfg.pad_id : 1 + (int32_t)(r % (uint64_t)(m->cfg.vocab - 1));
        b->mask[i] = !pad;
        b->labels[i] = pad ? -100 : (int32_t)((r >> 23) % CF_CLASSES);
        b->counted += !pad;
    }
    return model_position_ids(&m->cfg, CF_B, CF_T, b->ids, b->pos);
}

/* One pass on a fresh device model: inference -> the last hidden state into out; training -> the
 * loss into *loss and the gradients into out (store order, concatenated). */
static adapt_status run_path(adapt_model *m, const check_batch *cb, bool train, bool unfused, float *out, double *loss)
{
    gpu_options o = {.precision = GPU_BF16, .max_B = CF_B, .max_T = CF_T, .max_head_rows = CF_B * CF_T,
                     .head = train ? GPU_HEAD_TOKEN : GPU_HEAD_NONE, .head_w = "classifier.weight", .head_b = "classifier.bias",
                     .train = train, .hidden_dropout = 0.1f, .attn_dropout = 0.1f, .unfused_attention = unfused};
    gpu_batch b = {.B = CF_B, .T = CF_T, .ids = cb->ids, .pos_ids = cb->pos, .mask = cb->mask, .n_rows = CF_B * CF_T,
                   .labels = train ? cb->labels : NULL, .label_scale = 1.0f / (float)cb->counted};
    gpu_model *g = NULL;
    adapt_status s = gpu_model_create(m, &o, &g);
    if (!s) s = gpu_upload_batch(g, &b);
    if (!s) s = gpu_forward(g, train, 42);
    if (!s && !train) s = gpu_download_hidden(g, m->cfg.layers, out);
    if (!s && train) s = gpu_backward(g);
    if (!s && train) s = gpu_read_loss(g, loss, NULL);
    if (!s && train) s = gpu_download_grads(g);
    for (size_t i = 0, off = 0; !s && train && i < m->store.count; i++) {
        memcpy(out + off, m->store.items[i]->grad, m->store.items[i]->numel * sizeof(float));
        off += m->store.items[i]->numel;
    }
    gpu_model_free(g);
    return s;
}

/* ||a - e|| <= rtol ||e|| + 1e-6 sqrt(n); prints a failure. */
static int agree(const char *what, const float *a, const float *e, size_t n)
{
    double r, d = gpu_l2_diff(a, e, n, &r);
    bool ok = d <= CF_RTOL * r + 1e-6 * sqrt((double)n);
    if (!ok) printf("  FAIL %s: |fused - unfused| %.3e, relative %.2e\n", what, d, r > 0 ? d / r : d);
    return ok ? 0 : 1;
}

int gpu_cmd_check_fused(int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "usage: adapt-gpu check-fused\n");
        return 1;
    }
    adapt_model *m = NULL;
    check_batch cb;
    adapt_status s = gpu_bert_model(128, 2, 2, 256, 1000, CF_CLASSES, 11, &m);
    if (!s) s = make_batch(m, &cb);
    for (size_t i = 0; !s && i < m->store.count; i++) s = store_set_trainable(m->store.items[i], true);
    size_t n_hidden = (size_t)CF_B * CF_T * 128, n_params = 0;
    for (size_t i = 0; !s && i < m->store.count; i++) n_params += m->store.items[i]->numel;
    float *h_f = malloc(n_hidden * sizeof(float)), *h_u = malloc(n_hidden * sizeof(float));
    float *g_f = malloc(n_params * sizeof(float)), *g_u = malloc(n_params * sizeof(float));
    if (!s && (!h_f || !h_u || !g_f || !g_u)) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    double loss_f = 0, loss_u = 0;
    int fails = 0;
    if (!s) s = run_path(m, &cb, false, false, h_f, NULL);
    if (!s) s = run_path(m, &cb, false, true, h_u, NULL);
    if (!s) {
        int f = agree("inference hidden state", h_f, h_u, n_hidden);
        printf("check-fused inference: last hidden state %s\n", f ? "differs" : "agrees");
        fails += f;
    }
    if (!s) s = run_path(m, &cb, true, false, g_f, &loss_f);
    if (!s) s = run_path(m, &cb, true, true, g_u, &loss_u);
    if (!s) {
        int f = fabs(loss_f - loss_u) > 1e-3 * fabs(loss_u), tensors = 0;
        printf("check-fused training: loss fused %.6f unfused %.6f\n", loss_f, loss_u);
        for (size_t i = 0, off = 0; i < m->store.count; i++) {
            const param *p = m->store.items[i];
            tensors += agree(p->name, g_f + off, g_u + off, p->numel);
            off += p->numel;
        }
        printf("check-fused training: %zu/%zu gradients agree (rtol %g)\n", m->store.count - (size_t)tensors, m->store.count, CF_RTOL);
        fails += f + tensors;
    }
    free(h_f);
    free(h_u);
    free(g_f);
    free(g_u);
    adapt_model_free(m);
    if (s) {
        fprintf(stderr, "adapt-gpu check-fused: %s\n", adapt_error());
        return 1;
    }
    printf("check-fused: %s\n", fails ? "FAIL" : "pass");
    return fails ? 2 : 0;
}
