/* adapt bench: throughput of inference, adapter training or full fine-tuning on random weights of
 * a preset shape (see src/train/bench.h; bench/vs_pytorch.sh runs it beside PyTorch). */
#include "cli/args.h"
#include "cli/commands.h"
#include "train/bench.h"
#include <stdio.h>
#include <string.h>

static int usage(FILE *fp, int code)
{
    fprintf(fp, "usage: adapt bench [--preset bert-base|default] [--batch 8] [--seq 128] [--mode infer|adapter|full]\n"
                "                   [--dtype fp32|bf16] [--steps 10] [--warmup 2] [--no-ceiling] [--json]\n"
                "Random weights of the preset's shape; adapter = Pfeiffer (seq_bn, reduction factor 16) + a 9-label\n"
                "tagging head trainable, full = every tensor; training modes run dropout 0.1 and AdamW. Prints\n"
                "tokens/s (median step after warm-up), model GFLOP/s, their share of an sgemm ceiling measured in\n"
                "the same run, and peak RSS. Threads: OMP_NUM_THREADS.\n"
                "--dtype bf16 is weight-only bf16: the frozen encoder linear weights are stored as bf16 and widened\n"
                "to fp32 right before each GEMM (half their memory; all arithmetic stays fp32, sgemm); not with full.\n");
    return code;
}

int cmd_bench(int argc, char **argv)
{
    bench_options o = {.preset = "bert-base", .mode = BENCH_INFER, .batch = 8, .seq = 128, .steps = 10, .warmup = 2, .ceiling = true};
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout, 0);
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (!strcmp(a, "--no-ceiling")) { o.ceiling = false; continue; }
        if (!v) {
            fprintf(stderr, "adapt bench: unknown option %s (or it needs a value)\n", a);
            return usage(stderr, 2);
        }
        i++;
        if (!strcmp(a, "--preset")) o.preset = v;
        else if (!strcmp(a, "--mode")) {
            if (!bench_mode_parse(v, &o.mode)) {
                fprintf(stderr, "adapt bench: --mode needs infer, adapter or full, not \"%s\"\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--dtype")) {
            if (!arg_weight_dtype("bench", a, v, &o.weight_dtype)) return 2;
        } else if (!strcmp(a, "--batch")) {
            if (!arg_long("bench", a, v, 1, 4096, &n)) return 2;
            o.batch = (int)n;
        } else if (!strcmp(a, "--seq")) {
            if (!arg_long("bench", a, v, 1, 4096, &n)) return 2;
            o.seq = (int)n;
        } else if (!strcmp(a, "--steps")) {
            if (!arg_long("bench", a, v, 1, 100000, &n)) return 2;
            o.steps = (int)n;
        } else if (!strcmp(a, "--warmup")) {
            if (!arg_long("bench", a, v, 0, 100000, &n)) return 2;
            o.warmup = (int)n;
        } else {
            fprintf(stderr, "adapt bench: unknown option %s\n", a);
            return usage(stderr, 2);
        }
    }
    bench_result r;
    if (bench_run(&o, &r)) return cli_report_error("bench");
    const char *dtype = o.weight_dtype == ADAPT_WEIGHTS_BF16 ? "bf16" : "fp32";
    double share = r.sgemm_gflops > 0 ? r.gflops / r.sgemm_gflops : 0;
    if (json) {
        printf("{\"preset\": \"%s\", \"mode\": \"%s\", \"dtype\": \"%s\", \"batch\": %d, \"seq\": %d, \"threads\": %d, "
               "\"steps\": %d, \"tokens_per_s\": %.2f, \"step_ms\": %.3f, \"min_step_ms\": %.3f, \"gflops\": %.3f, "
               "\"sgemm_gflops\": %.3f, \"sgemm_peak_gflops\": %.3f, \"ceiling_share\": %.4f, \"peak_rss_mb\": %.1f, \"params\": %zu, \"trainable\": %zu, "
               "\"loss\": %.6f}\n",
               o.preset, bench_mode_name(o.mode), dtype, o.batch, o.seq, r.threads, o.steps, r.tokens_per_s, r.step_ms, r.min_step_ms,
               r.gflops, r.sgemm_gflops, r.sgemm_peak_gflops, share, r.peak_rss_mb, r.params, r.trainable, r.loss);
        return 0;
    }
    printf("%s %s %s, batch %d x %d, %d threads, %d steps after %d warm-up\n", o.preset, bench_mode_name(o.mode),
           o.weight_dtype == ADAPT_WEIGHTS_BF16 ? "bf16 weights (fp32 arithmetic)" : "fp32", o.batch, o.seq, r.threads, o.steps,
           o.warmup);
    printf("  %.1f tokens/s (median step %.1f ms, fastest %.1f ms)\n", r.tokens_per_s, r.step_ms, r.min_step_ms);
    if (r.sgemm_gflops > 0)
        printf("  %.1f model GFLOP/s = %.0f%% of the sgemm ceiling: %.1f GFLOP/s on this step's own GEMMs, median of runs\n"
               "  between the steps (single large sgemm, best of 5: %.1f GFLOP/s)\n",
               r.gflops, 100 * share, r.sgemm_gflops, r.sgemm_peak_gflops);
    else printf("  %.1f model GFLOP/s\n", r.gflops);
    printf("  peak RSS %.1f MB; %zu parameters, %zu trainable\n", r.peak_rss_mb, r.params, r.trainable);
    return 0;
}
