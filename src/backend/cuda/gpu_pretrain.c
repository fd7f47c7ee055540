/* adapt-gpu pretrain: masked-language-model pretraining from random initialisation on a flat
 * uint16 token-id file, the recipe of ../shared/reference/pretrain_base.py:
 *   rows: <s> + 126 consecutive ids from a random offset + </s> (T = 128; documents inside the file
 *         are already separated by </s>, so windows cross document boundaries as packing does);
 *   masking: 15% of the ids above --mask-id, of those 80% -> <mask>, 10% -> random id above
 *            --mask-id, 10% kept; the loss only on those rows (gathered before the MLM head);
 *   AdamW (0.9, 0.98, eps 1e-6, decay 0.01 on every tensor), clip 1.0, linear warmup then linear
 *   decay to 0 at the last step; dropout 0.1; bf16 GEMMs.
 * With --seconds the schedule length is re-estimated from the measured step time so that the decay
 * ends when the time does. The last 1% of the ids is held out for the final evaluation. */
#include "backend/cuda/gpu_host.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/fileio.h"
#include "formats/safetensors.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pt_args {
    const char *config, *ids, *out, *init;
    long steps;
    int batch, seq, warmup, log_every, eval_batches;
    double lr, seconds, save_every;
    int mask_id, bos_id, eos_id;
    uint64_t seed;
    gpu_precision precision;
    adapt_dtype save_dtype;
} pt_args;

