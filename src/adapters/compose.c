/* Adapter points and the composition blocks, following AdapterHub's BottleneckLayer
 * (bottleneck_layer_forward, compose_stack / compose_fuse / compose_batch_split / compose_average,
 * Adapter.pre_forward / post_forward).
 *
 * The forward pass of one point is a short list of operations (add + LayerNorm, adapter block,
 * fusion, concatenation, weighted average) over values that each carry their gradient buffer;
 * backward walks that list in reverse. It is the composition's own record, not a general autograd:
 * every operation is one of the layer pairs of src/model and src/adapters. */
#include "adapters/compose.h"
#include "adapters/setup.h"
#include "core/error.h"
#include "model/layers.h"
#include <string.h>

#define COMP_SPLIT_MAX 64 /* children of one block, as the parser allows */

/* A value [rows,H] and its gradient. The gradient buffer is allocated only in backward (see
 * cval_grad): an inference pass never needs it, and a training pass needs it only for the point
 * being differentiated, in scratch that model_backward releases after each layer. */
typedef struct cval {
    float *v, *g;
    int rows;
    struct cval *parent;  /* a slice's gradient is rows of its parent's, from row0 on */
    int row0;
} cval;

typedef enum op_kind { OP_ADD_LN, OP_ADAPTER, OP_FUSION, OP_CONCAT, OP_AVERAGE, OP_GATHER, OP_SCATTER } op_kind;

typedef struct cop {
    op_kind kind;
    struct cop *prev;
    cval *a, *b, *out, *sum, *up;
    float *mean, *rstd;                       /* OP_ADD_LN */
    param *ln_w, *ln_b;                       /* OP_ADD_LN: the model's LayerNorm or an adapter's copy */
    bn_cache bc;                              /* OP_ADAPTER */
    const bn_weights *bw;
    const bn_config *bcfg;
    fusion_cache fc;                          /* OP_FUSION: a = query, b = residual */
    const fusion_weights *fw;
    const fusion_config *fcfg;
    cval **parts;                             /* OP_FUSION ups, OP_CONCAT / OP_AVERAGE inputs */
    int nparts;
    const double *weights;
    const int *map;                           /* OP_GATHER: out row i = a row map[i] */
    int **maps;                               /* OP_SCATTER: out row maps[k][j] = parts[k] row j */
} cop;

typedef struct comp_cache {
    cop *tail;
    cval *h0, *x0, *out;
    float *fusion_probs;                      /* [N, n] of the last fusion at this point */
    int fusion_n;
} comp_cache;

typedef struct ctx {
    adapt_model *m;
    const adapter_setup *s;
    arena *a;
    int layer, H;
    int T;                                    /* tokens per sequence of the current rows (Split narrows it) */
    bool attention;
    bool want_up;                             /* adapters keep their up projection (inside a Fuse) */
    param *ln_w, *ln_b;                       /* the sublayer's own LayerNorm */
    comp_cache *cc;
    adapt_status status;
} ctx;

typedef struct cstate {
    cval *h, *x, *res, *up;
    const adapter_def *last;
} cstate;

/* ------------------------------------------------------------------ values and operations */
/* A new value; `zeroed` for operations that accumulate into it, otherwise its values are left for
 * the operation to write in full (a zero fill would be one more pass over N x H floats). */
static cval *cval_alloc(ctx *c, int rows, bool zeroed)
{
    cval *v = arena_alloc(c->a, sizeof *v);
    if (v) {
        v->rows = rows;
        v->v = zeroed ? arena_floats(c->a, (size_t)rows * c->H) : arena_floats_raw(c->a, (size_t)rows * c->H);
        v->g = NULL;
        v->parent = NULL;
    }
    if (!v || !v->v) {
        c->status = adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter activations");
        return NULL;
    }
    return v;
}

static cval *cval_new(ctx *c, int rows) { return cval_alloc(c, rows, true); }
static cval *cval_new_raw(ctx *c, int rows) { return cval_alloc(c, rows, false); }

static cval *cval_wrap(ctx *c, const float *data, int rows)
{
    cval *v = cval_new_raw(c, rows);
    if (v) memcpy(v->v, data, (size_t)rows * c->H * sizeof(float));
    return v;
}

