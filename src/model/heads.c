#include "model/heads.h"
#include "core/error.h"
#include "model/layers.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static adapt_status get_or_add(adapt_model *m, const char *name, int ndim, int64_t d0, int64_t d1, param **out)
{
    param *p = store_get(&m->store, name);
    int64_t shape[2] = {d0, d1};
    if (p) {
        if (p->ndim != ndim || p->shape[0] != d0 || (ndim == 2 && p->shape[1] != d1))
            return adapt_fail(ADAPT_ERR_FORMAT, "head tensor \"%s\" has the wrong shape for %lld labels", name, (long long)d0);
        *out = p;
        return ADAPT_OK;
    }
    return store_add(&m->store, name, ndim, shape, out);
}

adapt_status head_create(adapt_model *m, head *h, head_kind kind, const char *name, int num_labels)
{
    memset(h, 0, sizeof *h);
    h->kind = kind;
    snprintf(h->name, sizeof h->name, "%s", name ? name : "");
    int H = m->cfg.hidden;
    char n1[160], n2[160];
    switch (kind) {
    case HEAD_MLM:
        if (!m->mlm.dense_w) return adapt_fail(ADAPT_ERR_UNSUPPORTED, "the checkpoint has no masked-LM head");
        h->num_labels = m->cfg.vocab;
        return ADAPT_OK;
    case HEAD_TOKEN_CLASSIFIER:
        if (num_labels < 1) return adapt_fail(ADAPT_ERR_ARG, "a head needs at least one label");
        h->num_labels = num_labels;
        TRY(get_or_add(m, "classifier.weight", 2, num_labels, H, &h->w1));
        TRY(get_or_add(m, "classifier.bias", 1, num_labels, 0, &h->b1));
        m->classifier_w = h->w1;
        m->classifier_b = h->b1;
        return ADAPT_OK;
    case HEAD_TAGGING:
    case HEAD_CLASSIFICATION:
        if (num_labels < 1) return adapt_fail(ADAPT_ERR_ARG, "a head needs at least one label");
        h->num_labels = num_labels;
        int out_index = kind == HEAD_TAGGING ? 1 : 4;
        snprintf(n1, sizeof n1, "heads.%s.%d.weight", name, out_index);
        snprintf(n2, sizeof n2, "heads.%s.%d.bias", name, out_index);
        TRY(get_or_add(m, n1, 2, num_labels, H, kind == HEAD_TAGGING ? &h->w1 : &h->w2));
        TRY(get_or_add(m, n2, 1, num_labels, 0, kind == HEAD_TAGGING ? &h->b1 : &h->b2));
        if (kind == HEAD_CLASSIFICATION) {
            snprintf(n1, sizeof n1, "heads.%s.1.weight", name);
            snprintf(n2, sizeof n2, "heads.%s.1.bias", name);
            TRY(get_or_add(m, n1, 2, H, H, &h->w1));
            TRY(get_or_add(m, n2, 1, H, 0, &h->b1));
        }
        return ADAPT_OK;
    }
    return adapt_fail(ADAPT_ERR_ARG, "unknown head kind");
}

static bool of_head(const char *tensor, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(tensor, "heads.", 6) && !strncmp(tensor + 6, name, n) && tensor[6 + n] == '.';
}

bool head_tensors_present(const adapt_model *m, const char *name)
{
    for (size_t i = 0; i < m->store.count; i++)
        if (of_head(m->store.items[i]->name, name)) return true;
    return false;
}

void head_remove_tensors(adapt_model *m, const char *name)
{
    store_remove_matching(&m->store, of_head, name);
}

adapt_status head_check_loaded(const adapt_model *m, head_kind kind, const char *name)
{
    if (kind != HEAD_TAGGING && kind != HEAD_CLASSIFICATION) return adapt_fail(ADAPT_ERR_ARG, "not an AdapterHub head kind");
    /* tagging: the output layer at index 1; classification: a dense layer at 1, the output at 4 */
    const char *parts[] = {"1.weight", "1.bias", "4.weight", "4.bias"};
    int n_parts = kind == HEAD_TAGGING ? 2 : 4;
    char want[160];
    for (int i = 0; i < n_parts; i++) {
        snprintf(want, sizeof want, "heads.%s.%s", name, parts[i]);
        if (!store_get(&m->store, want)) return adapt_fail(ADAPT_ERR_FORMAT, "missing tensor \"%s\"", want);
    }
    for (size_t i = 0; i < m->store.count; i++) {
        const char *t = m->store.items[i]->name;
        if (!of_head(t, name)) continue;
        bool expected = false;
        for (int k = 0; k < n_parts && !expected; k++) expected = !strcmp(t + 7 + strlen(name), parts[k]);
        if (!expected)
            return adapt_fail(ADAPT_ERR_FORMAT, "tensor \"%s\" is not part of a %s head", t,
                              kind == HEAD_TAGGING ? "tagging" : "classification");
    }
    return ADAPT_OK;
}