typedef struct corpus {
    uint16_t *ids;
    size_t n, n_train;   /* [0, n_train) trains, [n_train, n) is held out */
} corpus;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_uniform(uint64_t *s) { return (rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }

static adapt_status load_corpus(const char *path, int vocab, int T, corpus *c)
{
    file_map fm;
    TRY(file_map_open(path, &fm));
    adapt_status s = ADAPT_OK;
    if (fm.size % 2) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: %zu bytes is not a whole number of uint16 ids", path, fm.size);
    c->n = fm.size / 2;
    if (!s && c->n < (size_t)200 * T) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: %zu ids is too few to pretrain on", path, c->n);
    if (!s && !(c->ids = malloc(c->n * sizeof(uint16_t)))) s = adapt_fail(ADAPT_ERR_NOMEM, "out of memory for %zu ids", c->n);
    for (size_t i = 0; !s && i < c->n; i++) {
        c->ids[i] = (uint16_t)(fm.data[2 * i] | fm.data[2 * i + 1] << 8); /* little-endian on any host */
        if (c->ids[i] >= vocab) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: id %u at index %zu is outside the vocabulary (%d)", path, c->ids[i], i, vocab);
    }
    file_map_close(&fm);
    size_t held = c->n / 100 < (size_t)64 * T ? (size_t)64 * T : c->n / 100;
    c->n_train = c->n - held;
    return s;
}

typedef struct batch_buf {
    int32_t *ids, *pos, *rows, *labels;
    int n_rows, max_rows;
} batch_buf;

/* One masked row set. start < 0: random windows from the training part; else consecutive windows
 * from `start` (evaluation). */
static void make_batch(const pt_args *a, const corpus *c, int vocab, uint64_t *rng, long start, batch_buf *b)
{
    int B = a->batch, T = a->seq, span = T - 2;
    b->n_rows = 0;
    for (int r = 0; r < B; r++) {
        size_t off = start < 0 ? (size_t)(rng_next(rng) % (c->n_train - (size_t)span)) : (size_t)start + (size_t)r * span;
        int32_t *row = b->ids + (size_t)r * T;
        row[0] = a->bos_id;
        for (int t = 0; t < span; t++) row[t + 1] = c->ids[off + t];
        row[T - 1] = a->eos_id;
        for (int t = 0; t < T; t++) {
            int id = row[t];
            if (id <= a->mask_id || b->n_rows == b->max_rows || rng_uniform(rng) >= 0.15) continue;
            b->rows[b->n_rows] = r * T + t;
            b->labels[b->n_rows++] = id;
            double u = rng_uniform(rng);
            if (u < 0.8) row[t] = a->mask_id;
            else if (u < 0.9) row[t] = a->mask_id + 1 + (int)(rng_next(rng) % (uint64_t)(vocab - a->mask_id - 1));
        }
    }
}

static adapt_status upload(gpu_model *g, const pt_args *a, const model_config *cfg, batch_buf *b)
{
    TRY(model_position_ids(cfg, a->batch, a->seq, b->ids, b->pos));
    if (!b->n_rows) { /* practically impossible; keep the step well-defined */
        b->rows[0] = 1;
        b->labels[0] = b->ids[1] > a->mask_id ? b->ids[1] : a->mask_id + 1;
        b->n_rows = 1;
    }
    gpu_batch gb = {.B = a->batch, .T = a->seq, .ids = b->ids, .pos_ids = b->pos, .n_rows = b->n_rows, .rows = b->rows,
                    .labels = b->labels, .label_scale = 1.0f / b->n_rows};
    return gpu_upload_batch(g, &gb);
}

/* Mean MLM loss over `nb` batches of consecutive windows from [from, to), fixed masking seed. */
static adapt_status evaluate(gpu_model *g, const pt_args *a, const corpus *c, const model_config *cfg, batch_buf *b, size_t from,
                             size_t to, double *loss)
{
    uint64_t rng = 1234;
    size_t per = (size_t)a->batch * (a->seq - 2);
    int done = 0;
    double total = 0;
    for (size_t start = from; done < a->eval_batches && start + per <= to; start += per, done++) {
        make_batch(a, c, cfg->vocab, &rng, (long)start, b);
        TRY(upload(g, a, cfg, b));
        gpu_reset_loss(g);
        TRY(gpu_forward(g, false, 0));
        double l;
        TRY(gpu_read_loss(g, &l, NULL));
        total += l;
    }
    *loss = done ? total / done : NAN;
    return ADAPT_OK;
}

static adapt_status save(gpu_model *g, adapt_model *m, const pt_args *a, long step, double secs, double train_loss)
{
    TRY(gpu_download_params(g));
    char meta[256];
    snprintf(meta, sizeof meta, "\"adapt_steps\": \"%ld\", \"adapt_tokens\": \"%lld\", \"adapt_seconds\": \"%.0f\", \"adapt_train_loss\": \"%.4f\"",
             step, (long long)step * a->batch * a->seq, secs, train_loss);
    return gpu_save_hf(m, a->out, a->save_dtype, (size_t)15000000, meta);
}

/* Reloads the saved folder through the library's own loader and compares it with the trained
 * values (rounded to the file dtype): the files are what `adapt info DIR` and fine-tuning read. */
static adapt_status verify_reload(const adapt_model *m, const pt_args *a)
{
    adapt_model *r = NULL;
    TRY(adapt_model_load(a->out, &r));
    double worst = 0;
    adapt_status s = ADAPT_OK;
    for (size_t i = 0; !s && i < m->store.count; i++) {
        const param *p = m->store.items[i], *q = store_get(&r->store, p->name);
        if (!q || q->numel != p->numel) {
            s = adapt_fail(ADAPT_ERR_FORMAT, "%s: reloaded model lacks \"%s\"", a->out, p->name);
            break;
        }
        for (size_t k = 0; k < p->numel; k++) {
            float want = a->save_dtype == ADAPT_DTYPE_BF16 ? bf16_to_f32(f32_to_bf16(p->data[k])) : p->data[k];
            double d = fabs((double)want - q->data[k]);
            if (d > worst) worst = d;
        }
    }
    if (!s) printf("reload: %s loads with %zu tensors, max abs difference %.3g\n", a->out, r->store.count, worst);
    if (!s && worst > 0) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: reloaded values differ from the saved ones", a->out);
    adapt_model_free(r);
    return s;
}

static double lr_at(const pt_args *a, long s, long total, long warm)
{
    double w = fmin(1.0, (double)(s + 1) / warm), d = fmax(0.0, (double)(total - s) / (double)(total - warm + 1));
    return a->lr * w * d;
}

static adapt_status train(const pt_args *a, adapt_model *m, const corpus *c)
{
    const model_config *cfg = &m->cfg;
    int N = a->batch * a->seq;
    batch_buf b = {.max_rows = N / 4 + 1};
    b.ids = malloc((size_t)N * sizeof(int32_t));
    b.pos = malloc((size_t)N * sizeof(int32_t));
    b.rows = malloc((size_t)b.max_rows * sizeof(int32_t));
    b.labels = malloc((size_t)b.max_rows * sizeof(int32_t));
    if (!b.ids || !b.pos || !b.rows || !b.labels) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m->store.count; i++) TRY(store_set_trainable(m->store.items[i], true));
    gpu_options o = {.precision = a->precision, .max_B = a->batch, .max_T = a->seq, .max_head_rows = b.max_rows, .head = GPU_HEAD_MLM,
                     .train = true, .hidden_dropout = 0.1f, .attn_dropout = 0.1f};
    gpu_model *g = NULL;
    adapt_status s = gpu_model_create(m, &o, &g);
    char dev[256];
    gpu_describe(dev, sizeof dev);
    printf("device: %s\nmodel: hidden %d, layers %d, heads %d, ffn %d, vocab %d, %zu parameters\n", dev, cfg->hidden, cfg->layers,
           cfg->heads, cfg->intermediate, cfg->vocab, store_count_params(&m->store, false));
    printf("data: %zu ids (%zu train, %zu held out); batch %d x %d; peak lr %g\n", c->n, c->n_train, c->n - c->n_train, a->batch,
           a->seq, a->lr);
    fflush(stdout);
    gpu_adamw opt = {.beta1 = 0.9, .beta2 = 0.98, .eps = 1e-6, .weight_decay = 0.01, .max_grad_norm = 1.0};
    uint64_t rng = a->seed;
    long total = a->steps, warm = a->warmup > 0 ? a->warmup : (a->steps / 20 > 50 ? a->steps / 20 : 50);
    double t0 = monotonic_seconds(), deadline = a->seconds > 0 ? t0 + a->seconds : 1e300, t_mark = t0, last_save = t0, loss_avg = NAN;
    long step = 0, mark_step = 0, since_log = 0;
    const long estimate_at[3] = {60, 600, 3000};
    int next_estimate = 0;
    if (!s) gpu_reset_loss(g);
    for (; !s && step < total; step++) {
        make_batch(a, c, cfg->vocab, &rng, -1, &b);
        s = upload(g, a, cfg, &b);
        if (!s) s = gpu_forward(g, true, a->seed * 1000003u + (uint64_t)step);
        if (!s) s = gpu_backward(g);
        if (!s) s = gpu_adamw_step(g, &opt, lr_at(a, step, total, warm), step + 1);
        since_log++;
        if (s) break;
        if (step + 1 == 10) { /* first steps pay for start-up; measure from here */
            s = gpu_synchronize(g);
            t_mark = monotonic_seconds();
            mark_step = step + 1;
        }
        if (a->seconds > 0 && next_estimate < 3 && step + 1 == estimate_at[next_estimate]) {
            next_estimate++;
            s = gpu_synchronize(g);
            double now = monotonic_seconds(), per = (now - t_mark) / (double)(step + 1 - mark_step);
            long left = (long)((deadline - now) / per);
            total = step + 1 + (left > 0 ? left : 0);
            if (total > a->steps) total = a->steps;
            if (a->warmup <= 0) warm = total / 20 > 50 ? total / 20 : 50;
            if (warm > step + 1 && warm >= total) warm = total > 1 ? total - 1 : 1;
            printf("schedule: %.2f ms/step -> %ld steps, warmup %ld\n", per * 1e3, total, warm);
        }
        if ((step + 1) % a->log_every == 0 || step + 1 == total) {
            double sum, norm;
            s = gpu_read_loss(g, &sum, &norm);
            double now = monotonic_seconds();
            loss_avg = sum / (double)since_log;
            printf("step %ld/%ld lr %.3e loss %.4f gnorm %.3f tok/s %.0f elapsed %.1fs\n", step + 1, total,
                   lr_at(a, step, total, warm), loss_avg, norm, (double)(step + 1 - mark_step) * N / (now - t_mark), now - t0);
            fflush(stdout);
            gpu_reset_loss(g);
            since_log = 0;
            if (!isfinite(loss_avg)) {
                s = adapt_fail(ADAPT_ERR_NUMERIC, "loss is %f at step %ld; stopping (the last save is kept)", loss_avg, step + 1);
                break;
            }
            if (a->save_every > 0 && now - last_save > a->save_every) {
                s = save(g, m, a, step + 1, now - t0, loss_avg);
                last_save = monotonic_seconds();
                printf("saved %s at step %ld\n", a->out, step + 1);
            }
            if (now > deadline) {
                step++;
                printf("time budget reached at step %ld\n", step);
                break;
            }
        }
    }
    double secs = monotonic_seconds() - t0;
    if (!s) {
        printf("trained %ld steps, %lld tokens in %.1fs\n", step, (long long)step * N, secs);
        s = save(g, m, a, step, secs, loss_avg);
        if (!s) printf("saved %s\n", a->out);
        if (!s) s = verify_reload(m, a);
    }
    double held = NAN, tr = NAN;
    if (!s) s = evaluate(g, a, c, cfg, &b, c->n_train, c->n, &held);
    if (!s) s = evaluate(g, a, c, cfg, &b, 0, c->n_train, &tr);
    if (!s) {
        printf("eval: held-out MLM loss %.4f, train-slice MLM loss %.4f (eval mode, fixed masks)\n", held, tr);
        char *path = path_join(a->out, "pretraining.json");
        char text[1024];
        int n = snprintf(text, sizeof text,
                         "{\n  \"steps\": %ld,\n  \"batch\": %d,\n  \"seq\": %d,\n  \"tokens_seen\": %lld,\n  \"train_seconds\": %.1f,\n"
                         "  \"peak_lr\": %g,\n  \"warmup\": %ld,\n  \"last_train_loss\": %.4f,\n  \"mlm_loss_heldout\": %.4f,\n"
                         "  \"mlm_loss_train_slice\": %.4f,\n  \"corpus_ids\": %zu,\n  \"heldout_ids\": %zu,\n  \"device\": \"%s\"\n}\n",
                         step, a->batch, a->seq, (long long)step * N, secs, a->lr, warm, loss_avg, held, tr, c->n, c->n - c->n_train, dev);
        if (path) s = file_write_atomic(path, text, (size_t)n);
        free(path);
    }
    gpu_model_free(g);
    free(b.ids);
    free(b.pos);
    free(b.rows);
    free(b.labels);
    return s;
}