/* The caller's buffer as a value, without a copy: for inputs that outlive the backward pass. */
static cval *cval_ref(ctx *c, const float *data, int rows)
{
    cval *v = arena_alloc(c->a, sizeof *v);
    if (!v) {
        c->status = adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter activations");
        return NULL;
    }
    v->v = (float *)data; /* no operation writes its inputs' values */
    v->rows = rows;
    return v;
}

static cval *cval_slice(ctx *c, cval *p, int row0, int rows)
{
    cval *v = arena_alloc(c->a, sizeof *v);
    if (!v) {
        c->status = adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter activations");
        return NULL;
    }
    v->v = p->v + (size_t)row0 * c->H;
    v->g = NULL;
    v->rows = rows;
    v->parent = (cval *)p;
    v->row0 = row0;
    return v;
}

static cop *op_new(ctx *c, op_kind kind)
{
    cop *o = arena_alloc(c->a, sizeof *o);
    if (!o) {
        c->status = adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter activations");
        return NULL;
    }
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->prev = c->cc->tail;
    c->cc->tail = o;
    return o;
}

static const bn_weights *adapter_weights(const ctx *c, const adapter_def *a)
{
    if (c->attention ? !a->has_attn[c->layer] : !a->has_out[c->layer]) return NULL;
    return c->attention ? &a->attn[c->layer] : &a->out[c->layer];
}

/* out = LayerNorm(a + b) with the sublayer's LayerNorm, or the copy of it that adapter `owner`
 * brings (adapters/ln_copies.h); *sum_out (optional) receives the sum as a value of its own.
 * `into` (optional) is the caller's buffer for the output. */
static cval *op_add_ln_into(ctx *c, const adapter_def *owner, cval *a, cval *b, cval **sum_out, float *into)
{
    if (c->status) return NULL;
    int rows = a->rows, H = c->H;
    cop *o = op_new(c, OP_ADD_LN);
    /* Backward reads the sum; an inference pass keeps it only when it is the adapter's residual. */
    bool keep_sum = sum_out || !c->m->fw.no_grad;
    cval *sum = keep_sum ? cval_new_raw(c, rows) : NULL;
    cval *out = into ? cval_ref(c, into, rows) : cval_new_raw(c, rows);
    float *mean = arena_floats_raw(c->a, rows), *rstd = arena_floats_raw(c->a, rows);
    if (c->status || !mean || !rstd) {
        if (!c->status) c->status = adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter activations");
        return NULL;
    }
    const bn_weights *own = owner ? adapter_weights(c, owner) : NULL;
    o->ln_w = own && own->ln_w ? own->ln_w : c->ln_w;
    o->ln_b = own && own->ln_w ? own->ln_b : c->ln_b;
    add_layernorm_forward(out->v, sum ? sum->v : NULL, mean, rstd, a->v, b->v, o->ln_w->data, o->ln_b->data, rows, H,
                          c->m->cfg.layer_norm_eps);
    o->a = a, o->b = b, o->sum = sum, o->out = out, o->mean = mean, o->rstd = rstd;
    if (sum_out) *sum_out = sum;
    return out;
}

static cval *op_add_ln(ctx *c, const adapter_def *owner, cval *a, cval *b, cval **sum_out)
{
    return op_add_ln_into(c, owner, a, b, sum_out, NULL);
}

/* One adapter block: returns the output, *up_out the scaled up projection (NULL unless the
 * context asks for it: only a fusion reads it). */
static cval *op_adapter(ctx *c, const adapter_def *ad, const bn_weights *w, cval *h, cval *res, cval **up_out)
{
    if (c->status) return NULL;
    cop *o = op_new(c, OP_ADAPTER);
    cval *out = cval_new_raw(c, h->rows), *up = c->want_up ? cval_new_raw(c, h->rows) : NULL;
    if (c->status) return NULL;
    bn_adapter_forward(c->a, &o->bc, out->v, up ? up->v : NULL, h->v, res->v, w, &ad->cfg, h->rows, c->H,
                       c->m->training ? &c->m->dropout_rng : NULL);
    o->a = h, o->b = res, o->out = out, o->up = up, o->bw = w, o->bcfg = &ad->cfg;
    *up_out = up;
    return out;
}

