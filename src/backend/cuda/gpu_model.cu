/* The device model: parameters placed in one arena (trainable tensors first, so gradients, moments,
 * the norm and AdamW each cover one contiguous prefix), query|key|value weights back to back so one
 * GEMM projects all three, and activation buffers sized once for the largest batch. */
#include "backend/cuda/gpu_common.cuh"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEVICE_ALLOCS 4096
static void *g_allocs[MAX_DEVICE_ALLOCS]; /* one model per process: the tool's use */
static int g_nallocs;

static void *dalloc(size_t bytes)
{
    void *p = NULL;
    if (g_nallocs >= MAX_DEVICE_ALLOCS || cudaMalloc(&p, bytes ? bytes : 16) != cudaSuccess) return NULL;
    cudaMemset(p, 0, bytes ? bytes : 16);
    g_allocs[g_nallocs++] = p;
    return p;
}

typedef struct group {
    param *p[3];
    int n;
} group;

static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }

/* Groups in placement order: embeddings, layers (q|k|v weights and biases as groups), MLM head,
 * then every other store tensor (pooler, classifier, heads) in store order. */
static adapt_status make_groups(adapt_model *m, group **out, size_t *count)
{
    size_t cap = m->store.count + 8, n = 0;
    group *gs = (group *)calloc(cap, sizeof *gs);
    bool *used = (bool *)calloc(m->store.count + 1, sizeof(bool));
    if (!gs || !used) {
        free(gs);
        free(used);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
#define ONE(x) do { if (x) { gs[n].p[0] = (x); gs[n].n = 1; n++; } } while (0)
#define THREE(a, b, c) do { gs[n].p[0] = (a); gs[n].p[1] = (b); gs[n].p[2] = (c); gs[n].n = 3; n++; } while (0)
    ONE(m->word); ONE(m->pos); ONE(m->type); ONE(m->emb_ln_w); ONE(m->emb_ln_b);
    for (int l = 0; l < m->cfg.layers; l++) {
        encoder_layer *L = &m->layers[l];
        THREE(L->q_w, L->k_w, L->v_w);
        THREE(L->q_b, L->k_b, L->v_b);
        ONE(L->attn_out_w); ONE(L->attn_out_b); ONE(L->attn_ln_w); ONE(L->attn_ln_b);
        ONE(L->inter_w); ONE(L->inter_b); ONE(L->out_w); ONE(L->out_b); ONE(L->out_ln_w); ONE(L->out_ln_b);
    }
    ONE(m->mlm.dense_w); ONE(m->mlm.dense_b); ONE(m->mlm.ln_w); ONE(m->mlm.ln_b); ONE(m->mlm.bias); ONE(m->mlm.decoder);
#undef THREE
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < gs[i].n; k++)
            for (size_t j = 0; j < m->store.count; j++)
                if (m->store.items[j] == gs[i].p[k]) used[j] = true;
    for (size_t j = 0; j < m->store.count && n < cap; j++)
        if (!used[j]) ONE(m->store.items[j]);
#undef ONE
    free(used);
    *out = gs;
    *count = n;
    return ADAPT_OK;
}

