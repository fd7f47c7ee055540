/* Data-parallel training: the processes of one run hold the same model, each takes its own slice
 * of every batch, and their gradients are summed before the optimizer step, so every process
 * makes the same update. libadapt links data_parallel_single.c (one process); the `adapt-mpi`
 * tool links src/backend/mpi/data_parallel_mpi.c instead (Open MPI; `mpirun -np N adapt-mpi
 * train ...`). docs/data-parallel.md. */
#ifndef ADAPT_TRAIN_DATA_PARALLEL_H
#define ADAPT_TRAIN_DATA_PARALLEL_H
#include "adapt.h"
#include <stddef.h>

/* Joins the run (MPI_Init under MPI); 0 on success. Sets the OpenMP threads of each process to
 * its share of the machine's cores when OMP_NUM_THREADS is not set. */
int dp_init(int *argc, char ***argv);
/* Leaves the run with the command's exit code: a failure on one process stops them all, since
 * the others would wait for it forever in the next sum. */
void dp_finish(int exit_code);
int dp_rank(void);
int dp_size(void);
/* What carries the sums, for logs: "single process" or the MPI library's version. */
const char *dp_engine(void);
/* buf[i] summed over all processes, the same bits on every process (each item's sum computed in
 * one place and sent to all: replicas that differed by a rounding would drift apart step by step). */
adapt_status dp_sum_floats(float *buf, size_t n);
adapt_status dp_sum_doubles(double *buf, size_t n);
/* Process 0's values everywhere (a decision only process 0 takes: the time budget, on its clock). */
adapt_status dp_broadcast_ints(int *buf, size_t n);

#endif
