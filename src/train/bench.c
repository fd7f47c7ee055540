/* `adapt bench`: see bench.h.
 *
 * Model FLOPs (what the numbers are divided by) follow the usual convention, not what this
 * implementation happens to execute: 2 FLOPs per multiply-add of every encoder linear layer and
 * of the attention products (Q K^T, P V) per token, times 1 for inference, 2 for adapter training
 * (forward + the input gradients of the frozen layers) and 3 for full fine-tuning (+ the weight
 * gradients). Adapter, head, LayerNorm and elementwise work is left out (under 1%). */
#include "train/bench.h"
#include "adapters/setup.h"
#include "core/clock.h"
#include "core/error.h"
#include "model/heads.h"
#include "model/layers.h"
#include "train/adamw.h"
#include "train/bench_ceiling.h"
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BENCH_LABELS 9

bool bench_mode_parse(const char *s, bench_mode *out)
{
    static const char *names[] = {"infer", "adapter", "full"};
    for (int i = 0; i < 3; i++)
        if (s && !strcmp(s, names[i])) return *out = (bench_mode)i, true;
    return false;
}

const char *bench_mode_name(bench_mode m) { return m == BENCH_INFER ? "infer" : m == BENCH_ADAPTER ? "adapter" : "full"; }

static adapt_status preset_config(const char *preset, model_config *c)
{
    memset(c, 0, sizeof *c);
    c->hidden_act = ACT_GELU;
    c->hidden_dropout = c->attn_dropout = 0.1;
    if (!strcmp(preset, "bert-base")) {
        snprintf(c->model_type, sizeof c->model_type, "bert");
        c->family = FAMILY_BERT;
        c->hidden = 768, c->layers = 12, c->heads = 12, c->intermediate = 3072, c->vocab = 30522;
        c->max_positions = 512, c->type_vocab = 2, c->pad_id = 0, c->layer_norm_eps = 1e-12;
    } else if (!strcmp(preset, "default")) { /* models/default/config.json */
        snprintf(c->model_type, sizeof c->model_type, "roberta");
        c->family = FAMILY_ROBERTA;
        c->hidden = 256, c->layers = 6, c->heads = 4, c->intermediate = 1024, c->vocab = 16000;
        c->max_positions = 130, c->type_vocab = 1, c->pad_id = 1, c->layer_norm_eps = 1e-5;
    } else {
        return adapt_fail(ADAPT_ERR_ARG, "unknown preset \"%s\" (bert-base, default)", preset);
    }
    return ADAPT_OK;
}

/* The model of a mode: adapter = Pfeiffer (seq_bn, reduction factor 16) + tagging head trainable;
 * full = every base tensor + the head; infer = the adapter setup in evaluation mode. */
static adapt_status build(const bench_options *o, adapt_model **out, head *h)
{
    model_config c;
    TRY(preset_config(o->preset, &c));
    int max_seq = c.family == FAMILY_BERT ? c.max_positions : c.max_positions - c.pad_id - 1;
    if (o->batch < 1 || o->seq < 1 || o->seq > max_seq || o->steps < 1 || o->warmup < 0)
        return adapt_fail(ADAPT_ERR_ARG, "bench: batch, steps >= 1 and seq in [1, %d] for this preset", max_seq);
    if (o->mode == BENCH_FULL && o->weight_dtype == ADAPT_WEIGHTS_BF16)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "--dtype bf16 holds the frozen encoder weights as bf16, and full "
                                                 "fine-tuning trains every weight: use --mode infer or adapter, or fp32");
    adapt_model *m;
    TRY(model_create_dtype(&c, o->weight_dtype, &m));
    *out = m;
    model_init_random(m, 0.02, 7);
    if (o->mode != BENCH_FULL) {
        bn_config bc;
        TRY(bn_config_parse_string("seq_bn", &bc));
        TRY(setup_add_adapter(m, "bench", &bc, true));
        TRY(setup_activate(m, "bench"));
        if (o->mode == BENCH_ADAPTER) TRY(setup_set_adapter_trainable(m, "bench", true));
    } else {
        for (size_t i = 0; i < m->store.count; i++) TRY(store_set_trainable(m->store.items[i], true));
    }
    TRY(head_create(m, h, HEAD_TAGGING, "bench", BENCH_LABELS));
    uint64_t rng = 11;
    head_init_random(h, &rng);
    if (o->mode != BENCH_INFER) {
        TRY(store_set_trainable(h->w1, true));
        TRY(store_set_trainable(h->b1, true));
    }
    return ADAPT_OK;
}

typedef struct bench_batch {
    int32_t *ids;
    int64_t *labels;
    float *logits, *d_logits, *d_hidden;
} bench_batch;

