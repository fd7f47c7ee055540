/* adapt-gpu check-mlm MODEL_DIR [--precision fp32|tf32|bf16] [--adapter CONFIG [--adapter-only]]:
 * the pretraining path on the GPU against the CPU library on a small model with an MLM head (e.g.
 * fixtures/models/tiny-xlmr): every tensor trainable, padded rows, the loss on a subset of rows
 * (gathered before the head on the GPU, -100 labels elsewhere on the CPU), then the gradients of
 * every trainable tensor, and the parameters after one AdamW step taken on both sides from the
 * CPU's gradients (a tensor whose gradient is zero up to rounding, such as the key bias, would
 * otherwise step by the sign of each side's rounding noise). With --adapter, a bottleneck adapter
 * of that config ("seq_bn", "double_seq_bn[reduction_factor=4]", ...) with random weights is
 * active; --adapter-only trains it alone (the backward then stops at its lowest point).
 * Tolerances (relative, per tensor): fp32 1e-4 for gradients; tf32 3e-2; bf16 1.5e-1, as bf16
 * keeps 3 mantissa bits fewer than tf32 and also rounds the stored activations, and the bias
 * gradients of tiny-xlmr (hidden 32) are sums over tokens whose terms largely cancel (tf32's
 * worst gradient error is 4e-3, bf16's 7e-2 to 1.1e-1 on the adapter and query biases); a
 * gradient that is zero up to rounding is compared only in fp32; parameters 1e-5 in every
 * precision (fp32 optimizer on both sides); the loss 1e-5 in fp32, else 3e-3. Exit 0 when every
 * tensor is within tolerance. */
#include "adapters/setup.h"
#include "backend/cuda/gpu_host.h"
#include "core/error.h"
#include "model/heads.h"
#include "model/layers.h"
#include "train/adamw.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct batch {
    int B, T, N, R;
    int32_t *ids, *mask, *pos, *rows, *row_labels;
    int64_t *labels; /* [N], -100 outside rows */
} batch;

static adapt_status make_batch(const adapt_model *m, batch *b)
{
    const model_config *c = &m->cfg;
    b->B = 3;
    b->T = c->max_positions - (c->family == FAMILY_ROBERTA ? c->pad_id + 1 : 0);
    if (b->T > 24) b->T = 24;
    if (b->T < 4 || c->vocab < 10) return adapt_fail(ADAPT_ERR_ARG, "check-mlm: model too small");
    b->N = b->B * b->T;
    b->ids = calloc((size_t)b->N, sizeof(int32_t));
    b->mask = calloc((size_t)b->N, sizeof(int32_t));
    b->pos = calloc((size_t)b->N, sizeof(int32_t));
    b->rows = calloc((size_t)b->N, sizeof(int32_t));
    b->row_labels = calloc((size_t)b->N, sizeof(int32_t));
    b->labels = calloc((size_t)b->N, sizeof(int64_t));
    if (!b->ids || !b->mask || !b->pos || !b->rows || !b->row_labels || !b->labels) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    uint64_t r = 0x853c49e6748fea9bull;
    for (int i = 0; i < b->N; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        bool pad = i / b->T == b->B - 1 && i % b->T >= b->T - 3; /* the last row ends in padding */
        b->ids[i] = pad ? c->pad_id : 5 + (int32_t)(r % (uint64_t)(c->vocab - 5));
        b->mask[i] = !pad;
        b->labels[i] = -100;
        if (!pad && i % 3 == 1) {
            b->rows[b->R] = i;
            b->row_labels[b->R++] = (int32_t)((r >> 17) % (uint64_t)c->vocab);
            b->labels[i] = b->row_labels[b->R - 1];
        }
    }
    return model_position_ids(c, b->B, b->T, b->ids, b->pos);
}

