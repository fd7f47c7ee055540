/* Host-side pieces of the adapt-gpu tool (plain C, linked with libadapt and the CUDA backend). */
#ifndef ADAPT_BACKEND_CUDA_GPU_HOST_H
#define ADAPT_BACKEND_CUDA_GPU_HOST_H
#include "backend/cuda/gpu.h"
#include "model/model.h"

int gpu_cmd_case(int argc, char **argv);
int gpu_cmd_pretrain(int argc, char **argv);
int gpu_cmd_bench(int argc, char **argv);
int gpu_cmd_check_mlm(int argc, char **argv);
int gpu_cmd_check_attention(int argc, char **argv);
int gpu_cmd_check_fused(int argc, char **argv);
int gpu_cmd_check_attention_train(int argc, char **argv);

/* A BERT encoder of the given shape (BERT-base: 768, 12, 12, 3072, 30522) with a token classifier
 * "classifier.{weight,bias}" of `classes` labels, initialised by gpu_init_roberta(seed). */
adapt_status gpu_bert_model(int hidden, int layers, int heads, int intermediate, int vocab, int classes, uint64_t seed,
                            adapt_model **out);

/* ||a - e||_2 over n values, *ref_norm = ||e||_2 (the GPU checks' comparison, in double). */
double gpu_l2_diff(const float *a, const float *e, size_t n, double *ref_norm);

/* Hugging Face RoBERTa initialisation: Linear / Embedding weights N(0, 0.02), biases 0, LayerNorm
 * 1 / 0, the padding rows of the word and position tables 0. */
void gpu_init_roberta(adapt_model *m, uint64_t seed);

/* Writes dir/config.json and the weights (Hugging Face RobertaForMaskedLM names; tied decoder not
 * stored) as shards of at most shard_bytes, with model.safetensors.index.json when more than one. */
adapt_status gpu_save_hf(const adapt_model *m, const char *dir, adapt_dtype dtype, size_t shard_bytes, const char *metadata_json);


#endif
