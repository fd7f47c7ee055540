/* Does a bf16 GEMM pay on this CPU? (issue 7; results in docs/performance.md, "bf16 on the CPU").
 *
 * 1. Instruction ceiling: one core's throughput of vdpbf16ps (AVX512_BF16: 32 bf16 multiply-adds
 *    into 16 fp32) against vfmadd231ps (16 fp32 multiply-adds), 24 independent zmm accumulators
 *    each, so that latency does not limit either.
 * 2. The GEMMs of a BERT-base layer at B*T = 1024 rows: OpenBLAS sgemm (what adapt runs) against a
 *    oneDNN 2.6 matmul in bf16 (bf16 x bf16 -> fp32, the weights reordered once into the layout the
 *    primitive asks for, the activations rounded to bf16 on every call, inside the timing) and the
 *    same matmul in fp32. Forward y = x W^T and the data gradient dX = dY W of frozen linears.
 *    The three run alternately within each repetition; medians are printed.
 *
 * Not part of the build (oneDNN is not a dependency). Build and run:
 *   apt-get install libdnnl-dev
 *   B=/usr/lib/x86_64-linux-gnu/openblas-openmp
 *   gcc -O2 -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -fopenmp bench/bf16_gemm.c -o /tmp/bf16_gemm \
 *       -I/usr/include/x86_64-linux-gnu/openblas-openmp -L$B -Wl,-rpath,$B -lopenblas -ldnnl
 *   OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=2 /tmp/bf16_gemm [reps]
 * (OPENBLAS_CORETYPE: VMs that hide the CPU model otherwise get OpenBLAS's SSE3 kernels; adapt
 * itself sets it, see src/cli/blas_core.c.) oneDNN in Debian runs on OpenMP (libgomp), the runtime
 * adapt and its OpenBLAS use, so the same OMP_NUM_THREADS drives all three. */
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CK(x)                                                                                  \
    do {                                                                                       \
        dnnl_status_t s_ = (x);                                                                \
        if (s_ != dnnl_success) {                                                              \
            fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #x, (int)s_);       \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)
#define MAX_REPS 64

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* ------------------------------------------------------------------ 1. instruction ceiling */
#define ACC24(I) I " %%zmm30, %%zmm31, %%zmm0\n\t" I " %%zmm30, %%zmm31, %%zmm1\n\t" I " %%zmm30, %%zmm31, %%zmm2\n\t"   \
    I " %%zmm30, %%zmm31, %%zmm3\n\t" I " %%zmm30, %%zmm31, %%zmm4\n\t" I " %%zmm30, %%zmm31, %%zmm5\n\t"                 \
    I " %%zmm30, %%zmm31, %%zmm6\n\t" I " %%zmm30, %%zmm31, %%zmm7\n\t" I " %%zmm30, %%zmm31, %%zmm8\n\t"                 \
    I " %%zmm30, %%zmm31, %%zmm9\n\t" I " %%zmm30, %%zmm31, %%zmm10\n\t" I " %%zmm30, %%zmm31, %%zmm11\n\t"               \
    I " %%zmm30, %%zmm31, %%zmm12\n\t" I " %%zmm30, %%zmm31, %%zmm13\n\t" I " %%zmm30, %%zmm31, %%zmm14\n\t"              \
    I " %%zmm30, %%zmm31, %%zmm15\n\t" I " %%zmm30, %%zmm31, %%zmm16\n\t" I " %%zmm30, %%zmm31, %%zmm17\n\t"              \
    I " %%zmm30, %%zmm31, %%zmm18\n\t" I " %%zmm30, %%zmm31, %%zmm19\n\t" I " %%zmm30, %%zmm31, %%zmm20\n\t"              \
    I " %%zmm30, %%zmm31, %%zmm21\n\t" I " %%zmm30, %%zmm31, %%zmm22\n\t" I " %%zmm30, %%zmm31, %%zmm23\n\t"
#define CLOBBER24 "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",    \
    "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",        \
    "xmm30", "xmm31"

__attribute__((target("avx512f,avx512bf16"), noinline)) static void loop_dpbf16(long n)
{
    __asm__ volatile("vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31\n\t"
                     "1:\n\t" ACC24("vdpbf16ps") "dec %0\n\tjnz 1b" : "+r"(n) : : CLOBBER24, "cc");
}

__attribute__((target("avx512f"), noinline)) static void loop_fma(long n)
{
    __asm__ volatile("vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31\n\t"
                     "1:\n\t" ACC24("vfmadd231ps") "dec %0\n\tjnz 1b" : "+r"(n) : : CLOBBER24, "cc");
}

static void instruction_ceiling(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512bf16")) {
        printf("instruction ceiling: no AVX512_BF16 on this CPU\n");
        return;
    }
    long n = 20000000;
    double tb[5], tf[5];
    for (int r = 0; r < 5; r++) {
        double t = now();
        loop_dpbf16(n);
        tb[r] = now() - t;
        t = now();
        loop_fma(n);
        tf[r] = now() - t;
    }
    double ops = 24.0 * n, b = median(tb, 5), f = median(tf, 5);
    printf("instruction ceiling, 1 core: vdpbf16ps %.2f/ns = %.0f GFLOP/s, vfmadd231ps %.2f/ns = %.0f GFLOP/s\n",
           ops / b * 1e-9, ops * 64 / b * 1e-9, ops / f * 1e-9, ops * 32 / f * 1e-9);
}

/* ------------------------------------------------------------------ 2. GEMMs */
static dnnl_engine_t engine;
static dnnl_stream_t stream;

/* Round to nearest even, as oneDNN and PyTorch convert. */
static void to_bf16(uint16_t *out, const float *x, size_t n)
{
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        out[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
}

typedef struct onednn_mm {
    dnnl_primitive_t mm;
    dnnl_memory_t src, wei, dst;
    uint16_t *src_bf16;
    const float *x;
    size_t x_n;
} onednn_mm;

/* C[M,N] = A[M,K] B, B logical [K,N] stored fp32 as W[N,K] (trans_b, a linear's y = x W^T) or
 * W[K,N] (dX = dY W); the weights are reordered once into the primitive's own layout. */
static void mm_create(onednn_mm *p, dnnl_data_type_t t, int M, int K, int N, const float *A, const float *W, int trans_b,
                      float *C)
{
    dnnl_memory_desc_t a_md, w_any, c_md, w_user;
    dnnl_dims_t ad = {M, K}, wd = {K, N}, cd = {M, N};
    CK(dnnl_memory_desc_init_by_tag(&a_md, 2, ad, t, dnnl_ab));
    CK(dnnl_memory_desc_init_by_tag(&w_any, 2, wd, t, dnnl_format_tag_any));
    CK(dnnl_memory_desc_init_by_tag(&c_md, 2, cd, dnnl_f32, dnnl_ab));
    CK(dnnl_memory_desc_init_by_tag(&w_user, 2, wd, dnnl_f32, trans_b ? dnnl_ba : dnnl_ab));
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd, rpd;
    CK(dnnl_matmul_desc_init(&md, &a_md, &w_any, NULL, &c_md));
    CK(dnnl_primitive_desc_create(&pd, &md, NULL, engine, NULL));
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    CK(dnnl_primitive_create(&p->mm, pd));
    dnnl_memory_t wu;
    dnnl_primitive_t ro;
    CK(dnnl_memory_create(&wu, &w_user, engine, (void *)W));
    CK(dnnl_memory_create(&p->wei, w_md, engine, DNNL_MEMORY_ALLOCATE));
    CK(dnnl_reorder_primitive_desc_create(&rpd, &w_user, engine, w_md, engine, NULL));
    CK(dnnl_primitive_create(&ro, rpd));
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, wu}, {DNNL_ARG_TO, p->wei}};
    CK(dnnl_primitive_execute(ro, stream, 2, rargs));
    CK(dnnl_stream_wait(stream));
    p->x = A;
    p->x_n = (size_t)M * K;
    p->src_bf16 = t == dnnl_bf16 ? aligned_alloc(64, p->x_n * sizeof(uint16_t)) : NULL;
    CK(dnnl_memory_create(&p->src, &a_md, engine, p->src_bf16 ? (void *)p->src_bf16 : (void *)A));
    CK(dnnl_memory_create(&p->dst, &c_md, engine, C));
    dnnl_primitive_destroy(ro);
    dnnl_primitive_desc_destroy(rpd);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(wu);
}