/* The CPU library's loss and gradients (into p->grad). */
static adapt_status cpu_reference(adapt_model *m, const batch *b, double *loss)
{
    int V = m->cfg.vocab, H = m->cfg.hidden;
    TRY(model_forward(m, b->B, b->T, b->ids, b->mask, NULL));
    float *logits = malloc((size_t)b->N * V * sizeof(float)), *dl = calloc((size_t)b->N * V, sizeof(float));
    float *dh = calloc((size_t)b->N * H, sizeof(float));
    adapt_status s = logits && dl && dh ? model_mlm_forward(m, logits) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) {
        *loss = cross_entropy_forward_backward(dl, logits, b->labels, b->N, V, 1.0f);
        store_zero_grads(&m->store);
        s = model_mlm_backward(m, dl, dh);
    }
    if (!s) s = model_backward(m, dh);
    free(logits);
    free(dl);
    free(dh);
    return s;
}

/* Compares the store's grad (or data) with the saved copies; returns the failures. A gradient the
 * CPU computes as zero up to fp32 rounding (the key bias's: softmax rows sum to one) is not
 * compared when zero_floor is set: in reduced precision it is pure rounding noise. */
static int compare(const adapt_model *m, float **saved, bool grads, double rtol, bool zero_floor, const char *what)
{
    int fails = 0, skipped = 0;
    size_t n = 0;
    double worst = 0;
    for (size_t i = 0; i < m->store.count; i++) {
        const param *p = m->store.items[i];
        if (grads && !p->trainable) continue;
        n++;
        double ref, err = gpu_l2_diff(grads ? p->grad : p->data, saved[i], p->numel, &ref);
        double floor = 1e-6 * sqrt((double)p->numel), bound = rtol * ref + floor;
        if (zero_floor && ref <= floor) {
            skipped++;
            continue;
        }
        if (ref > floor && err / ref > worst) worst = err / ref;
        if (!(err <= bound)) {
            fails++;
            printf("  FAIL %s %s: |gpu-cpu| %.3e > %.3e (relative %.2e)\n", what, p->name, err, bound, ref > 0 ? err / ref : err);
        }
    }
    printf("check-mlm %s: %zu/%zu tensors within rtol %g, worst relative error %.2e", what, n - (size_t)fails - (size_t)skipped, n,
           rtol, worst);
    printf(skipped ? " (%d zero up to rounding, not compared)\n" : "\n", skipped);
    return fails;
}

/* An adapter of `config` with weights large enough to matter (the library's init starts near the
 * identity), active; trainable alone or with everything else. */
static adapt_status add_adapter(adapt_model *m, const char *config, bool only)
{
    bn_config cfg;
    TRY(bn_config_parse_string(config, &cfg));
    TRY(setup_add_adapter(m, "check", &cfg, true));
    TRY(setup_activate(m, "check"));
    uint64_t r = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < m->store.count; i++) {
        param *p = m->store.items[i];
        bool mine = strstr(p->name, ".adapters.check.") != NULL;
        if (mine)
            for (size_t k = 0; k < p->numel; k++) {
                r ^= r << 13; r ^= r >> 7; r ^= r << 17;
                p->data[k] = (float)((double)(r >> 11) / 9007199254740992.0 - 0.5) * 0.6f;
            }
        TRY(store_set_trainable(p, mine || !only));
    }
    return ADAPT_OK;
}

