/* adapt — parameter-efficient transfer learning with adapters, in C.
 *
 * The only header users include. Every function that can fail returns an adapt_status; on failure
 * adapt_error() gives a one-line message naming the file, the field and the problem.
 * Handles are opaque; free them with the matching *_free function (NULL is accepted).
 */
#ifndef ADAPT_H
#define ADAPT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ errors */
typedef enum adapt_status {
    ADAPT_OK = 0,
    ADAPT_ERR_IO = 1,          /* cannot open, read or write a file */
    ADAPT_ERR_FORMAT = 2,      /* a file is malformed or inconsistent */
    ADAPT_ERR_UNSUPPORTED = 3, /* valid input that adapt does not implement */
    ADAPT_ERR_NOMEM = 4,       /* allocation failed or a declared size is past a sane bound */
    ADAPT_ERR_ARG = 5,         /* bad argument from the caller or the command line */
    ADAPT_ERR_NUMERIC = 6      /* NaN/Inf where a finite number is required */
} adapt_status;

/* The message of the last failure on this thread ("" when none). */
const char *adapt_error(void);

/* ------------------------------------------------------------------ tensors in files */
typedef enum adapt_dtype {
    ADAPT_DTYPE_BOOL, ADAPT_DTYPE_U8, ADAPT_DTYPE_I8, ADAPT_DTYPE_U16, ADAPT_DTYPE_I16,
    ADAPT_DTYPE_F16, ADAPT_DTYPE_BF16, ADAPT_DTYPE_U32, ADAPT_DTYPE_I32, ADAPT_DTYPE_F32,
    ADAPT_DTYPE_U64, ADAPT_DTYPE_I64, ADAPT_DTYPE_F64, ADAPT_DTYPE_F8_E4M3, ADAPT_DTYPE_F8_E5M2,
    ADAPT_DTYPE_COUNT
} adapt_dtype;

#define ADAPT_MAX_DIMS 8

/* One tensor as a caller hands it to the writer (data laid out row-major in `dtype`). */
typedef struct adapt_tensor_desc {
    const char *name;
    adapt_dtype dtype;
    int ndim;
    int64_t shape[ADAPT_MAX_DIMS];
    const void *data;
} adapt_tensor_desc;

/* Writes a .safetensors file atomically (temp file, fsync, rename, fsync of the directory).
 * `metadata` is an optional list of n_meta key/value string pairs for "__metadata__". */
adapt_status adapt_safetensors_write(const char *path, const adapt_tensor_desc *tensors, size_t n,
                                     const char *const *metadata, size_t n_meta);

/* ------------------------------------------------------------------ models */
typedef struct adapt_model adapt_model;

/* Loads a Hugging Face model folder: config.json + model.safetensors or
 * model.safetensors.index.json with its shards. F16/BF16/F64 weights are converted to F32. */
adapt_status adapt_model_load(const char *dir, adapt_model **out);
void adapt_model_free(adapt_model *model);

typedef struct adapt_model_info {
    const char *model_type;    /* "bert", "roberta", "xlm-roberta" */
    const char *architecture;  /* first entry of "architectures", or "" */
    int hidden_size, num_layers, num_heads, intermediate_size, vocab_size;
    int max_positions, type_vocab_size, pad_token_id;
    const char *hidden_act;
    double layer_norm_eps;
    size_t num_parameters;     /* base model tensors, heads included */
    size_t num_tensors;
} adapt_model_info;
void adapt_model_get_info(const adapt_model *model, adapt_model_info *info);

/* Encoder forward for a batch of B rows of T tokens (row-major ids, mask 1/0, type ids or NULL).
 * hidden_out: [B,T,H] last layer; all_hidden (optional) receives (L+1) x [B,T,H]. */
adapt_status adapt_model_encode(adapt_model *model, int B, int T, const int32_t *ids,
                                const int32_t *mask, const int32_t *type_ids,
                                float *hidden_out, float *all_hidden);

/* MLM logits [B,T,V] from the checkpoint's pretrained head (needs encode on the same batch). */
adapt_status adapt_model_mlm_logits(adapt_model *model, int B, int T, const int32_t *ids,
                                    const int32_t *mask, const int32_t *type_ids, float *logits);

#ifdef __cplusplus
}
#endif
#endif