/* ------------------------------------------------------------------ composition */
/* Adapter.pre_forward: the sublayer's own add & LayerNorm before the adapter (ad's copy of it,
 * if it has one), and which value the adapter's residual is. */
static void pre_forward(ctx *c, const adapter_def *ad, cstate *st)
{
    const bn_config *cfg = &ad->cfg;
    cval *residual = NULL, *sum = NULL;
    if (cfg->residual_before_ln == BN_RESIDUAL_BEFORE_LN) residual = st->h;
    if (cfg->original_ln_before) {
        st->h = op_add_ln(c, ad, st->h, st->x, &sum);
        if (cfg->residual_before_ln == BN_RESIDUAL_POST_ADD) residual = sum;
    }
    if (cfg->residual_before_ln == BN_RESIDUAL_AFTER_LN || !residual) residual = st->h;
    st->res = residual;
}

static void compose(ctx *c, const comp_node *n, cstate *st);

static void compose_single(ctx *c, const adapter_def *ad, cstate *st)
{
    const bn_weights *w = adapter_weights(c, ad);
    if (!w || c->status) return;
    cval *up;
    /* A parallel adapter reads the sublayer input and adds onto the sublayer output. */
    cval *out = ad->cfg.is_parallel ? op_adapter(c, ad, w, st->x, st->h, &up) : op_adapter(c, ad, w, st->h, st->res, &up);
    if (c->status) return;
    st->h = out;
    st->up = up;
    st->last = ad;
}

static void compose_stack(ctx *c, const comp_node *n, cstate *st)
{
    for (int i = 0; i < n->n && !c->status; i++) {
        const comp_node *child = n->children[i];
        if (child->kind != COMP_SINGLE) {
            compose(c, child, st);
            continue;
        }
        const adapter_def *ad = setup_find_adapter(c->s, child->name);
        if (!adapter_weights(c, ad)) continue;
        if (!ad->cfg.is_parallel) pre_forward(c, ad, st);
        else st->res = st->h;
        compose_single(c, ad, st);
    }
}

static void compose_fuse(ctx *c, const comp_node *n, cstate *st)
{
    const char *names[FUSION_MAX_ADAPTERS];
    for (int i = 0; i < n->n; i++) names[i] = n->children[i]->name;
    const fusion_def *f = setup_find_fusion(c->s, names, n->n);
    const adapter_def *last = setup_find_adapter(c->s, names[n->n - 1]);
    if (!adapter_weights(c, last)) return;
    if (!(c->attention ? f->has_attn[c->layer] : f->has_out[c->layer])) {
        c->status = adapt_fail(ADAPT_ERR_FORMAT, "fusion \"%s\" has no weights at layer %d", f->name, c->layer);
        return;
    }
    pre_forward(c, last, st);
    cval *query = st->h;
    cval **ups = arena_alloc(c->a, (size_t)n->n * sizeof *ups);
    if (!ups) {
        c->status = adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter activations");
        return;
    }
    bool want_up = c->want_up;
    c->want_up = true;
    for (int i = 0; i < n->n && !c->status; i++) {
        cstate sub = *st;
        compose_single(c, setup_find_adapter(c->s, names[i]), &sub);
        ups[i] = sub.up;
        if (!sub.up && !c->status)
            c->status = adapt_fail(ADAPT_ERR_ARG, "fusion \"%s\": adapter \"%s\" has no adapter at layer %d", f->name, names[i], c->layer);
    }
    c->want_up = want_up;
    if (c->status) return;
    cop *o = op_new(c, OP_FUSION);
    cval *out = cval_new(c, st->h->rows);
    float *probs = arena_floats(c->a, (size_t)st->h->rows * n->n);
    if (c->status || !probs) {
        if (!c->status) c->status = adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter activations");
        return;
    }
    const float *up_values[FUSION_MAX_ADAPTERS];
    for (int i = 0; i < n->n; i++) up_values[i] = ups[i]->v;
    const fusion_weights *fw = c->attention ? &f->attn[c->layer] : &f->out[c->layer];
    fusion_forward(c->a, &o->fc, out->v, probs, query->v, up_values, n->n, st->res->v, fw, &f->cfg, (float)f->temperature,
                   st->h->rows);
    o->a = query, o->b = st->res, o->out = out, o->parts = ups, o->nparts = n->n, o->fw = fw, o->fcfg = &f->cfg;
    c->cc->fusion_probs = probs;
    c->cc->fusion_n = n->n;
    st->h = out;
    st->last = last;
}

