/* One training or evaluation step as the host drives it: the batch goes up through pinned staging
 * buffers (two, so the host fills one while the device copies the other), then forward, backward
 * and the optimizer are queued on one stream with no host synchronisation. */
#include "backend/cuda/gpu_common.cuh"
#include <string.h>

static adapt_status check_batch(const gpu_model *g, const gpu_batch *b)
{
    const model_config *c = &g->m->cfg;
    if (b->B < 1 || b->T < 1 || b->B > g->opt.max_B || b->T > g->opt.max_T)
        return adapt_fail(ADAPT_ERR_ARG, "CUDA backend: batch %d x %d exceeds the allocated %d x %d", b->B, b->T, g->opt.max_B, g->opt.max_T);
    int N = b->B * b->T, C = g->opt.head == GPU_HEAD_MLM ? c->vocab : g->head_classes;
    for (int i = 0; i < N; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= c->vocab) return adapt_fail(ADAPT_ERR_ARG, "input id %d at %d is outside the vocabulary (%d)", b->ids[i], i, c->vocab);
        if (b->pos_ids[i] < 0 || b->pos_ids[i] >= c->max_positions) return adapt_fail(ADAPT_ERR_ARG, "position %d at %d is outside 0..%d", b->pos_ids[i], i, c->max_positions - 1);
        if (b->type_ids && (b->type_ids[i] < 0 || b->type_ids[i] >= (c->type_vocab > 0 ? c->type_vocab : 1)))
            return adapt_fail(ADAPT_ERR_ARG, "token type %d at %d is out of range", b->type_ids[i], i);
        if (b->mask && b->mask[i] != 0 && b->mask[i] != 1) return adapt_fail(ADAPT_ERR_ARG, "attention mask value %d is not 0 or 1", b->mask[i]);
    }
    if (g->opt.head == GPU_HEAD_NONE) return ADAPT_OK;
    if (b->n_rows < 1 || b->n_rows > g->opt.max_head_rows) return adapt_fail(ADAPT_ERR_ARG, "CUDA backend: %d head rows, at most %d allocated", b->n_rows, g->opt.max_head_rows);
    if (g->opt.head == GPU_HEAD_TOKEN && (b->rows || b->n_rows != N)) return adapt_fail(ADAPT_ERR_ARG, "a token head takes every row");
    for (int r = 0; r < b->n_rows; r++) {
        if (b->rows && (b->rows[r] < 0 || b->rows[r] >= N)) return adapt_fail(ADAPT_ERR_ARG, "head row %d is outside the batch", b->rows[r]);
        if (b->labels && b->labels[r] != -100 && (b->labels[r] < 0 || b->labels[r] >= C))
            return adapt_fail(ADAPT_ERR_ARG, "label %d at row %d is outside [0, %d)", b->labels[r], r, C);
    }
    return ADAPT_OK;
}

extern "C" adapt_status gpu_upload_batch(gpu_model *g, const gpu_batch *b)
{
    TRY(check_batch(g, b));
    int N = b->B * b->T, R = g->opt.head == GPU_HEAD_NONE ? 0 : b->n_rows;
    int s = g->stage;
    g->stage ^= 1;
    CUDA_TRY(cudaEventSynchronize(g->staged[s])); /* the copy that last used this buffer is done */
    int32_t *p = g->pinned[s];
    int32_t *ids = p, *pos = ids + N, *type = pos + N, *mask = type + N, *rows = mask + N, *labels = rows + R;
    memcpy(ids, b->ids, (size_t)N * sizeof(int32_t));
    memcpy(pos, b->pos_ids, (size_t)N * sizeof(int32_t));
    for (int i = 0; i < N; i++) {
        type[i] = b->type_ids ? b->type_ids[i] : 0;
        mask[i] = b->mask ? b->mask[i] : 1;
    }
    for (int r = 0; r < R; r++) {
        rows[r] = b->rows ? b->rows[r] : r;
        labels[r] = b->labels ? b->labels[r] : -100;
    }
    size_t nb = (size_t)N * sizeof(int32_t), rb = (size_t)R * sizeof(int32_t);
    CUDA_TRY(cudaMemcpyAsync(g->d_ids, ids, nb, cudaMemcpyHostToDevice, g->stream));
    CUDA_TRY(cudaMemcpyAsync(g->d_pos, pos, nb, cudaMemcpyHostToDevice, g->stream));
    CUDA_TRY(cudaMemcpyAsync(g->d_type, type, nb, cudaMemcpyHostToDevice, g->stream));
    CUDA_TRY(cudaMemcpyAsync(g->d_mask, mask, nb, cudaMemcpyHostToDevice, g->stream));
    if (R) {
        CUDA_TRY(cudaMemcpyAsync(g->d_rows, rows, rb, cudaMemcpyHostToDevice, g->stream));
        CUDA_TRY(cudaMemcpyAsync(g->d_labels, labels, rb, cudaMemcpyHostToDevice, g->stream));
    }
    CUDA_TRY(cudaEventRecord(g->staged[s], g->stream));
    g->B = b->B;
    g->T = b->T;
    g->N = N;
    g->n_rows = R;
    g->has_labels = b->labels != NULL;
    g->label_scale = b->label_scale;
    return ADAPT_OK;
}

