/* What the two fixture runners share (tools/adapt-case.c on the CPU, src/backend/cuda/gpu_case.c
 * on the GPU): reading a case's inputs and files, its setup as a composition string, and the list
 * of F32 output tensors they write. */
#ifndef ADAPT_TOOLS_CASE_FILES_H
#define ADAPT_TOOLS_CASE_FILES_H
#include "adapt.h"
#include "model/model.h"
#include <cjson/cJSON.h>

typedef struct output_list {
    adapt_tensor_desc *items;
    char **names;
    float **buffers;
    size_t count, cap;
} output_list;

/* A zeroed F32 tensor `name` of the given shape appended to the list; NULL when out of memory. */
float *output_add(output_list *o, const char *name, int ndim, const int64_t *shape);
void output_free(output_list *o);

typedef struct case_inputs {
    int B, T;
    int32_t *ids, *mask, *type_ids; /* type_ids NULL when the case has none; mask all ones when absent */
    int64_t *labels;                /* NULL when absent; [B,T] per token or [B] per sequence */
    int label_rows;
} case_inputs;

/* CASE_DIR/inputs.safetensors. */
adapt_status case_load_inputs(const char *case_dir, case_inputs *in);
void case_free_inputs(case_inputs *in);
/* Values narrowed to int32 (clamped); NULL for NULL or out of memory. */
int32_t *case_narrow(const int64_t *v, size_t n);

/* case.json "setup" (["single", n] | ["stack", [..]] | ["fuse", [..], name] | ["batchsplit", [..], [sizes]])
 * as a composition string. */
adapt_status case_setup_text(const cJSON *setup, char *buf, size_t size);

/* Loads what the folders the case names under "files" hold: adapters (adapter_config.json), heads
 * (head_config.json), fusions (adapter_fusion_config.json, after all adapters), and the
 * "classifier" safetensors file ("peft" is left to the caller). */
adapt_status case_load_files(adapt_model *m, const char *case_dir, const cJSON *cs);

#endif