static void *arena_or_fail(ctx *c, size_t bytes)
{
    void *p = arena_alloc(c->a, bytes);
    if (!p && !c->status) c->status = adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter activations");
    return p;
}

/* Row groups of whole sequences, one per child (BatchSplit; Parallel with equal groups), each
 * through its child, then concatenated again (hidden states and residuals, as pad_and_concat). */
static void compose_row_groups(ctx *c, const comp_node *n, const int *batch_sizes, cstate *st)
{
    int T = c->T;
    pre_forward(c, setup_find_adapter(c->s, comp_first(n)), st);
    cval **hp = arena_or_fail(c, (size_t)n->n * sizeof *hp), **rp = arena_or_fail(c, (size_t)n->n * sizeof *rp);
    if (c->status) return;
    const adapter_def *last = NULL;
    int row0 = 0;
    for (int i = 0; i < n->n && !c->status; i++) {
        int rows = batch_sizes[i] * T;
        cstate sub = {cval_slice(c, st->h, row0, rows), cval_slice(c, st->x, row0, rows), cval_slice(c, st->res, row0, rows), NULL, NULL};
        if (rows > 0 && !c->status) compose(c, n->children[i], &sub);
        hp[i] = sub.h;
        rp[i] = sub.res;
        if (sub.last) last = sub.last;
        row0 += rows;
    }
    if (c->status) return;
    /* Concatenate the row groups again (recorded after the children, so backward splits first). */
    cop *o_h = op_new(c, OP_CONCAT), *o_res = op_new(c, OP_CONCAT);
    cval *h = cval_new_raw(c, st->h->rows), *res = cval_new_raw(c, st->h->rows); /* the groups cover every row */
    if (c->status) return;
    for (int i = 0, r = 0; i < n->n; r += hp[i]->rows, i++) {
        memcpy(h->v + (size_t)r * c->H, hp[i]->v, (size_t)hp[i]->rows * c->H * sizeof(float));
        memcpy(res->v + (size_t)r * c->H, rp[i]->v, (size_t)rp[i]->rows * c->H * sizeof(float));
    }
    o_h->parts = hp, o_h->nparts = n->n, o_h->out = h;
    o_res->parts = rp, o_res->nparts = n->n, o_res->out = res;
    st->h = h;
    st->res = res;
    if (last) st->last = last;
}

static void compose_batchsplit(ctx *c, const comp_node *n, cstate *st)
{
    int T = c->T, total = 0;
    for (int i = 0; i < n->n; i++) total += n->batch_sizes[i];
    if (total * T != st->h->rows) {
        c->status = adapt_fail(ADAPT_ERR_ARG, "BatchSplit batch_sizes add up to %d sequences, the batch has %d", total, st->h->rows / T);
        return;
    }
    compose_row_groups(c, n, n->batch_sizes, st);
}

/* AdapterHub's compose_parallel: the batch was replicated once per channel before the encoder
 * (model_forward_channels), so here it is a BatchSplit into n equal groups: channel i is rows
 * [i*B, (i+1)*B). */
static void compose_parallel(ctx *c, const comp_node *n, cstate *st)
{
    int seqs = st->h->rows / c->T;
    if (seqs % n->n) {
        c->status = adapt_fail(ADAPT_ERR_ARG, "Parallel with %d channels: the batch of %d sequences was not replicated per channel "
                                              "(use model_forward_channels)", n->n, seqs);
        return;
    }
    int *sizes = arena_or_fail(c, (size_t)n->n * sizeof *sizes);
    if (c->status) return;
    for (int i = 0; i < n->n; i++) sizes[i] = seqs / n->n;
    compose_row_groups(c, n, sizes, st);
}