static bool parse(int argc, char **argv, pt_args *a)
{
    *a = (pt_args){.steps = 1000000, .batch = 256, .seq = 128, .warmup = 0, .log_every = 100, .eval_batches = 20, .lr = 1e-3,
                   .save_every = 120, .mask_id = 4, .bos_id = 0, .eos_id = 2, .seed = 1, .precision = GPU_BF16,
                   .save_dtype = ADAPT_DTYPE_BF16};
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return false;
        i++;
        if (!strcmp(k, "--config")) a->config = v;
        else if (!strcmp(k, "--ids")) a->ids = v;
        else if (!strcmp(k, "--out")) a->out = v;
        else if (!strcmp(k, "--init")) a->init = v;
        else if (!strcmp(k, "--steps")) a->steps = atol(v);
        else if (!strcmp(k, "--batch")) a->batch = atoi(v);
        else if (!strcmp(k, "--seq")) a->seq = atoi(v);
        else if (!strcmp(k, "--lr")) a->lr = atof(v);
        else if (!strcmp(k, "--warmup")) a->warmup = atoi(v);
        else if (!strcmp(k, "--seconds")) a->seconds = atof(v);
        else if (!strcmp(k, "--save-every")) a->save_every = atof(v);
        else if (!strcmp(k, "--log-every")) a->log_every = atoi(v);
        else if (!strcmp(k, "--eval-batches")) a->eval_batches = atoi(v);
        else if (!strcmp(k, "--mask-id")) a->mask_id = atoi(v);
        else if (!strcmp(k, "--bos-id")) a->bos_id = atoi(v);
        else if (!strcmp(k, "--eos-id")) a->eos_id = atoi(v);
        else if (!strcmp(k, "--seed")) a->seed = (uint64_t)atoll(v);
        else if (!strcmp(k, "--precision")) {
            if (!strcmp(v, "bf16")) a->precision = GPU_BF16;
            else if (!strcmp(v, "tf32")) a->precision = GPU_TF32;
            else if (!strcmp(v, "fp32")) a->precision = GPU_FP32;
            else return false;
        } else if (!strcmp(k, "--save-dtype")) {
            if (!strcmp(v, "bf16")) a->save_dtype = ADAPT_DTYPE_BF16;
            else if (!strcmp(v, "f32")) a->save_dtype = ADAPT_DTYPE_F32;
            else return false;
        } else return false;
    }
    return (a->config || a->init) && a->ids && a->out && a->steps > 0 && a->batch > 0 && a->seq >= 8 && a->lr > 0 && a->log_every > 0 &&
           a->eval_batches >= 0 && a->mask_id >= 0;
}