extern "C" adapt_status gpu_forward(gpu_model *g, bool training, uint64_t seed)
{
    if (!g->N) return adapt_fail(ADAPT_ERR_ARG, "CUDA backend: no batch uploaded");
    g->training = training;
    g->seed = seed;
    TRY(encoder_forward(g));
    TRY(head_forward(g));
    CUDA_TRY(cudaGetLastError());
    return ADAPT_OK;
}

extern "C" adapt_status gpu_backward(gpu_model *g)
{
    if (!g->opt.train || !g->gf) return adapt_fail(ADAPT_ERR_ARG, "CUDA backend: the model was created without training buffers");
    if (!g->has_labels || g->opt.head == GPU_HEAD_NONE) return adapt_fail(ADAPT_ERR_ARG, "CUDA backend: backward needs a head and labels");
    CUDA_TRY(cudaMemsetAsync(g->gf, 0, g->n_train * sizeof(float), g->stream));
    prof_mark(g, "bwd zero gradients");
    TRY(head_backward(g, g->d_h[0]));
    TRY(encoder_backward(g, g->d_h[0]));
    CUDA_TRY(cudaGetLastError());
    return ADAPT_OK;
}

extern "C" adapt_status gpu_adamw_step(gpu_model *g, const gpu_adamw *cfg, double lr, long step)
{
    if (!g->gf) return adapt_fail(ADAPT_ERR_ARG, "CUDA backend: nothing is trainable");
    if (step < 1) return adapt_fail(ADAPT_ERR_ARG, "AdamW steps count from 1");
    CUDA_TRY(cudaMemsetAsync(g->d_norm, 0, sizeof(float), g->stream));
    k_sumsq(g, g->gf, g->n_train, g->d_norm);
    double bc1 = 1.0 - pow(cfg->beta1, (double)step), bc2 = 1.0 - pow(cfg->beta2, (double)step);
    k_adamw(g, (float)lr, (float)cfg->beta1, (float)cfg->beta2, (float)cfg->eps, (float)cfg->weight_decay, (float)bc1, (float)bc2,
            (float)cfg->max_grad_norm);
    prof_mark(g, "adamw (+ gradient norm)");
    CUDA_TRY(cudaGetLastError());
    return ADAPT_OK;
}

extern "C" adapt_status gpu_read_loss(gpu_model *g, double *loss_sum, double *grad_norm)
{
    float l = 0, n2 = 0;
    CUDA_TRY(cudaStreamSynchronize(g->stream));
    CUDA_TRY(cudaMemcpy(&l, g->d_loss, sizeof l, cudaMemcpyDeviceToHost));
    CUDA_TRY(cudaMemcpy(&n2, g->d_norm, sizeof n2, cudaMemcpyDeviceToHost));
    if (loss_sum) *loss_sum = l;
    if (grad_norm) *grad_norm = sqrt((double)n2);
    return ADAPT_OK;
}

extern "C" void gpu_reset_loss(gpu_model *g) { cudaMemsetAsync(g->d_loss, 0, sizeof(float), g->stream); }

extern "C" adapt_status gpu_synchronize(gpu_model *g)
{
    CUDA_TRY(cudaStreamSynchronize(g->stream));
    CUDA_TRY(cudaGetLastError());
    return ADAPT_OK;
}