static adapt_status place_params(gpu_model *g)
{
    adapt_model *m = g->m;
    group *gs = NULL;
    size_t ng = 0;
    TRY(make_groups(m, &gs, &ng));
    g->slots = (slot *)calloc(m->store.count + 1, sizeof(slot));
    if (!g->slots) {
        free(gs);
        return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    size_t off = 0;
    for (int pass = 0; pass < 2; pass++) {       /* trainable groups first */
        for (size_t i = 0; i < ng; i++) {
            bool tr = g->opt.train && gs[i].p[0]->trainable;
            for (int k = 1; k < gs[i].n; k++)
                if ((g->opt.train && gs[i].p[k]->trainable) != tr) {
                    free(gs);
                    return adapt_fail(ADAPT_ERR_UNSUPPORTED, "CUDA backend: \"%s\" and \"%s\" must be trainable together",
                                      gs[i].p[0]->name, gs[i].p[k]->name);
                }
            if (tr != (pass == 0)) continue;
            for (int k = 0; k < gs[i].n; k++) {
                slot *s = &g->slots[g->n_slots++];
                s->p = gs[i].p[k];
                s->off = off;
                s->trainable = tr;
                off += s->p->numel;  /* members of a group stay back to back */
            }
            off = align64(off);
        }
        if (pass == 0) g->n_train = off;
    }
    g->n_total = off;
    free(gs);
    return ADAPT_OK;
}

static const slot *find_slot(const gpu_model *g, const param *p)
{
    for (size_t i = 0; p && i < g->n_slots; i++)
        if (g->slots[i].p == p) return &g->slots[i];
    return NULL;
}

static dparam role(const gpu_model *g, const param *p, size_t members)
{
    dparam d = {NULL, NULL, NULL, 0};
    const slot *s = find_slot(g, p);
    if (!s) return d;
    d.w = g->wf + s->off;
    d.wh = g->wh ? g->wh + s->off : NULL;
    d.g = s->trainable ? g->gf + s->off : NULL;
    d.n = p->numel * members;
    return d;
}

static void bind_roles(gpu_model *g)
{
    adapt_model *m = g->m;
    g->word = role(g, m->word, 1);
    g->pos = role(g, m->pos, 1);
    g->type = role(g, m->type, 1);
    g->emb_ln_w = role(g, m->emb_ln_w, 1);
    g->emb_ln_b = role(g, m->emb_ln_b, 1);
    for (int l = 0; l < m->cfg.layers; l++) {
        encoder_layer *L = &m->layers[l];
        dlayer *D = &g->L[l];
        D->qkv_w = role(g, L->q_w, 3);
        D->qkv_b = role(g, L->q_b, 3);
        D->ao_w = role(g, L->attn_out_w, 1);
        D->ao_b = role(g, L->attn_out_b, 1);
        D->ln1_w = role(g, L->attn_ln_w, 1);
        D->ln1_b = role(g, L->attn_ln_b, 1);
        D->in_w = role(g, L->inter_w, 1);
        D->in_b = role(g, L->inter_b, 1);
        D->out_w = role(g, L->out_w, 1);
        D->out_b = role(g, L->out_b, 1);
        D->ln2_w = role(g, L->out_ln_w, 1);
        D->ln2_b = role(g, L->out_ln_b, 1);
    }
    g->mlm_dense_w = role(g, m->mlm.dense_w, 1);
    g->mlm_dense_b = role(g, m->mlm.dense_b, 1);
    g->mlm_ln_w = role(g, m->mlm.ln_w, 1);
    g->mlm_ln_b = role(g, m->mlm.ln_b, 1);
    g->mlm_bias = role(g, m->mlm.bias, 1);
    g->mlm_decoder = m->mlm.decoder ? role(g, m->mlm.decoder, 1) : g->word; /* tied */
}

/* The active adapter's tensors per layer and point (m = 0 where it has none). */
static adapt_status bind_adapter(gpu_model *g, const adapter_def *ad)
{
    int L = g->m->cfg.layers;
    for (int at = 0; at < 2; at++) {
        g->ad_points[at] = (dadapter *)calloc((size_t)L, sizeof(dadapter));
        g->ad_acts[at] = (adapter_acts *)calloc((size_t)L, sizeof(adapter_acts));
        if (!g->ad_points[at] || !g->ad_acts[at]) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    for (int l = 0; l < L; l++)
        for (int at = 0; at < 2; at++) {
            if (!(at ? ad->has_attn[l] : ad->has_out[l])) continue;
            const bn_weights *w = at ? &ad->attn[l] : &ad->out[l];
            dadapter *D = &g->ad_points[at][l];
            D->down_w = role(g, w->down_w, 1);
            D->down_b = role(g, w->down_b, 1);
            D->up_w = role(g, w->up_w, 1);
            D->up_b = role(g, w->up_b, 1);
            D->m = w->bottleneck;
            if (!D->down_w.w || !D->down_b.w || !D->up_w.w || !D->up_b.w || D->m < 1)
                return adapt_fail(ADAPT_ERR_ARG, "CUDA backend: adapter \"%s\" at layer %d lacks a tensor", ad->name, l);
        }
    return ADAPT_OK;
}

/* A GEMM operand buffer: bf16 only in bf16 mode (fp32 when `also_f`), fp32 otherwise. */
static bool op_alloc(gpu_model *g, dbuf *d, size_t n, bool also_f)
{
    d->f = NULL;
    d->h = NULL;
    if (!g->bf || also_f) d->f = (float *)dalloc(n * sizeof(float));
    if (g->bf) d->h = (bf16 *)dalloc(n * sizeof(bf16));
    return (!g->bf || also_f ? d->f != NULL : true) && (!g->bf || d->h != NULL);
}

#define FALLOC(ptr, n) do { if (!((ptr) = (float *)dalloc((size_t)(n) * sizeof(float)))) goto oom; } while (0)
#define OALLOC(d, n, f) do { if (!op_alloc(g, &(d), (size_t)(n), (f))) goto oom; } while (0)

static adapt_status alloc_activations(gpu_model *g)
{
    const model_config *c = &g->m->cfg;
    size_t N = (size_t)g->opt.max_B * g->opt.max_T, H = c->hidden, I = c->intermediate, L = c->layers;
    size_t PP = (size_t)g->opt.max_B * c->heads * g->opt.max_T * g->opt.max_T, R = g->opt.max_head_rows;
    size_t C = g->opt.head == GPU_HEAD_MLM ? (size_t)c->vocab : (size_t)g->head_classes;
    bool train = g->opt.train, drop_f = !g->bf && train && g->opt.attn_dropout > 0;
    g->hidden = (dbuf *)calloc(L + 1, sizeof(dbuf));
    g->acts = (layer_acts *)calloc(L, sizeof(layer_acts));
    if (!g->hidden || !g->acts) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    int32_t **ints[6] = {&g->d_ids, &g->d_pos, &g->d_type, &g->d_mask, &g->d_rows, &g->d_labels};
    for (int i = 0; i < 6; i++)
        if (!(*ints[i] = (int32_t *)dalloc((i < 4 ? N : R) * sizeof(int32_t)))) goto oom;
    FALLOC(g->emb_sum, N * H); FALLOC(g->emb_mean, N); FALLOC(g->emb_rstd, N);
    for (size_t l = 0; l <= L; l++) OALLOC(g->hidden[l], N * H, true);
    for (size_t l = 0; l < L; l++) {
        layer_acts *a = &g->acts[l];
        OALLOC(a->qkv, N * 3 * H, false);
        FALLOC(a->P, PP);
        if (g->bf || drop_f) OALLOC(a->Pd, PP, false);
        else a->Pd.f = a->P;
        OALLOC(a->ctx, N * H, false);
        FALLOC(a->sum1, N * H); FALLOC(a->mean1, N); FALLOC(a->rstd1, N);
        OALLOC(a->a, N * H, true);
        OALLOC(a->ffn_pre, N * I, false);
        OALLOC(a->ffn_act, N * I, false);
        FALLOC(a->sum2, N * H); FALLOC(a->mean2, N); FALLOC(a->rstd2, N);
        if (!(a->ptrs = (void **)dalloc(attention_ptr_count(g, false) * sizeof(void *)))) goto oom;
        if (train && g->fused_attention) FALLOC(a->row_stats, (size_t)g->opt.max_B * c->heads * g->opt.max_T * 2);
    }
    OALLOC(g->scratch_h, N * H, false);
    if (g->opt.head == GPU_HEAD_MLM) {
        OALLOC(g->xm, R * H, false);
        FALLOC(g->m_pre, R * H); FALLOC(g->m_act, R * H); FALLOC(g->m_mean, R); FALLOC(g->m_rstd, R);
        OALLOC(g->m_t, R * H, false);
    }
    if (g->opt.head != GPU_HEAD_NONE) {
        FALLOC(g->logits, R * C);
        OALLOC(g->dlogits, R * C, false);
    }
    if (g->ad.on) {
        size_t m_max = 1;
        for (size_t l = 0; l < L; l++)
            for (int at = 0; at < 2; at++) {
                int m = g->ad_points[at][l].m;
                if (!m) continue;
                if ((size_t)m > m_max) m_max = (size_t)m;
                adapter_acts *s = &g->ad_acts[at][l];
                if (g->ad.ln_before) {
                    FALLOC(s->sum, N * H); FALLOC(s->mean, N); FALLOC(s->rstd, N);
                }
                OALLOC(s->hs, N * H, adapter_input_is_residual(g->ad));
                FALLOC(s->dn, N * (size_t)m);
                OALLOC(s->act, N * (size_t)m, false);
            }
        OALLOC(g->ad_u, N * H, false);
        if (train) {
            FALLOC(g->ad_dact, N * m_max); FALLOC(g->ad_dhs, N * H);
            OALLOC(g->ad_ddn, N * m_max, false);
        }
    }
    if (train) {
        FALLOC(g->d_h[0], N * H); FALLOC(g->d_h[1], N * H); FALLOC(g->d_a, N * H);
        OALLOC(g->d_ffn_act, N * I, false); FALLOC(g->dP, PP);
        OALLOC(g->d_branch, N * H, false); OALLOC(g->d_ctx, N * H, false); OALLOC(g->d_qkv, N * 3 * H, false);
        OALLOC(g->d_ffn_pre, N * I, false); OALLOC(g->dS, PP, false);
        if (!(g->bwd_ptrs = (void **)dalloc(attention_ptr_count(g, true) * sizeof(void *)))) goto oom;
        if (g->opt.head == GPU_HEAD_MLM) {
            FALLOC(g->d_t, R * H); FALLOC(g->d_act, R * H); FALLOC(g->d_xm, R * H);
            OALLOC(g->d_mpre, R * H, false);
        }
    }
    FALLOC(g->d_loss, 1); FALLOC(g->d_norm, 1);
    return ADAPT_OK;
oom:
    return adapt_fail(ADAPT_ERR_NOMEM, "CUDA: out of device memory for activations (batch %d x %d)", g->opt.max_B, g->opt.max_T);
}

static adapt_status validate(const adapt_model *m, const gpu_options *o)
{
    const model_config *c = &m->cfg;
    if (c->hidden % c->heads) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "CUDA backend: hidden %d not divisible by %d heads", c->hidden, c->heads);
    if (c->hidden > 1024) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "CUDA backend: hidden size %d > 1024", c->hidden);
    if (o->max_T < 1 || o->max_T > 512) return adapt_fail(ADAPT_ERR_ARG, "CUDA backend: sequence length %d outside 1..512", o->max_T);
    if (o->max_B < 1 || (int64_t)o->max_B * o->max_T > (1 << 22)) return adapt_fail(ADAPT_ERR_ARG, "CUDA backend: batch %d x %d out of range", o->max_B, o->max_T);
    if (o->head != GPU_HEAD_NONE && (o->max_head_rows < 1 || o->max_head_rows > o->max_B * o->max_T))
        return adapt_fail(ADAPT_ERR_ARG, "CUDA backend: head rows %d outside 1..%d", o->max_head_rows, o->max_B * o->max_T);
    if (o->head == GPU_HEAD_MLM && !m->mlm.dense_w) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "the model has no masked-LM head");
    if (o->hidden_dropout < 0 || o->hidden_dropout >= 1 || o->attn_dropout < 0 || o->attn_dropout >= 1)
        return adapt_fail(ADAPT_ERR_ARG, "dropout must be in [0, 1)");
    if (c->hidden_act != ACT_GELU) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "CUDA backend: only the erf GELU activation so far, not %s", activation_name(c->hidden_act));
    return store_require_fp32(&m->store, "the CUDA backend (it uploads and saves fp32 host weights)");
}

