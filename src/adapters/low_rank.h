/* A matrix as LoRA factors: the truncated singular value decomposition of a [rows, cols] delta,
 * B = U_r diag(S_r) [rows, r] and A = Vh_r [r, cols] (PEFT's svd combinations of LoRAs), through
 * LAPACK's dgesdd in OpenBLAS. Singular vectors are defined up to sign: B A is what is unique. */
#ifndef ADAPT_ADAPTERS_LOW_RANK_H
#define ADAPT_ADAPTERS_LOW_RANK_H
#include "adapt.h"

/* delta: row-major [rows, cols] (left unchanged); 1 <= rank <= min(rows, cols). clamp in (0, 1]:
 * B's and A's entries are clamped to +-(that quantile of all their entries together), PEFT's
 * svd_clamp; 0: not clamped. Fails on a non-finite delta, LAPACK not converging, or memory. */
adapt_status low_rank_factors(const double *delta, int rows, int cols, int rank, double clamp, float *B, float *A);
/* The same for the product L R of L [rows, inner] and R [inner, cols] (row-major): with inner
 * below min(rows, cols) through QR of both sides and the SVD of an [inner, inner] core (a sum of
 * LoRAs is such a product: milliseconds instead of a full SVD), else the product's SVD. */
adapt_status low_rank_factors_of_product(const double *L, const double *R, int rows, int inner, int cols, int rank, double clamp,
                                         float *B, float *A);

#endif