/* Rows of `in` picked by map into a value of their own (backward adds the gradients back). */
static cval *op_gather(ctx *c, cval *in, const int *map, int rows)
{
    if (c->status) return NULL;
    cop *o = op_new(c, OP_GATHER);
    cval *out = cval_new_raw(c, rows);
    if (c->status) return NULL;
    for (int i = 0; i < rows; i++) memcpy(out->v + (size_t)i * c->H, in->v + (size_t)map[i] * c->H, (size_t)c->H * sizeof(float));
    o->a = in, o->out = out, o->map = map;
    return out;
}

/* AdapterHub's compose_split (adapters 1.x): tokens [s_i, s_i + k_i) of every sequence through
 * child i, concatenated again along the sequence. Only the hidden states are put back together;
 * the residual stays the block's own (state._replace(hidden_states=..., last=...)). */
static void compose_split(ctx *c, const comp_node *n, cstate *st)
{
    int T = c->T, seqs = st->h->rows / T;
    int lens[COMP_SPLIT_MAX];
    if (n->n_splits == 1 && n->n == 2) { /* legacy split_index */
        if (n->splits[0] > T) {
            c->status = adapt_fail(ADAPT_ERR_ARG, "Split index %d is beyond the sequence length %d", n->splits[0], T);
            return;
        }
        lens[0] = n->splits[0];
        lens[1] = T - n->splits[0];
    } else {
        int total = 0;
        for (int i = 0; i < n->n; i++) total += lens[i] = n->splits[i];
        if (total != T) {
            c->status = adapt_fail(ADAPT_ERR_ARG, "Split: the sequence length %d is not the sum of the splits (%d)", T, total);
            return;
        }
    }
    pre_forward(c, setup_find_adapter(c->s, comp_first(n)), st);
    cval **parts = arena_or_fail(c, (size_t)n->n * sizeof *parts);
    int **maps = arena_or_fail(c, (size_t)n->n * sizeof *maps);
    if (c->status) return;
    const adapter_def *last = NULL;
    int used = 0, t0 = 0;
    for (int i = 0; i < n->n && !c->status; t0 += lens[i], i++) {
        if (!lens[i]) continue;
        int rows = seqs * lens[i];
        int *map = arena_or_fail(c, (size_t)rows * sizeof *map);
        if (c->status) return;
        for (int b = 0, k = 0; b < seqs; b++)
            for (int t = 0; t < lens[i]; t++) map[k++] = b * T + t0 + t;
        cstate sub = {op_gather(c, st->h, map, rows), op_gather(c, st->x, map, rows), op_gather(c, st->res, map, rows), NULL, NULL};
        if (c->status) return;
        c->T = lens[i];
        compose(c, n->children[i], &sub);
        c->T = T;
        parts[used] = sub.h;
        maps[used++] = map;
        if (sub.last) last = sub.last;
    }
    if (c->status) return;
    cop *o = op_new(c, OP_SCATTER);
    cval *h = cval_new(c, st->h->rows);
    if (c->status) return;
    for (int k = 0; k < used; k++)
        for (int j = 0; j < parts[k]->rows; j++)
            memcpy(h->v + (size_t)maps[k][j] * c->H, parts[k]->v + (size_t)j * c->H, (size_t)c->H * sizeof(float));
    o->parts = parts, o->maps = maps, o->nparts = used, o->out = h;
    st->h = h;
    if (last) st->last = last;
}

/* AdapterHub's compose_average: torch.mean(stack(outputs) * weights, 0), i.e. sum_i w_i out_i / n
 * with the weights normalised to sum 1 (so an extra 1/n factor, kept for compatibility). */