static double gaussian(uint64_t *s)
{
    /* xorshift64* uniforms through Box-Muller */
    double u[2];
    for (int i = 0; i < 2; i++) {
        *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
        u[i] = ((*s * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
    }
    return sqrt(-2.0 * log(u[0] + 1e-300)) * cos(6.283185307179586 * u[1]);
}

void head_init_random(head *h, uint64_t *rng)
{
    param *ws[2] = {h->w1, h->w2}, *bs[2] = {h->b1, h->b2};
    for (int k = 0; k < 2; k++) {
        if (ws[k]) for (size_t i = 0; i < ws[k]->numel; i++) ws[k]->data[i] = (float)(0.02 * gaussian(rng));
        if (bs[k]) memset(bs[k]->data, 0, bs[k]->numel * sizeof(float));
    }
}

int head_rows(const adapt_model *m, const head *h) { return h->kind == HEAD_CLASSIFICATION ? m->fw.B : m->fw.N; }

bool head_is_regression(const head *h) { return h->kind == HEAD_CLASSIFICATION && h->num_labels == 1; }

static float *last_hidden(const adapt_model *m) { return m->fw.hidden[m->cfg.layers]; }

/* A tagging or classification head on hidden states [B,T,H], its inputs dropped with probability
 * p (0: evaluation) under keys from `seed`. */
static adapt_status head_forward_on(adapt_model *m, head *h, const float *hidden, int B, int T, float p, uint64_t seed,
                                    float *logits)
{
    int N = B * T, H = m->cfg.hidden, C = h->num_labels;
    switch (h->kind) {
    case HEAD_MLM:
        break;
    case HEAD_TAGGING:
    case HEAD_TOKEN_CLASSIFIER: {
        const float *in = hidden;
        h->drop_in = NULL;
        if (p > 0) {
            if (!(h->drop_in = arena_floats(&m->acts, (size_t)N * H))) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
            memcpy(h->drop_in, in, (size_t)N * H * sizeof(float));
            dropout_forward(h->drop_in, (size_t)N * H, p, dropout_key(seed, DROP_SITE_HEAD(0)));
            in = h->drop_in;
        }
        linear_forward(logits, in, h->w1->data, h->b1->data, N, H, C);
        return ADAPT_OK;
    }
    case HEAD_CLASSIFICATION:
        h->pooled_in = arena_floats(&m->acts, (size_t)B * H);
        h->pooled_pre = arena_floats(&m->acts, (size_t)B * H);
        h->pooled = arena_floats(&m->acts, (size_t)B * H);
        if (!h->pooled_in || !h->pooled_pre || !h->pooled) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
        for (int b = 0; b < B; b++) memcpy(h->pooled_in + (size_t)b * H, hidden + (size_t)b * T * H, H * sizeof(float));
        dropout_forward(h->pooled_in, (size_t)B * H, p, dropout_key(seed, DROP_SITE_HEAD(0)));
        linear_forward(h->pooled_pre, h->pooled_in, h->w1->data, h->b1->data, B, H, H);
        activation_forward(h->pooled, h->pooled_pre, (size_t)B * H, ACT_TANH);
        h->pooled_drop = h->pooled;
        if (p > 0) {
            if (!(h->pooled_drop = arena_floats(&m->acts, (size_t)B * H))) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
            memcpy(h->pooled_drop, h->pooled, (size_t)B * H * sizeof(float));
            dropout_forward(h->pooled_drop, (size_t)B * H, p, dropout_key(seed, DROP_SITE_HEAD(1)));
        }
        linear_forward(logits, h->pooled_drop, h->w2->data, h->b2->data, B, H, C);
        return ADAPT_OK;
    }
    return adapt_fail(ADAPT_ERR_ARG, "head \"%s\": not a tagging or classification head", h->name);
}

adapt_status head_forward(adapt_model *m, head *h, float *logits)
{
    const forward_state *fw = &m->fw;
    if (h->kind == HEAD_MLM) return model_mlm_forward(m, logits);
    return head_forward_on(m, h, last_hidden(m), fw->B, fw->T, fw->p_hidden, fw->drop_seed, logits);
}

adapt_status head_forward_hidden(adapt_model *m, head *h, const float *hidden, int B, int T, float *logits)
{
    return head_forward_on(m, h, hidden, B, T, 0.0f, 0, logits);
}

adapt_status head_backward(adapt_model *m, head *h, const float *d_logits, float *d_hidden)
{
    const forward_state *fw = &m->fw;
    int N = fw->N, B = fw->B, T = fw->T, H = m->cfg.hidden, C = h->num_labels;
    switch (h->kind) {
    case HEAD_MLM:
        return model_mlm_backward(m, d_logits, d_hidden);
    case HEAD_TAGGING:
    case HEAD_TOKEN_CLASSIFIER: {
        if (!h->drop_in) {
            linear_backward(d_hidden, h->w1->grad, h->b1->grad, d_logits, last_hidden(m), h->w1->data, N, H, C);
            return ADAPT_OK;
        }
        float *d_in = arena_floats(&m->acts, (size_t)N * H);
        if (!d_in) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for gradients");
        linear_backward(d_in, h->w1->grad, h->b1->grad, d_logits, h->drop_in, h->w1->data, N, H, C);
        dropout_backward(d_in, (size_t)N * H, fw->p_hidden, dropout_key(fw->drop_seed, DROP_SITE_HEAD(0)));
        #pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < (size_t)N * H; i++) d_hidden[i] += d_in[i];
        return ADAPT_OK;
    }
    case HEAD_CLASSIFICATION: {
        float *d_pooled = arena_floats(&m->acts, (size_t)B * H), *d_pre = arena_floats(&m->acts, (size_t)B * H);
        float *d_in = arena_floats(&m->acts, (size_t)B * H);
        if (!d_pooled || !d_pre || !d_in) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
        linear_backward(d_pooled, h->w2->grad, h->b2->grad, d_logits, h->pooled_drop, h->w2->data, B, H, C);
        dropout_backward(d_pooled, (size_t)B * H, fw->p_hidden, dropout_key(fw->drop_seed, DROP_SITE_HEAD(1)));
        activation_backward(d_pre, d_pooled, h->pooled_pre, (size_t)B * H, ACT_TANH);
        linear_backward(d_in, h->w1->grad, h->b1->grad, d_pre, h->pooled_in, h->w1->data, B, H, H);
        dropout_backward(d_in, (size_t)B * H, fw->p_hidden, dropout_key(fw->drop_seed, DROP_SITE_HEAD(0)));
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++) d_hidden[(size_t)b * T * H + j] += d_in[(size_t)b * H + j];
        return ADAPT_OK;
    }
    }
    return adapt_fail(ADAPT_ERR_ARG, "unknown head kind");
}

/* Narrows m->fw to one channel's rows for the head, and back. */
typedef struct fw_view {
    int B, N;
    float *last;
} fw_view;

static adapt_status narrow(adapt_model *m, int channel, fw_view *saved)
{
    forward_state *fw = &m->fw;
    int ch = fw->channels > 0 ? fw->channels : 1;
    if (channel < 0 || channel >= ch) return adapt_fail(ADAPT_ERR_ARG, "channel %d is outside the %d Parallel channels", channel, ch);
    saved->B = fw->B, saved->N = fw->N, saved->last = fw->hidden[m->cfg.layers];
    fw->B = fw->B / ch;
    fw->N = fw->B * fw->T;
    fw->hidden[m->cfg.layers] += (size_t)channel * fw->N * m->cfg.hidden;
    return ADAPT_OK;
}

static void widen(adapt_model *m, const fw_view *saved)
{
    m->fw.B = saved->B, m->fw.N = saved->N, m->fw.hidden[m->cfg.layers] = saved->last;
}

adapt_status head_forward_channel(adapt_model *m, head *h, int channel, float *logits)
{
    fw_view v = {0, 0, NULL};
    TRY(narrow(m, channel, &v));
    adapt_status st = head_forward(m, h, logits);
    widen(m, &v);
    return st;
}

adapt_status head_backward_channel(adapt_model *m, head *h, int channel, const float *d_logits, float *d_hidden)
{
    fw_view v = {0, 0, NULL};
    TRY(narrow(m, channel, &v));
    size_t off = (size_t)channel * m->fw.N * m->cfg.hidden;
    adapt_status st = head_backward(m, h, d_logits, d_hidden + off);
    widen(m, &v);
    return st;
}
