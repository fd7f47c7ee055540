/* A shared case's inputs (fixtures/cases/<case>/inputs.safetensors) as the public API takes them. */
#ifndef ADAPT_TESTS_CASE_BATCH_H
#define ADAPT_TESTS_CASE_BATCH_H
#include <stdint.h>

typedef struct case_batch {
    int B, T;
    int32_t *ids, *mask, *type_ids; /* type_ids NULL when the case has none */
} case_batch;

/* input_ids, attention_mask and token_type_ids; rows > 0 repeats the case's rows to that many
 * (row r is the case's row r mod B), 0 keeps them as stored. Fails the test when unreadable. */
case_batch case_batch_read(const char *case_name, int rows);
void case_batch_free(case_batch *b);

#endif