static void compose_average(ctx *c, const comp_node *n, cstate *st)
{
    const adapter_def *first = setup_find_adapter(c->s, comp_first(n));
    if (!adapter_weights(c, first)) return;
    pre_forward(c, first, st);
    cval **outs = arena_alloc(c->a, (size_t)n->n * sizeof *outs);
    if (!outs) {
        c->status = adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter activations");
        return;
    }
    const adapter_def *last = NULL;
    for (int i = 0; i < n->n && !c->status; i++) {
        cstate sub = *st;
        compose_single(c, setup_find_adapter(c->s, n->children[i]->name), &sub);
        outs[i] = sub.h;
        if (sub.last) last = sub.last;
    }
    if (c->status) return;
    cop *o = op_new(c, OP_AVERAGE);
    cval *out = cval_new(c, st->h->rows);
    if (c->status) return;
    size_t NH = (size_t)st->h->rows * c->H;
    for (int i = 0; i < n->n; i++) {
        float w = (float)(n->weights[i] / n->n);
        for (size_t k = 0; k < NH; k++) out->v[k] += w * outs[i]->v[k];
    }
    o->parts = outs, o->nparts = n->n, o->weights = n->weights, o->out = out;
    st->h = out;
    st->last = last;
}

static void compose(ctx *c, const comp_node *n, cstate *st)
{
    if (c->status) return;
    switch (n->kind) {
    case COMP_SINGLE: compose_single(c, setup_find_adapter(c->s, n->name), st); return;
    case COMP_STACK: compose_stack(c, n, st); return;
    case COMP_FUSE: compose_fuse(c, n, st); return;
    case COMP_BATCHSPLIT: compose_batchsplit(c, n, st); return;
    case COMP_AVERAGE: compose_average(c, n, st); return;
    case COMP_PARALLEL: compose_parallel(c, n, st); return;
    case COMP_SPLIT: compose_split(c, n, st); return;
    }
}

/* Whether any adapter of the composition sits at this point. */
static bool uses_point(const ctx *c, const comp_node *n)
{
    if (n->kind == COMP_SINGLE) return adapter_weights(c, setup_find_adapter(c->s, n->name)) != NULL;
    for (int i = 0; i < n->n; i++)
        if (uses_point(c, n->children[i])) return true;
    return false;
}

/* ------------------------------------------------------------------ the point */
static void point_ln(const adapt_model *m, int layer, point_loc loc, param **w, param **b)
{
    const encoder_layer *L = &m->layers[layer];
    *w = loc == POINT_OUTPUT ? L->out_ln_w : L->attn_ln_w;
    *b = loc == POINT_OUTPUT ? L->out_ln_b : L->attn_ln_b;
}

/* The point for the N rows of h and x under composition `root` (NULL, or one without an adapter
 * here: the sublayer's usual LayerNorm(h + x)); pc receives what backward needs. */
static adapt_status point_rows_forward(adapt_model *m, const comp_node *root, int layer, point_loc loc, const float *h,
                                       const float *x, int N, float *dest, float **out, point_cache *pc)
{
    int H = m->cfg.hidden;
    arena *a = &m->acts;
    ctx c = {.m = m, .s = m->setup, .a = a, .layer = layer, .H = H, .T = m->fw.T, .attention = loc == POINT_ATTENTION_OUTPUT};
    point_ln(m, layer, loc, &c.ln_w, &c.ln_b);
    if (root && uses_point(&c, root)) {
        comp_cache *cc = arena_alloc(a, sizeof *cc);
        if (!cc) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
        memset(cc, 0, sizeof *cc);
        c.cc = cc;
        /* h (the dense output) lives in per-pass scratch that the next layer overwrites, so a
         * training pass copies it; x (the sublayer input) stays until backward. */
        cstate st = {m->fw.no_grad ? cval_ref(&c, h, N) : cval_wrap(&c, h, N), cval_ref(&c, x, N), NULL, NULL, NULL};
        if (c.status) return c.status;
        cc->h0 = st.h;
        cc->x0 = st.x;
        st.res = st.x;
        comp_node wrap = {.kind = COMP_STACK, .n = 1, .children = (comp_node **)&root};
        compose(&c, root->kind == COMP_SINGLE ? &wrap : root, &st); /* a bare adapter is a Stack of one */
        if (!c.status) {
            if (!st.last) cc->out = op_add_ln_into(&c, NULL, cc->h0, cc->x0, NULL, dest);
            else if (st.last->cfg.original_ln_after) cc->out = op_add_ln_into(&c, st.last, st.h, st.x, NULL, dest);
            else cc->out = st.h;
        }
        if (c.status) return c.status;
        pc->composition = cc;
        *out = cc->out->v;
        return ADAPT_OK;
    }
    /* No adapter here: the sublayer's usual LayerNorm(h + x). */
    float *sum = m->fw.no_grad ? NULL : arena_floats_raw(a, (size_t)N * H), *o = dest ? dest : arena_floats_raw(a, (size_t)N * H);
    float *mean = arena_floats_raw(a, N), *rstd = arena_floats_raw(a, N);
    if ((!sum && !m->fw.no_grad) || !o || !mean || !rstd) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
    add_layernorm_forward(o, sum, mean, rstd, h, x, c.ln_w->data, c.ln_b->data, N, H, m->cfg.layer_norm_eps);
    pc->sum = sum;
    pc->mean = mean;
    pc->rstd = rstd;
    *out = o;
    return ADAPT_OK;
}