int gpu_cmd_check_mlm(int argc, char **argv)
{
    gpu_precision prec = GPU_FP32;
    const char *adapter = NULL;
    bool adapter_only = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--precision") && i + 1 < argc) {
            i++;
            prec = !strcmp(argv[i], "bf16") ? GPU_BF16 : !strcmp(argv[i], "tf32") ? GPU_TF32 : GPU_FP32;
        } else if (!strcmp(argv[i], "--adapter") && i + 1 < argc) adapter = argv[++i];
        else if (!strcmp(argv[i], "--adapter-only")) adapter_only = true;
        else {
            fprintf(stderr, "usage: adapt-gpu check-mlm MODEL_DIR [--precision fp32|tf32|bf16] [--adapter CONFIG [--adapter-only]]\n");
            return 1;
        }
    }
    double rtol_g = prec == GPU_FP32 ? 1e-4 : prec == GPU_TF32 ? 3e-2 : 1.5e-1, rtol_p = 1e-5;
    double rtol_loss = prec == GPU_FP32 ? 1e-5 : 3e-3;
    adapt_model *m = NULL;
    gpu_model *g = NULL;
    batch b = {0};
    float **saved = NULL;
    int fails = 0;
    double cpu_loss = 0, gpu_loss = 0;
    adapt_status s = adapt_model_load(argv[0], &m);
    if (!s && !m->mlm.dense_w) s = adapt_fail(ADAPT_ERR_ARG, "%s has no MLM head", argv[0]);
    for (size_t i = 0; !s && i < m->store.count; i++) s = store_set_trainable(m->store.items[i], true);
    if (!s && adapter) s = add_adapter(m, adapter, adapter_only);
    if (!s) s = make_batch(m, &b);
    if (!s && !(saved = calloc(m->store.count, sizeof *saved))) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < m->store.count; i++)
        if (!(saved[i] = malloc(m->store.items[i]->numel * sizeof(float)))) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) s = cpu_reference(m, &b, &cpu_loss); /* gradients only: the parameters are unchanged */
    for (size_t i = 0; !s && i < m->store.count; i++)
        if (m->store.items[i]->grad) memcpy(saved[i], m->store.items[i]->grad, m->store.items[i]->numel * sizeof(float));
    if (!s) {
        printf("check-mlm: cpu loss %.7f on %d of %d positions\n", cpu_loss, b.R, b.N);
        gpu_options o = {.precision = prec, .max_B = b.B, .max_T = b.T, .max_head_rows = b.R, .head = GPU_HEAD_MLM, .train = true};
        s = gpu_model_create(m, &o, &g);
    }
    if (!s) {
        gpu_batch gb = {.B = b.B, .T = b.T, .ids = b.ids, .pos_ids = b.pos, .mask = b.mask, .n_rows = b.R, .rows = b.rows,
                        .labels = b.row_labels, .label_scale = 1.0f / b.R};
        s = gpu_upload_batch(g, &gb);
        if (!s) s = gpu_forward(g, false, 0);
        if (!s) s = gpu_backward(g);
        if (!s) s = gpu_read_loss(g, &gpu_loss, NULL);
        if (!s) s = gpu_download_grads(g);
    }
    if (!s) {
        printf("check-mlm loss: gpu %.7f cpu %.7f (relative %.2e)\n", gpu_loss, cpu_loss, fabs(gpu_loss - cpu_loss) / fabs(cpu_loss));
        fails += fabs(gpu_loss - cpu_loss) > rtol_loss * fabs(cpu_loss) + 1e-6;
        fails += compare(m, saved, true, rtol_g, prec != GPU_FP32, "gradients");
    }
    /* one AdamW step on both sides from the CPU's gradients (grads restored), no clipping */
    adamw_config ac = {1e-3, 0.9, 0.98, 1e-6, 0.01};
    gpu_adamw ga = {.beta1 = 0.9, .beta2 = 0.98, .eps = 1e-6, .weight_decay = 0.01, .max_grad_norm = 0};
    for (size_t i = 0; !s && i < m->store.count; i++)
        if (m->store.items[i]->grad) memcpy(m->store.items[i]->grad, saved[i], m->store.items[i]->numel * sizeof(float));
    if (!s) s = adamw_step(&m->store, &ac, ac.lr, 1);
    for (size_t i = 0; !s && i < m->store.count; i++) memcpy(saved[i], m->store.items[i]->data, m->store.items[i]->numel * sizeof(float));
    if (!s) s = gpu_upload_grads(g);
    if (!s) s = gpu_adamw_step(g, &ga, 1e-3, 1);
    if (!s) s = gpu_download_params(g);
    if (!s) fails += compare(m, saved, false, rtol_p, false, "parameters after one AdamW step");
    gpu_model_free(g);
    for (size_t i = 0; saved && m && i < m->store.count; i++) free(saved[i]);
    free(saved);
    free(b.ids); free(b.mask); free(b.pos); free(b.rows); free(b.row_labels); free(b.labels);
    adapt_model_free(m);
    if (s) {
        fprintf(stderr, "adapt-gpu check-mlm: %s\n", adapt_error());
        return 1;
    }
    return fails ? 2 : 0;
}
