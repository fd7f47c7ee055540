/* Training / inference throughput on random weights of a preset shape (`adapt bench`): the same
 * steps `adapt train` and `adapt predict` run, timed step by step, with the sgemm ceiling of the
 * machine measured in the same run so that the GFLOP/s can be read as a share of it. */
#ifndef ADAPT_TRAIN_BENCH_H
#define ADAPT_TRAIN_BENCH_H
#include "adapt.h"

typedef enum bench_mode { BENCH_INFER, BENCH_ADAPTER, BENCH_FULL } bench_mode;

typedef struct bench_options {
    const char *preset;   /* "bert-base" or "default" (models/default's shape) */
    bench_mode mode;
    int batch, seq, steps, warmup;
    bool ceiling;         /* measure the sgemm ceiling too */
    adapt_weight_dtype weight_dtype; /* bf16: weight-only bf16 (adapt.h); refused for full fine-tuning */
} bench_options;

typedef struct bench_result {
    double tokens_per_s;  /* batch * seq / median step time */
    double step_ms;       /* median, and the fastest step */
    double min_step_ms;
    double gflops;        /* model FLOPs (see bench.c) / median step time */
    double sgemm_gflops;  /* median sgemm rate on the step's own GEMMs (bench_ceiling.h); 0 when not measured */
    double sgemm_peak_gflops; /* best of a few single FFN-shaped sgemm runs, for reference */
    double peak_rss_mb;
    double loss;          /* of the last step (training modes) */
    size_t params, trainable;
    int threads;
} bench_result;

/* Parses "infer" | "adapter" | "full". */
bool bench_mode_parse(const char *s, bench_mode *out);
const char *bench_mode_name(bench_mode m);
adapt_status bench_run(const bench_options *o, bench_result *r);

#endif
