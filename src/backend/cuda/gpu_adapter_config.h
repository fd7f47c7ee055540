/* Which adapter setups the CUDA backend runs, decided on the host (plain C, so that the rules are
 * tested without a GPU: tests/gpu/test_gpu_host.c). */
#ifndef ADAPT_BACKEND_CUDA_GPU_ADAPTER_CONFIG_H
#define ADAPT_BACKEND_CUDA_GPU_ADAPTER_CONFIG_H
#include "adapters/setup.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The active adapter as the device runs it (a single sequential bottleneck adapter). */
typedef struct gpu_adapter_cfg {
    bool on;
    bool ln_before;            /* original_ln_before */
    bn_residual_mode residual; /* without ln_before every mode means the branch output */
    int act;                   /* ACT_* of the bottleneck */
    float scaling, dropout;
} gpu_adapter_cfg;

/* Whether the device runs m's active adapter exactly; *def = that adapter (NULL: none active).
 * Composition blocks, parallel adapters, adapter LayerNorms, learned scaling, invertible
 * adapters, per-adapter LayerNorm copies, original_ln_after = false, activations other than
 * relu / silu / gelu, and LoRA are refused by name. */
adapt_status adapter_validate(const adapt_model *m, gpu_adapter_cfg *out, const adapter_def **def);

#ifdef __cplusplus
}
#endif
#endif
