/* LoRA test helpers shared by test_multi_lora, test_lora_combine, test_dora and
 * test_lora_patterns: the tiny BERT fixture model, a case batch's hidden states, a LoRA's delta on
 * one linear layer, and a gradient check's loss and central differences. */
#ifndef ADAPT_TESTS_LORA_FIXTURE_H
#define ADAPT_TESTS_LORA_FIXTURE_H
#include "adapt.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ../shared/fixtures/models/tiny-bert (the test fails when it does not load). */
adapt_model *load_tiny_bert(void);
struct case_batch;
struct param;
/* The model's hidden states for a case batch (malloc'd [B, T, H]; the test fails on an error). */
float *encode_case_batch(adapt_model *m, const struct case_batch *b);
/* Largest |a[i] - b[i]|. */
double max_abs_difference(const float *a, const float *b, size_t n);
/* A gradient check's setting: a batch of ids through the model and a head, the loss the logits
 * weighted by w (so d logits = w). */
enum { GRAD_B = 2, GRAD_T = 6, GRAD_LABELS = 5 };
typedef struct grad_run {
    adapt_model *m;
    struct head *h;
    int32_t ids[GRAD_B * GRAD_T];
    float w[GRAD_B * GRAD_T * GRAD_LABELS];
} grad_run;
/* Fills ids and w from a seed and makes a random tagging head "t" (g->h, malloc'd). */
void grad_run_init(grad_run *g, adapt_model *m, uint64_t seed);
void grad_run_free(grad_run *g);
/* The loss; with backward, every trainable tensor's gradient of it (zeroed first). The dropout
 * stream restarts each pass, so passes with dropout on draw the same masks. */
double grad_run_loss(grad_run *g, bool backward);
/* Central difference of the loss in v[i] (step 1e-2). */
double grad_run_numeric(grad_run *g, float *v, size_t i);
/* p's largest gradient entry (after grad_run_loss with backward) against its central difference
 * (3% + 2e-3), which must not be ~0 (a check that can fail). */
void assert_largest_gradient(grad_run *g, struct param *p);

/* Fails the test unless `got` is `want` and adapt_error() says `text`. */
void expect_failure(adapt_status got, adapt_status want, const char *text);
/* A JSON file, parsed (malloc'd; the test fails when it cannot be). */
struct cJSON;
struct cJSON *read_json(const char *path);
/* Runs `adapt train --task ner` on models/default with the first 400 lines of WikiANN-en, 8 steps
 * of --method lora plus `flag` ("--ia3", "--ia3-peft"), output in test_tmp/<out>; returns the
 * saved LoRA folder (<out>/best/lora, a static buffer). */
const char *train_tiny_lora(const char *flag, const char *out);

/* An (IA)^3 attached from cfg: each vector l starts at ones (the test fails otherwise) and is then
 * drawn in [0.5, 1.5] from seed. */
struct lora_config;
struct lora_state *attach_drawn_ia3(adapt_model *m, const struct lora_config *cfg, const char *name, uint64_t seed);
/* Merging the active LoRA gives `want` (the batch's hidden states, within 1e-5); unmerging gives
 * W's values back (within 1e-6). */
void assert_merge_round_trip(adapt_model *m, const struct case_batch *b, const float *want, const struct param *W);

/* Saves LoRA `lora` as a PEFT folder `dir` and reads its adapter_model.safetensors into st
 * (initialised here; the caller frees it). */
struct param_store;
void save_lora_and_read(adapt_model *m, const char *lora, const char *dir, struct param_store *st);

/* s B A of LoRA `lora`'s module k (a lora_linear) in layer `layer`, [out, in], in double (malloc'd). */
double *lora_delta(const adapt_model *m, const char *lora, int layer, int k);

#endif
