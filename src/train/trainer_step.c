/* A batch's loss and gradients in training: MLM masking, forward and backward with the loss
 * weighted by this process's share of a data-parallel batch. */
#include "adapters/fusion_train.h"
#include "core/error.h"
#include "model/layers.h"
#include "model/model.h"
#include "train/batch_share.h"
#include "train/data_parallel.h"
#include "train/trainer_run.h"

adapt_status trainer_mask_batch(const run *r, batch *b, uint64_t *rng)
{
    size_t masked;
    if (r->word_start) return mlm_mask_batch_words(b, &r->sp, r->word_start, 0.15, rng, &masked);
    mlm_mask_batch(b, &r->sp, 0.15, rng);
    return ADAPT_OK;
}

/* Masked LM: the head runs on the masked positions only. share: see trainer_forward_loss. */
static adapt_status forward_loss_mlm(run *r, const batch *b, bool train, double share, double *loss)
{
    adapt_model *m = r->m;
    int n = 0, N = b->B * b->T, V = m->cfg.vocab;
    int32_t *rows = arena_alloc(&m->acts, (size_t)N * sizeof(int32_t));
    int64_t *labels = arena_alloc(&m->acts, (size_t)N * sizeof(int64_t));
    if (!rows || !labels) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < N; i++)
        if (b->labels[i] != -100) {
            rows[n] = i;
            labels[n++] = b->labels[i];
        }
    if (!n) { /* rows that drew no mask (a data-parallel process's few rows): nothing to learn from them */
        *loss = 0;
        return ADAPT_OK;
    }
    float *logits = arena_floats(&m->acts, (size_t)n * V), *d_logits = arena_floats(&m->acts, (size_t)n * V);
    if (!logits || !d_logits) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for logits");
    TRY(model_mlm_forward_rows(m, rows, n, logits));
    *loss = share * cross_entropy_forward_backward(train ? d_logits : NULL, logits, labels, n, V, (float)(share / r->o->grad_accum));
    if (!train) return ADAPT_OK;
    float *d_hidden = arena_floats(&m->acts, (size_t)N * m->cfg.hidden);
    if (!d_hidden) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for gradients");
    TRY(model_mlm_backward(m, d_logits, d_hidden));
    return model_backward(m, d_hidden);
}

/* share: this process's part of the labelled rows of the step's whole batch (1 in one process):
 * the loss is a mean over the whole batch, so each process's mean counts by its share and the
 * sum over processes is the one-process loss and gradient. */
adapt_status trainer_forward_loss(run *r, const batch *b, bool train, double share, double *loss, float **logits_out)
{
    adapt_model *m = r->m;
    m->training = train;
    TRY(model_forward(m, b->B, b->T, b->ids, b->mask, b->type_ids));
    setup_fusion_step_temperature(m); /* as BertFusion.forward lowers T on every call */
    if (r->mlm) return forward_loss_mlm(r, b, train, share, loss);
    int rows = head_rows(m, &r->h), C = r->h.num_labels;
    float *logits = arena_floats(&m->acts, (size_t)rows * C);
    float *d_logits = arena_floats(&m->acts, (size_t)rows * C);
    if (!logits || !d_logits) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for logits");
    TRY(head_forward(m, &r->h, logits));
    float scale = (float)(share / r->o->grad_accum);
    if (r->regression) *loss = share * mse_forward_backward(train ? d_logits : NULL, logits, b->targets, rows, scale);
    else *loss = share * cross_entropy_forward_backward(train ? d_logits : NULL, logits, b->labels, rows, C, scale);
    if (logits_out) *logits_out = logits;
    if (!train) return ADAPT_OK;
    float *d_hidden = arena_floats(&m->acts, (size_t)m->fw.N * m->cfg.hidden);
    if (!d_hidden) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for gradients");
    TRY(head_backward(m, &r->h, d_logits, d_hidden));
    return model_backward(m, d_hidden);
}

adapt_status trainer_forward_share(run *r, const batch *b, double *loss)
{
    int size = dp_size();
    if (size == 1) return trainer_forward_loss(r, b, true, 1.0, loss, NULL);
    batch mine = batch_share(b, dp_rank(), size);
    long all = batch_labelled(b, r->regression);
    double share = all ? (double)batch_labelled(&mine, r->regression) / (double)all : 0.0;
    /* dropout masks of its own for each process (they are keyed by position in the rows it
     * holds); the stream then moves on as in every other process */
    uint64_t stream = r->m->dropout_rng, salt = 0x9E3779B97F4A7C15ull * (uint64_t)dp_rank();
    r->m->dropout_rng = stream ^ salt;
    adapt_status s = trainer_forward_loss(r, &mine, true, share, loss, NULL);
    r->m->dropout_rng = stream + (r->m->dropout_rng - (stream ^ salt));
    return s;
}
