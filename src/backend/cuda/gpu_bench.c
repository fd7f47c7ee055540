/* adapt-gpu bench --mode infer|adapter|full [--seconds S] [--batch 32] [--seq 128] [--precision bf16]
 *                 [--profile]:
 * BERT-base shapes (hidden 768, 12 layers, 12 heads, FFN 3072, vocab 30522) with random weights.
 *   infer:   encoder forward (BertModel's work);
 *   adapter: forward + token-classification head (9 labels) + cross-entropy + backward + AdamW on
 *            a Pfeiffer adapter (seq_bn, reduction factor 16) and the head, the encoder frozen;
 *   full:    the same with every tensor trained and no adapter (full fine-tuning).
 * Prints tokens/s and model TFLOP/s (6 * params * tokens for full training, 4 * for adapter
 * training (no weight gradients of the frozen encoder), 2 * for inference, plus the attention
 * products). --profile: then 10 more steps with a device event at every phase boundary, and the
 * mean milliseconds per step of each phase (summed over layers). */
#include "adapters/setup.h"
#include "backend/cuda/gpu_host.h"
#include "core/clock.h"
#include "core/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The adapter mode's setup: a Pfeiffer adapter in every layer and the head train, nothing else. */
static adapt_status add_bench_adapter(adapt_model *m)
{
    bn_config cfg;
    TRY(bn_config_parse_string("seq_bn", &cfg));
    TRY(setup_add_adapter(m, "bench", &cfg, true));
    TRY(setup_activate(m, "bench"));
    TRY(setup_set_adapter_trainable(m, "bench", true));
    TRY(store_set_trainable(store_get(&m->store, "classifier.weight"), true));
    return store_set_trainable(store_get(&m->store, "classifier.bias"), true);
}

/* One step: inference, or a training step (forward, backward, AdamW). *queue += the time the host
 * spends queueing the work (the upload, which may wait for the device, excluded). */
static adapt_status bench_step(gpu_model *g, const gpu_batch *b, const gpu_adamw *opt, bool train, long it, double *queue)
{
    TRY(gpu_upload_batch(g, b));
    double t0 = monotonic_seconds();
    TRY(gpu_forward(g, train, (uint64_t)it));
    if (train) TRY(gpu_backward(g));
    if (train) TRY(gpu_adamw_step(g, opt, 1e-5, it + 1));
    *queue += monotonic_seconds() - t0;
    return ADAPT_OK;
}