extern "C" adapt_status gpu_model_create(adapt_model *m, const gpu_options *opt, gpu_model **out)
{
    *out = NULL;
    TRY(validate(m, opt));
    gpu_adapter_cfg ad_cfg;
    const adapter_def *ad = NULL;
    TRY(adapter_validate(m, &ad_cfg, &ad));
    int dev_count = 0;
    if (cudaGetDeviceCount(&dev_count) != cudaSuccess || dev_count < 1)
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "CUDA: no GPU is visible");
    gpu_model *g = (gpu_model *)calloc(1, sizeof *g);
    if (!g) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    *out = g;
    g->m = m;
    g->opt = *opt;
    g->bf = opt->precision == GPU_BF16;
    g->ad = ad_cfg;
    /* ADAPT_GPU_UNFUSED_ATTENTION=1 keeps the GEMM + softmax path (for comparisons) */
    g->fused_attention = g->bf && !opt->unfused_attention && !getenv("ADAPT_GPU_UNFUSED_ATTENTION");
    g->L = (dlayer *)calloc((size_t)m->cfg.layers + 1, sizeof(dlayer));
    if (!g->L) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    cudaDeviceProp prop;
    CUDA_TRY(cudaGetDeviceProperties(&prop, 0));
    g->sms = prop.multiProcessorCount;
    CUDA_TRY(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
    BLAS_TRY(cublasCreate(&g->blas));
    BLAS_TRY(cublasSetStream(g->blas, g->stream));
    /* fp32 mode is the correctness mode: no TF32 even if NVIDIA_TF32_OVERRIDE asks for it */
    if (opt->precision == GPU_FP32) BLAS_TRY(cublasSetMathMode(g->blas, CUBLAS_PEDANTIC_MATH));
    size_t ws = (size_t)64 << 20;
    if (!(g->blas_ws = dalloc(ws))) return adapt_fail(ADAPT_ERR_NOMEM, "CUDA: out of device memory");
    BLAS_TRY(cublasSetWorkspace(g->blas, g->blas_ws, ws));
    if (opt->head == GPU_HEAD_TOKEN) {
        param *w = store_get(&m->store, opt->head_w ? opt->head_w : ""), *b = store_get(&m->store, opt->head_b ? opt->head_b : "");
        if (!w || !b || w->ndim != 2 || w->shape[1] != m->cfg.hidden || b->numel != (size_t)w->shape[0])
            return adapt_fail(ADAPT_ERR_ARG, "CUDA backend: token head tensors \"%s\" / \"%s\" missing or mis-shaped",
                              opt->head_w ? opt->head_w : "", opt->head_b ? opt->head_b : "");
        g->head_classes = (int)w->shape[0];
    }
    TRY(place_params(g));
    if (!(g->wf = (float *)dalloc(g->n_total * sizeof(float)))) return adapt_fail(ADAPT_ERR_NOMEM, "CUDA: out of device memory for parameters");
    if (g->bf && !(g->wh = (bf16 *)dalloc(g->n_total * sizeof(bf16)))) return adapt_fail(ADAPT_ERR_NOMEM, "CUDA: out of device memory");
    if (opt->train && g->n_train) {
        g->gf = (float *)dalloc(g->n_train * sizeof(float));
        g->adam_m = (float *)dalloc(g->n_train * sizeof(float));
        g->adam_v = (float *)dalloc(g->n_train * sizeof(float));
        if (!g->gf || !g->adam_m || !g->adam_v) return adapt_fail(ADAPT_ERR_NOMEM, "CUDA: out of device memory for the optimizer");
    }
    for (size_t i = 0; i < g->n_slots; i++)
        CUDA_TRY(cudaMemcpy(g->wf + g->slots[i].off, g->slots[i].p->data, g->slots[i].p->numel * sizeof(float), cudaMemcpyHostToDevice));
    /* cudaMemcpy from pageable memory and cudaMemset may still be in flight on the legacy stream,
     * which the non-blocking model stream does not wait for. */
    CUDA_TRY(cudaDeviceSynchronize());
    if (g->bf) k_to_bf16(g, g->wh, g->wf, g->n_total);
    bind_roles(g);
    if (opt->head == GPU_HEAD_TOKEN) {
        g->head_w = role(g, store_get(&m->store, opt->head_w), 1);
        g->head_b = role(g, store_get(&m->store, opt->head_b), 1);
    }
    if (ad) TRY(bind_adapter(g, ad));
    TRY(alloc_activations(g));
    CUDA_TRY(cudaDeviceSynchronize());
    size_t stage = (size_t)4 * opt->max_B * opt->max_T + 2 * (size_t)opt->max_head_rows;
    for (int s = 0; s < 2; s++) {
        CUDA_TRY(cudaMallocHost((void **)&g->pinned[s], stage * sizeof(int32_t)));
        CUDA_TRY(cudaEventCreateWithFlags(&g->staged[s], cudaEventDisableTiming));
    }
    CUDA_TRY(cudaStreamSynchronize(g->stream));
    CUDA_TRY(cudaGetLastError());
    return ADAPT_OK;
}

