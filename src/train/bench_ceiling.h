/* The sgemm ceiling of a bench run: what OpenBLAS's sgemm alone achieves on the GEMMs a step of
 * the model runs (its shapes, transpositions and layer count, over weights as large as the
 * model's), timed between the model's steps so that both see the same machine. The bench divides
 * its model GFLOP/s by this rate. A single large GEMM's best time (the peak) is measured too, for
 * reference: on a shared or frequency-scaling machine it is an outlier, not a rate. */
#ifndef ADAPT_TRAIN_BENCH_CEILING_H
#define ADAPT_TRAIN_BENCH_CEILING_H
#include "model/model.h"
#include "train/bench.h"

typedef struct gemm_ceiling gemm_ceiling;

/* NULL when out of memory. */
gemm_ceiling *gemm_ceiling_create(const model_config *c, int rows, bench_mode mode);
/* Runs the step's GEMMs once; returns their sgemm GFLOP/s. */
double gemm_ceiling_pass(gemm_ceiling *g);
/* What it holds (all touched at creation), so that a peak RSS can leave it out. */
size_t gemm_ceiling_bytes(const gemm_ceiling *g);
void gemm_ceiling_free(gemm_ceiling *g);

/* Best of a few runs of the FFN's up projection shape [rows, H] x [H, I]^T; 0 when out of memory. */
double sgemm_peak(int rows, int in_dim, int out_dim);

#endif
