/* Data parallelism of one process: every sum is the value itself. */
#include "train/data_parallel.h"

int dp_init(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

void dp_finish(int exit_code) { (void)exit_code; }
int dp_rank(void) { return 0; }
int dp_size(void) { return 1; }
const char *dp_engine(void) { return "single process"; }

adapt_status dp_sum_floats(float *buf, size_t n)
{
    (void)buf, (void)n;
    return ADAPT_OK;
}

adapt_status dp_sum_doubles(double *buf, size_t n)
{
    (void)buf, (void)n;
    return ADAPT_OK;
}

adapt_status dp_broadcast_ints(int *buf, size_t n)
{
    (void)buf, (void)n;
    return ADAPT_OK;
}