static void mm_run(onednn_mm *p)
{
    if (p->src_bf16) to_bf16(p->src_bf16, p->x, p->x_n);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_WEIGHTS, p->wei}, {DNNL_ARG_DST, p->dst}};
    CK(dnnl_primitive_execute(p->mm, stream, 3, args));
    CK(dnnl_stream_wait(stream));
}

static void mm_free(onednn_mm *p)
{
    dnnl_primitive_destroy(p->mm);
    dnnl_memory_destroy(p->src);
    dnnl_memory_destroy(p->wei);
    dnnl_memory_destroy(p->dst);
    free(p->src_bf16);
}

static double rel_err(const float *c, const float *ref, size_t n)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = c[i] > ref[i] ? c[i] - ref[i] : ref[i] - c[i], a = ref[i] < 0 ? -ref[i] : ref[i];
        if (e > d) d = e;
        if (a > m) m = a;
    }
    return m > 0 ? d / m : d;
}

static void gemm_case(const char *name, int M, int K, int N, int trans_b, int reps)
{
    size_t nc = (size_t)M * N;
    float *A = aligned_alloc(64, (size_t)M * K * sizeof(float)), *W = aligned_alloc(64, (size_t)K * N * sizeof(float));
    float *C = aligned_alloc(64, nc * sizeof(float)), *Cb = aligned_alloc(64, nc * sizeof(float));
    float *Cf = aligned_alloc(64, nc * sizeof(float));
    uint64_t s = 12345;
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((s = s * 6364136223846793005ull + 1) >> 40) / (1 << 24) - 0.5f;
    for (size_t i = 0; i < (size_t)K * N; i++) W[i] = ((float)((s = s * 6364136223846793005ull + 1) >> 40) / (1 << 24) - 0.5f) * 0.05f;
    onednn_mm bf, f32;
    mm_create(&bf, dnnl_bf16, M, K, N, A, W, trans_b, Cb);
    mm_create(&f32, dnnl_f32, M, K, N, A, W, trans_b, Cf);
    double tb[MAX_REPS], tdb[MAX_REPS], tdf[MAX_REPS];
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, K, W,
                    trans_b ? K : N, 0.0f, C, N);
        double t1 = now();
        mm_run(&bf);
        double t2 = now();
        mm_run(&f32);
        double t3 = now();
        if (r >= 0) tb[r] = t1 - t0, tdb[r] = t2 - t1, tdf[r] = t3 - t2;
    }
    double gf = 2.0 * M * N * K * 1e-9, b = median(tb, reps), db = median(tdb, reps), df = median(tdf, reps);
    printf("%-26s %7.2f ms %6.1f | %7.2f ms %6.1f  err %.1e | %7.2f ms %6.1f | %5.2fx\n", name, 1e3 * b, gf / b, 1e3 * db,
           gf / db, rel_err(Cb, C, nc), 1e3 * df, gf / df, b / db);
    mm_free(&bf);
    mm_free(&f32);
    free(A), free(W), free(C), free(Cb), free(Cf);
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 9, M = 1024;
    if (reps < 1 || reps > MAX_REPS) reps = 9;
    instruction_ceiling();
    CK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    const dnnl_version_t *v = dnnl_version();
    printf("%d threads, oneDNN %d.%d.%d (CPU runtime %s), M = B*T = %d, %d reps, medians\n", omp_get_max_threads(), v->major,
           v->minor, v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "not OpenMP", M, reps);
    printf("%-26s %20s | %32s | %20s | bf16 speed-up\n", "shape", "OpenBLAS sgemm GF/s", "oneDNN bf16 GF/s, rel. error",
           "oneDNN f32 GF/s");
    gemm_case("y=xW^T [N,768]x[768,768]", M, 768, 768, 1, reps);
    gemm_case("y=xW^T [N,768]x[768,3072]", M, 768, 3072, 1, reps);
    gemm_case("y=xW^T [N,3072]x[3072,768]", M, 3072, 768, 1, reps);
    gemm_case("dX=dYW [N,768]x[768,768]", M, 768, 768, 0, reps);
    gemm_case("dX=dYW [N,3072]x[3072,768]", M, 3072, 768, 0, reps);
    gemm_case("dX=dYW [N,768]x[768,3072]", M, 768, 3072, 0, reps);
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return 0;
}