extern "C" void gpu_model_free(gpu_model *g)
{
    if (!g) return;
    if (g->stream) cudaStreamSynchronize(g->stream);
    prof_free(g);
    for (int i = 0; i < g_nallocs; i++) cudaFree(g_allocs[i]);
    g_nallocs = 0;
    for (int s = 0; s < 2; s++) {
        if (g->pinned[s]) cudaFreeHost(g->pinned[s]);
        if (g->staged[s]) cudaEventDestroy(g->staged[s]);
    }
    if (g->blas) cublasDestroy(g->blas);
    if (g->stream) cudaStreamDestroy(g->stream);
    free(g->slots);
    free(g->L);
    free(g->hidden);
    free(g->acts);
    for (int at = 0; at < 2; at++) {
        free(g->ad_points[at]);
        free(g->ad_acts[at]);
    }
    free(g);
}

extern "C" adapt_status gpu_download_params(gpu_model *g)
{
    CUDA_TRY(cudaStreamSynchronize(g->stream));
    for (size_t i = 0; i < g->n_slots; i++)
        CUDA_TRY(cudaMemcpy(g->slots[i].p->data, g->wf + g->slots[i].off, g->slots[i].p->numel * sizeof(float), cudaMemcpyDeviceToHost));
    return ADAPT_OK;
}