int gpu_cmd_bench(int argc, char **argv)
{
    const char *mode = "infer";
    double seconds = 10;
    int B = 32, T = 128;
    gpu_precision prec = GPU_BF16;
    bool profile = false;
    for (int i = 0; i < argc; i += 2) {
        if (!strcmp(argv[i], "--profile")) {
            profile = true;
            i--;
        } else if (i + 1 == argc) i = -2; /* a value is missing: the usage below */
        else if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seq")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--precision")) prec = !strcmp(argv[i + 1], "fp32") ? GPU_FP32 : !strcmp(argv[i + 1], "tf32") ? GPU_TF32 : GPU_BF16;
        else i = -2;
        if (i == -2) {
            fprintf(stderr, "usage: adapt-gpu bench --mode infer|adapter|full [--seconds 10] [--batch 32] [--seq 128] "
                            "[--precision bf16|tf32|fp32] [--profile]\n");
            return 1;
        }
    }
    bool full = !strcmp(mode, "full"), adapter = !strcmp(mode, "adapter"), train = full || adapter;
    if (!train && strcmp(mode, "infer")) {
        fprintf(stderr, "adapt-gpu bench: unknown mode \"%s\" (infer, adapter or full)\n", mode);
        return 1;
    }
    if (B < 1 || T < 1 || T > 512 || seconds <= 0) {
        fprintf(stderr, "adapt-gpu bench: bad batch / seq / seconds\n");
        return 1;
    }
    adapt_model *m = NULL;
    gpu_model *g = NULL;
    int N = B * T;
    int32_t *ids = malloc((size_t)N * sizeof(int32_t)), *pos = malloc((size_t)N * sizeof(int32_t)), *lab = malloc((size_t)N * sizeof(int32_t));
    adapt_status s = ids && pos && lab ? gpu_bert_model(768, 12, 12, 3072, 30522, 9, 7, &m) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    uint64_t r = 88172645463325252ull;
    for (int i = 0; ids && pos && lab && i < N; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        ids[i] = 1000 + (int32_t)(r % 29000);
        pos[i] = i % T;
        lab[i] = (int32_t)((r >> 20) % 9);
    }
    for (size_t i = 0; !s && full && i < m->store.count; i++) s = store_set_trainable(m->store.items[i], true);
    if (!s && adapter) s = add_bench_adapter(m);
    if (!s) {
        gpu_options o = {.precision = prec, .max_B = B, .max_T = T, .max_head_rows = N, .head = train ? GPU_HEAD_TOKEN : GPU_HEAD_NONE,
                         .head_w = "classifier.weight", .head_b = "classifier.bias", .train = train, .hidden_dropout = 0.1f,
                         .attn_dropout = 0.1f};
        s = gpu_model_create(m, &o, &g);
    }
    gpu_batch b = {.B = B, .T = T, .ids = ids, .pos_ids = pos, .n_rows = N, .labels = train ? lab : NULL, .label_scale = 1.0f / N};
    gpu_adamw opt = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01, .max_grad_norm = 1.0};
    long iters = 0;
    double t0 = 0, t1 = 0, host = 0, warm_host = 0; /* host: time spent queueing the timed steps */
    for (long it = 0; !s; it++) {
        s = bench_step(g, &b, &opt, train, it, it > 4 ? &host : &warm_host);
        if (!s && it == 4) { /* warm-up done: cuBLAS heuristics, module load */
            s = gpu_synchronize(g);
            t0 = monotonic_seconds();
        }
        if (!s && it > 4 && (it - 4) % 10 == 0) {
            s = gpu_synchronize(g);
            t1 = monotonic_seconds();
            iters = it - 4;
            if (t1 - t0 >= seconds) break;
        }
    }
    if (!s) {
        char dev[256];
        gpu_describe(dev, sizeof dev);
        double tok = (double)iters * N / (t1 - t0);
        double P = 85.0e6, attn = 12.0 * 2 * 2 * (double)T * 768; /* non-embedding params; QK^T and PV per token */
        double flop_per_tok = full ? 6 * P + 3 * attn : adapter ? 4 * P + 3 * attn : 2 * P + attn;
        printf("device: %s\n", dev);
        printf("bench mode=%s precision=%s batch=%dx%d: %.0f tokens/s, %.2f ms/step, %.1f TFLOP/s (model flops)\n", mode,
               prec == GPU_BF16 ? "bf16" : prec == GPU_TF32 ? "tf32" : "fp32", B, T, tok, 1e3 * (t1 - t0) / iters, tok * flop_per_tok / 1e12);
        /* when queueing takes as long as the step, the GPU waits for the host */
        printf("host: %.2f ms/step queueing the work (of %.2f ms/step)\n", 1e3 * host / iters, 1e3 * (t1 - t0) / iters);
    }
    if (!s && profile) s = gpu_profile_enable(g);
    for (long it = 0; !s && profile && it < 10; it++) {
        s = bench_step(g, &b, &opt, train, it, &warm_host);
        if (!s) s = gpu_profile_collect(g);
    }
    if (!s && profile) gpu_profile_print(g, 10);
    gpu_model_free(g);
    adapt_model_free(m);
    free(ids);
    free(pos);
    free(lab);
    if (s) {
        fprintf(stderr, "adapt-gpu bench: %s\n", adapt_error());
        return 1;
    }
    return 0;
}