/* A mixed batch: each row group through its own composition, into one output (inference only). */
static adapt_status point_routes_forward(adapt_model *m, int layer, point_loc loc, const float *h, const float *x, float *dest,
                                         float **out)
{
    const adapter_setup *s = m->setup;
    size_t H = (size_t)m->cfg.hidden;
    float *o = dest ? dest : arena_floats_raw(&m->acts, (size_t)m->fw.N * H);
    if (!o) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
    for (int g = 0, row0 = 0; g < s->n_routes; row0 += s->route_rows[g] * m->fw.T, g++) {
        int rows = s->route_rows[g] * m->fw.T;
        point_cache group = {0}; /* nothing reads it: routed passes have no backward */
        float *group_out;
        TRY(point_rows_forward(m, s->route_roots[g], layer, loc, h + row0 * H, x + row0 * H, rows, o + row0 * H, &group_out, &group));
        if (group_out != o + row0 * H) memcpy(o + row0 * H, group_out, rows * H * sizeof(float));
    }
    *out = o;
    return ADAPT_OK;
}

adapt_status adapter_point_forward(adapt_model *m, int layer, point_loc loc, const float *h, const float *x, float *dest,
                                   float **out, point_cache **cache)
{
    point_cache *pc = arena_alloc(&m->acts, sizeof *pc);
    if (!pc) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for activations");
    memset(pc, 0, sizeof *pc);
    *cache = pc;
    if (m->setup && m->setup->n_routes) {
        if (!m->fw.no_grad) return adapt_fail(ADAPT_ERR_ARG, "a mixed batch (a composition per row) runs for inference only");
        return point_routes_forward(m, layer, loc, h, x, dest, out);
    }
    return point_rows_forward(m, m->setup ? m->setup->active : NULL, layer, loc, h, x, m->fw.N, dest, out, pc);
}

/* The gradient buffer of a value, zeroed on first use (gradients accumulate into it). */
static float *cval_grad(arena *a, cval *v, int H)
{
    if (!v->g) {
        if (v->parent) {
            float *pg = cval_grad(a, v->parent, H);
            v->g = pg ? pg + (size_t)v->row0 * H : NULL;
        } else {
            v->g = arena_floats(a, (size_t)v->rows * H);
        }
    }
    return v->g;
}

/* Allocates every gradient buffer an operation touches before it runs. */
static bool op_grads(arena *a, const cop *o, int H)
{
    cval *vals[] = {o->a, o->b, o->out, o->sum, o->up};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++)
        if (vals[i] && !cval_grad(a, vals[i], H)) return false;
    for (int i = 0; i < o->nparts; i++)
        if (!cval_grad(a, o->parts[i], H)) return false;
    return true;
}