/* Every trainable tensor's host gradient (p->grad) to or from its device gradient. */
static adapt_status copy_grads(gpu_model *g, bool to_device)
{
    CUDA_TRY(cudaStreamSynchronize(g->stream));
    for (size_t i = 0; i < g->n_slots; i++) {
        const slot *s = &g->slots[i];
        if (!s->trainable || !s->p->grad) continue;
        size_t bytes = s->p->numel * sizeof(float);
        if (to_device) CUDA_TRY(cudaMemcpy(g->gf + s->off, s->p->grad, bytes, cudaMemcpyHostToDevice));
        else CUDA_TRY(cudaMemcpy(s->p->grad, g->gf + s->off, bytes, cudaMemcpyDeviceToHost));
    }
    return ADAPT_OK;
}

extern "C" adapt_status gpu_download_grads(gpu_model *g) { return copy_grads(g, false); }
extern "C" adapt_status gpu_upload_grads(gpu_model *g) { return copy_grads(g, true); }

extern "C" adapt_status gpu_download_hidden(gpu_model *g, int layer, float *out)
{
    if (layer < 0 || layer > g->m->cfg.layers) return adapt_fail(ADAPT_ERR_ARG, "hidden state %d does not exist", layer);
    CUDA_TRY(cudaStreamSynchronize(g->stream));
    CUDA_TRY(cudaMemcpy(out, g->hidden[layer].f, (size_t)g->N * g->m->cfg.hidden * sizeof(float), cudaMemcpyDeviceToHost));
    return ADAPT_OK;
}

extern "C" adapt_status gpu_download_logits(gpu_model *g, float *out)
{
    if (!g->logits) return adapt_fail(ADAPT_ERR_ARG, "the model has no head on the device");
    size_t C = g->opt.head == GPU_HEAD_MLM ? (size_t)g->m->cfg.vocab : (size_t)g->head_classes;
    CUDA_TRY(cudaStreamSynchronize(g->stream));
    CUDA_TRY(cudaMemcpy(out, g->logits, (size_t)g->n_rows * C * sizeof(float), cudaMemcpyDeviceToHost));
    return ADAPT_OK;
}

extern "C" void gpu_describe(char *buf, size_t size)
{
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
        snprintf(buf, size, "no CUDA device");
        return;
    }
    snprintf(buf, size, "%s, %d SMs, %.1f GiB, compute %d.%d", p.name, p.multiProcessorCount,
             (double)p.totalGlobalMem / (1 << 30), p.major, p.minor);
}
