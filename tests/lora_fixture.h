/* LoRA test helpers shared by test_multi_lora and test_lora_combine: the tiny BERT fixture model,
 * and a LoRA's delta on one linear layer. */
#ifndef ADAPT_TESTS_LORA_FIXTURE_H
#define ADAPT_TESTS_LORA_FIXTURE_H
#include "adapt.h"
#include <stddef.h>

/* ../shared/fixtures/models/tiny-bert (the test fails when it does not load). */
adapt_model *load_tiny_bert(void);
struct case_batch;
/* The model's hidden states for a case batch (malloc'd [B, T, H]; the test fails on an error). */
float *encode_case_batch(adapt_model *m, const struct case_batch *b);
/* Largest |a[i] - b[i]|. */
double max_abs_difference(const float *a, const float *b, size_t n);
/* s B A of LoRA `lora`'s module k (a lora_linear) in layer `layer`, [out, in], in double (malloc'd). */
double *lora_delta(const adapt_model *m, const char *lora, int layer, int k);

#endif