int gpu_cmd_pretrain(int argc, char **argv)
{
    pt_args a;
    if (!parse(argc, argv, &a)) {
        fprintf(stderr, "usage: adapt-gpu pretrain (--config config.json | --init MODEL_DIR) --ids IDS.u16 --out DIR\n"
                        "         [--steps N] [--seconds S] [--batch 256] [--seq 128] [--lr 1e-3] [--warmup W]\n"
                        "         [--precision bf16|tf32|fp32] [--save-dtype bf16|f32] [--save-every 120] [--log-every 100]\n"
                        "         [--eval-batches 20] [--mask-id 4] [--bos-id 0] [--eos-id 2] [--seed 1]\n");
        return 1;
    }
    adapt_model *m = NULL;
    adapt_status s;
    if (a.init) {
        s = adapt_model_load(a.init, &m);
    } else {
        model_config cfg;
        s = hf_config_load(a.config, &cfg);
        if (!s) s = model_create(&cfg, &m);
        hf_config_free(&cfg);
        if (!s) s = model_add_mlm_head(m, false);
        if (!s) gpu_init_roberta(m, a.seed);
    }
    if (!s && a.seq > m->cfg.max_positions - (m->cfg.family == FAMILY_ROBERTA ? m->cfg.pad_id + 1 : 0))
        s = adapt_fail(ADAPT_ERR_ARG, "--seq %d does not fit max_position_embeddings %d", a.seq, m->cfg.max_positions);
    if (!s && (a.mask_id + 1 >= m->cfg.vocab || a.bos_id >= m->cfg.vocab || a.eos_id >= m->cfg.vocab))
        s = adapt_fail(ADAPT_ERR_ARG, "special ids outside the vocabulary");
    corpus c = {0};
    if (!s) s = load_corpus(a.ids, m->cfg.vocab, a.seq, &c);
    if (!s && c.n_train < (size_t)a.seq * 4) s = adapt_fail(ADAPT_ERR_ARG, "%s: too few training ids", a.ids);
    if (!s) s = train(&a, m, &c);
    free(c.ids);
    adapt_model_free(m);
    if (s) {
        fprintf(stderr, "adapt-gpu pretrain: %s\n", adapt_error());
        return 1;
    }
    return 0;
}