static adapt_status op_backward(arena *a, const cop *o, int H)
{
    if (!op_grads(a, o, H)) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter gradients");
    switch (o->kind) {
    case OP_ADD_LN: {
        int rows = o->out->rows;
        size_t n = (size_t)rows * H;
        float *d_sum = arena_floats(a, n);
        if (!d_sum) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter gradients");
        layernorm_backward(d_sum, o->ln_w->grad, o->ln_b->grad, o->out->g, o->sum->v, o->mean, o->rstd, o->ln_w->data, rows, H);
        #pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) {
            float g = d_sum[i] + o->sum->g[i];
            o->a->g[i] += g;
            o->b->g[i] += g;
        }
        break;
    }
    case OP_ADAPTER:
        bn_adapter_backward(a, o->a->g, o->b->g, o->out->g, o->up ? o->up->g : NULL, &o->bc, o->bw, o->bcfg, o->out->rows, H);
        break;
    case OP_FUSION: {
        float *d_ups[FUSION_MAX_ADAPTERS];
        for (int i = 0; i < o->nparts; i++) d_ups[i] = o->parts[i]->g;
        fusion_backward(a, o->a->g, d_ups, o->b->g, o->out->g, &o->fc, o->fw, o->fcfg, o->out->rows);
        break;
    }
    case OP_CONCAT:
        for (int i = 0, r = 0; i < o->nparts; r += o->parts[i]->rows, i++)
            for (size_t k = 0; k < (size_t)o->parts[i]->rows * H; k++) o->parts[i]->g[k] += o->out->g[(size_t)r * H + k];
        break;
    case OP_AVERAGE:
        for (int i = 0; i < o->nparts; i++) {
            float w = (float)(o->weights[i] / o->nparts);
            for (size_t k = 0; k < (size_t)o->out->rows * H; k++) o->parts[i]->g[k] += w * o->out->g[k];
        }
        break;
    case OP_GATHER:
        for (int i = 0; i < o->out->rows; i++) {
            float *dst = o->a->g + (size_t)o->map[i] * H;
            const float *src = o->out->g + (size_t)i * H;
            for (int k = 0; k < H; k++) dst[k] += src[k];
        }
        break;
    case OP_SCATTER:
        for (int p = 0; p < o->nparts; p++)
            for (int j = 0; j < o->parts[p]->rows; j++) {
                float *dst = o->parts[p]->g + (size_t)j * H;
                const float *src = o->out->g + (size_t)o->maps[p][j] * H;
                for (int k = 0; k < H; k++) dst[k] += src[k];
            }
        break;
    }
    return ADAPT_OK;
}

adapt_status adapter_point_backward(adapt_model *m, int layer, point_loc loc, float *d_h, float *d_x, const float *d_out,
                                    const point_cache *pc)
{
    int N = m->fw.N, H = m->cfg.hidden;
    size_t NH = (size_t)N * H;
    param *w, *b;
    point_ln(m, layer, loc, &w, &b);
    const comp_cache *cc = pc->composition;
    if (cc) {
        float *d_point_out = cval_grad(&m->acts, cc->out, H);
        if (!d_point_out) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter gradients");
        #pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < NH; i++) d_point_out[i] += d_out[i];
        for (const cop *o = cc->tail; o; o = o->prev) TRY(op_backward(&m->acts, o, H));
        const float *d_h0 = cval_grad(&m->acts, cc->h0, H), *d_x0 = cval_grad(&m->acts, cc->x0, H);
        if (!d_h0 || !d_x0) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for adapter gradients");
        #pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < NH; i++) {
            d_h[i] += d_h0[i];
            d_x[i] += d_x0[i];
        }
        return ADAPT_OK;
    }
    /* d(sum) goes to both h and x. */
    float *d_sum = arena_floats(&m->acts, NH);
    if (!d_sum) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for gradients");
    layernorm_backward(d_sum, w->grad, b->grad, d_out, pc->sum, pc->mean, pc->rstd, w->data, N, H);
    #pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < NH; i++) {
        d_h[i] += d_sum[i];
        d_x[i] += d_sum[i];
    }
    return ADAPT_OK;
}

bool adapter_point_needs_gradient(adapt_model *m, int layer, point_loc loc, const point_cache *pc)
{
    param *w, *b;
    point_ln(m, layer, loc, &w, &b);
    return (pc && pc->composition) || w->grad || b->grad;
}

const float *adapter_point_fusion_probs(const point_cache *pc, int *n)
{
    const comp_cache *cc = pc ? pc->composition : NULL;
    *n = cc ? cc->fusion_n : 0;
    return cc ? cc->fusion_probs : NULL;
}
