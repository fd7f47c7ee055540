/* The fixture comparison rule (shared/fixtures/README.md), per tensor:
 * ||actual - expected||_2 <= rtol * ||expected||_2 + atol * sqrt(numel), rtol 1e-5 for forward
 * tensors and parameters, 1e-4 for gradients (grad.*), atol 1e-6. */
#ifndef ADAPT_TEST_CASE_COMPARE_H
#define ADAPT_TEST_CASE_COMPARE_H
#include <stdbool.h>
#include <stddef.h>

typedef struct compare_result {
    size_t compared, failed, missing;
    double max_rel_error;      /* max over tensors of ||a - e|| / ||e|| */
    char worst[160];           /* name of the tensor with the largest relative error */
} compare_result;

/* Compares every tensor of `expected` that `actual` holds; a tensor missing from actual counts in
 * `missing`. `only_prefix` (optional) restricts to names starting with it. Prints failures. */
bool compare_case_outputs(const char *expected_path, const char *actual_path, compare_result *r);

/* Runs build/adapt-case on a case folder into out_path; returns its exit code. */
int run_adapt_case(const char *case_dir, const char *out_path);

#endif