static adapt_status one_step(adapt_model *m, head *h, const bench_options *o, bench_batch *b, long step, double *loss)
{
    int B = o->batch, T = o->seq, N = B * T;
    m->training = o->mode != BENCH_INFER;
    TRY(m->training ? model_forward(m, B, T, b->ids, NULL, NULL) : model_forward_inference(m, B, T, b->ids, NULL, NULL));
    TRY(head_forward(m, h, b->logits));
    if (!m->training) return ADAPT_OK;
    memset(b->d_logits, 0, (size_t)N * BENCH_LABELS * sizeof(float));
    memset(b->d_hidden, 0, (size_t)N * m->cfg.hidden * sizeof(float));
    store_zero_grads(&m->store);
    *loss = cross_entropy_forward_backward(b->d_logits, b->logits, b->labels, N, BENCH_LABELS, 1.0f);
    TRY(head_backward(m, h, b->d_logits, b->d_hidden));
    TRY(model_backward(m, b->d_hidden));
    adamw_config ac = {1e-5, 0.9, 0.999, 1e-8, 0.01};
    return adamw_step(&m->store, &ac, ac.lr, step);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts values in place. */
static double median(double *values, int n)
{
    qsort(values, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

static double model_flops(const model_config *c, const bench_options *o)
{
    double H = c->hidden, ffn = c->intermediate, T = o->seq, N = (double)o->batch * o->seq;
    double lin = 2.0 * N * c->layers * (4 * H * H + 2 * H * ffn), att = 2.0 * N * c->layers * 2 * T * H;
    return o->mode == BENCH_INFER ? lin + att : o->mode == BENCH_ADAPTER ? 2 * lin + 3 * att : 3 * lin + 3 * att;
}

adapt_status bench_run(const bench_options *o, bench_result *r)
{
    memset(r, 0, sizeof *r);
    adapt_model *m = NULL;
    head h;
    int N = o->batch * o->seq;
    bench_batch b = {0};
    double *times = calloc((size_t)o->steps, sizeof(double));
    adapt_status s = build(o, &m, &h);
    if (!s) {
        b.ids = malloc((size_t)N * sizeof(int32_t));
        b.labels = malloc((size_t)N * sizeof(int64_t));
        b.logits = alloc_floats((size_t)N * BENCH_LABELS);
        b.d_logits = alloc_floats((size_t)N * BENCH_LABELS);
        b.d_hidden = alloc_floats((size_t)N * m->cfg.hidden);
        if (!times || !b.ids || !b.labels || !b.logits || !b.d_logits || !b.d_hidden) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    if (!s) {
        uint64_t x = 99;
        for (int i = 0; i < N; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            b.ids[i] = 5 + (int32_t)((x >> 33) % (uint64_t)(m->cfg.vocab - 5));
            b.labels[i] = (int64_t)((x >> 20) % BENCH_LABELS);
        }
        m->dropout_rng = 1234;
    }
    /* The ceiling's GEMMs run right after each timed step: both medians see the same machine. */
    gemm_ceiling *ceiling = NULL;
    double *ceiling_rates = NULL;
    if (!s && o->ceiling) {
        ceiling = gemm_ceiling_create(&m->cfg, N, o->mode);
        ceiling_rates = calloc((size_t)o->steps, sizeof(double));
        if (!ceiling || !ceiling_rates) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory for the sgemm ceiling's buffers");
    }
    for (int i = 0; !s && i < o->warmup + o->steps; i++) {
        double t = monotonic_seconds();
        s = one_step(m, &h, o, &b, i + 1, &r->loss);
        if (i >= o->warmup) times[i - o->warmup] = monotonic_seconds() - t;
        if (!s && ceiling && i >= o->warmup) ceiling_rates[i - o->warmup] = gemm_ceiling_pass(ceiling);
    }
    if (!s) {
        double med = median(times, o->steps);
        r->step_ms = 1e3 * med;
        r->min_step_ms = 1e3 * times[0];
        r->tokens_per_s = N / med;
        r->gflops = model_flops(&m->cfg, o) / med * 1e-9;
        r->params = store_count_params(&m->store, false);
        r->trainable = store_count_params(&m->store, true);
        r->threads = omp_get_max_threads();
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        /* The ceiling's buffers were resident through every step: they are not the model's. */
        r->peak_rss_mb = (ru.ru_maxrss * 1024.0 - (double)gemm_ceiling_bytes(ceiling)) / (1 << 20);
        if (ceiling) {
            r->sgemm_gflops = median(ceiling_rates, o->steps);
            r->sgemm_peak_gflops = sgemm_peak(N, m->cfg.hidden, m->cfg.intermediate);
        }
    }
    gemm_ceiling_free(ceiling);
    free(ceiling_rates);
    free(times);
    free(b.ids);
    free(b.labels);
    free(b.logits);
    free(b.d_logits);
    free(b.d_hidden);
    adapt_model_free(m);
    return s;
}
