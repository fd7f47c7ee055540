/* Adapter kernels: bottleneck adapter, NICE invertible adapter, AdapterFusion and their configs.
 * Gradients are checked against central differences (double, perturbing the fp32 inputs and
 * weights) over many configurations; forward passes against a naive double re-implementation of
 * ../shared/reference/ref.py and against the fixtures; each checker is itself shown to catch a
 * wrong backward. */
#include "testutil.h"
#include "adapters/bn_config.h"
#include "adapters/bottleneck.h"
#include "adapters/config_string.h"
#include "adapters/fusion.h"
#include "adapters/invertible.h"
#include "core/error.h"
#include "core/json.h"
#include "formats/checkpoint.h"
#include "formats/hf_config.h"
#include "model/layers.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ small helpers */

static uint64_t rng_state = 12345;

static double urand(void) { return test_uniform(&rng_state); }

static void fill(float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * urand());
}

static float *fvec(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

static void make_trainable(param *p)
{
    if (p) assert_int_equal(store_set_trainable(p, true), ADAPT_OK);
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* One tensor whose gradient is checked: x is perturbed, grad holds the analytic gradient. */
typedef struct fd_var {
    const char *name;
    float *x;
    const float *grad;
    size_t n;
} fd_var;

typedef double (*loss_fn)(void *ctx);

static const double FD_EPS = 2e-3;
static const double FD_TOL = 1e-2;
static double worst_seen; /* reported by the sweeps, to show the margin under FD_TOL */


/* Central differences in double around the fp32 values. Returns the worst normalised error:
 * ||analytic - numeric|| / (||numeric|| + 1e-2 sqrt(n)); the floor absorbs the fp32 noise of
 * gradients that are truly zero (e.g. fusion key biases). */
static double fd_check(loss_fn f, void *ctx, fd_var *vars, int nv, const char *label, bool verbose)
{
    double worst = 0;
    for (int v = 0; v < nv; v++) {
        double err2 = 0, ref2 = 0;
        for (size_t i = 0; i < vars[v].n; i++) {
            float keep = vars[v].x[i];
            vars[v].x[i] = (float)(keep + FD_EPS);
            double hi_x = (double)vars[v].x[i], lp = f(ctx);
            vars[v].x[i] = (float)(keep - FD_EPS);
            double lo_x = (double)vars[v].x[i], lm = f(ctx);
            vars[v].x[i] = keep;
            double num = (lp - lm) / (hi_x - lo_x);
            double d = vars[v].grad[i] - num;
            err2 += d * d;
            ref2 += num * num;
        }
        double score = sqrt(err2) / (sqrt(ref2) + 1e-2 * sqrt((double)vars[v].n));
        if (verbose && score > 1e-2) fprintf(stderr, "  %s: %s error %.3g (|num| %.3g)\n", label, vars[v].name, score, sqrt(ref2));
        if (score > worst) worst = score;
    }
    if (verbose && worst > worst_seen) worst_seen = worst;
    return worst;
}


/* ------------------------------------------------------------------ bottleneck: reference */

static double act_ref(activation_kind k, double x)
{
    switch (k) {
    case ACT_RELU: return x > 0 ? x : 0;
    case ACT_SILU: return x / (1 + exp(-x));
    case ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case ACT_GELU_NEW: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case ACT_TANH: return tanh(x);
    case ACT_LEAKY_RELU: return x > 0 ? x : 0.01 * x;
    case ACT_IDENTITY: return x;
    }
    return x;
}

static void ln_ref(double *y, const double *x, const float *w, const float *b, int H)
{
    double m = 0, v = 0;
    for (int j = 0; j < H; j++) m += x[j];
    m /= H;
    for (int j = 0; j < H; j++) v += (x[j] - m) * (x[j] - m);
    v /= H;
    for (int j = 0; j < H; j++) y[j] = (x[j] - m) / sqrt(v + 1e-5) * w[j] + b[j];
}

/* ref.py adapter_forward (with the ParallelAdapter variant), one row at a time, in double. */
static void bn_ref_forward(double *out, double *up, const float *h, const float *res, const bn_weights *w,
                           const bn_config *cfg, int N, int H)
{
    int m = w->bottleneck;
    double *z = malloc(sizeof(double) * H), *a = malloc(sizeof(double) * m), *o = malloc(sizeof(double) * H);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < H; j++) z[j] = h[i * H + j];
        if (cfg->ln_before) ln_ref(z, z, w->norm_before_w->data, w->norm_before_b->data, H);
        for (int k = 0; k < m; k++) {
            double s = w->down_b->data[k];
            for (int j = 0; j < H; j++) s += (double)w->down_w->data[k * H + j] * z[j];
            a[k] = act_ref(cfg->non_linearity, s);
        }
        for (int j = 0; j < H; j++) {
            double s = w->up_b->data[j];
            for (int k = 0; k < m; k++) s += (double)w->up_w->data[j * m + k] * a[k];
            double sc = cfg->scaling_kind == BN_SCALING_FIXED     ? cfg->scaling
                        : cfg->scaling_kind == BN_SCALING_LEARNED ? w->scale->data[0]
                                                                  : w->scale->data[j];
            o[j] = s * sc;
            up[i * H + j] = o[j];
        }
        bool arbl = cfg->adapter_residual_before_ln && !cfg->is_parallel;
        if (arbl)
            for (int j = 0; j < H; j++) o[j] += res[i * H + j];
        if (cfg->ln_after) ln_ref(o, o, w->norm_after_w->data, w->norm_after_b->data, H);
        for (int j = 0; j < H; j++) out[i * H + j] = o[j] + (arbl ? 0 : res[i * H + j]);
    }
    free(z);
    free(a);
    free(o);
}

/* ------------------------------------------------------------------ bottleneck: gradient harness */

typedef struct bn_case {
    bn_config cfg, bwd_cfg; /* bwd_cfg differs only in the sensitivity tests */
    int N, H;
    param_store store;
    bn_weights w;
    float *h, *res, *r_out, *r_up, *out, *up, *d_h, *d_res;
    arena a;
    uint64_t drop_seed;
} bn_case;

static void bn_case_init(bn_case *t, const bn_config *cfg, int N, int H)
{
    memset(t, 0, sizeof *t);
    t->cfg = t->bwd_cfg = *cfg;
    t->N = N;
    t->H = H;
    store_init(&t->store);
    arena_init(&t->a);
    uint64_t seed = 7;
    assert_int_equal(bn_adapter_create(&t->store, "bert.encoder.layer.0.output.adapters.t", cfg, H, 0, &seed, &t->w),
                     ADAPT_OK);
    /* Random weights of order one, so every path carries gradient (mam init zeroes the up projection). */
    for (size_t i = 0; i < t->store.count; i++) {
        param *p = t->store.items[i];
        bool norm_or_scale = strstr(p->name, "norm") || strstr(p->name, "scaling");
        if (norm_or_scale && strstr(p->name, "weight")) fill(p->data, p->numel, 0.5, 1.5);
        else if (strstr(p->name, "scaling")) fill(p->data, p->numel, 0.5, 2.0);
        else fill(p->data, p->numel, -0.6, 0.6);
        make_trainable(p);
    }
    size_t NH = (size_t)N * H;
    t->h = fvec(NH), t->res = fvec(NH), t->r_out = fvec(NH), t->r_up = fvec(NH);
    t->out = fvec(NH), t->up = fvec(NH), t->d_h = fvec(NH), t->d_res = fvec(NH);
    fill(t->h, NH, -1.5, 1.5);
    fill(t->res, NH, -1, 1);
    fill(t->r_out, NH, -1, 1);
    fill(t->r_up, NH, -1, 1);
    t->drop_seed = 99;
    /* Keep every pre-activation away from the ReLU kink, so central differences stay smooth. */
    for (int tries = 0; tries < 200; tries++) {
        bn_cache c;
        arena_reset(&t->a);
        bn_adapter_forward(&t->a, &c, t->out, t->up, t->h, t->res, &t->w, &t->cfg, N, H, NULL);
        double closest = 1e30;
        for (size_t i = 0; i < (size_t)N * t->w.bottleneck; i++) closest = fmin(closest, fabs(c.pre[i]));
        if (closest > 0.03) break;
        fill(t->h, NH, -1.5, 1.5);
    }
}

static void bn_case_free(bn_case *t)
{
    free(t->h), free(t->res), free(t->r_out), free(t->r_up), free(t->out), free(t->up), free(t->d_h), free(t->d_res);
    store_free(&t->store);
    arena_free(&t->a);
}

static double bn_loss(void *ctx)
{
    bn_case *t = ctx;
    bn_cache c;
    arena_reset(&t->a);
    uint64_t seed = t->drop_seed; /* the same dropout mask on every evaluation */
    bn_adapter_forward(&t->a, &c, t->out, t->up, t->h, t->res, &t->w, &t->cfg, t->N, t->H,
                       t->cfg.dropout > 0 ? &seed : NULL);
    size_t NH = (size_t)t->N * t->H;
    return dot(t->out, t->r_out, NH) + dot(t->up, t->r_up, NH);
}

static void bn_analytic(bn_case *t, bool with_d_out, bool with_d_up)
{
    size_t NH = (size_t)t->N * t->H;
    store_zero_grads(&t->store);
    memset(t->d_h, 0, NH * sizeof(float));
    memset(t->d_res, 0, NH * sizeof(float));
    bn_cache c;
    arena_reset(&t->a);
    uint64_t seed = t->drop_seed;
    bn_adapter_forward(&t->a, &c, t->out, t->up, t->h, t->res, &t->w, &t->cfg, t->N, t->H,
                       t->cfg.dropout > 0 ? &seed : NULL);
    bn_adapter_backward(&t->a, t->d_h, t->d_res, with_d_out ? t->r_out : NULL, with_d_up ? t->r_up : NULL, &c, &t->w,
                        &t->bwd_cfg, t->N, t->H);
}

static double bn_grad_error(bn_case *t, const char *label, bool verbose)
{
    bn_analytic(t, true, true);
    fd_var vars[16];
    int nv = 0;
    size_t NH = (size_t)t->N * t->H;
    vars[nv++] = (fd_var){"d_h", t->h, t->d_h, NH};
    vars[nv++] = (fd_var){"d_residual", t->res, t->d_res, NH};
    for (size_t i = 0; i < t->store.count; i++) {
        param *p = t->store.items[i];
        vars[nv++] = (fd_var){p->name, p->data, p->grad, p->numel};
    }
    return fd_check(bn_loss, t, vars, nv, label, verbose);
}

static double bn_forward_error(bn_case *t)
{
    size_t NH = (size_t)t->N * t->H;
    double *ro = malloc(NH * sizeof(double)), *ru = malloc(NH * sizeof(double));
    bn_ref_forward(ro, ru, t->h, t->res, &t->w, &t->cfg, t->N, t->H);
    bn_loss(t);
    double e = 0, n = 0;
    for (size_t i = 0; i < NH; i++) {
        e += (t->out[i] - ro[i]) * (t->out[i] - ro[i]) + (t->up[i] - ru[i]) * (t->up[i] - ru[i]);
        n += ro[i] * ro[i] + ru[i] * ru[i];
    }
    free(ro);
    free(ru);
    return sqrt(e / n);
}

static const activation_kind ALL_ACTS[] = {ACT_RELU, ACT_SILU, ACT_GELU, ACT_GELU_NEW, ACT_TANH, ACT_LEAKY_RELU};

static void test_bn_gradients_all_configs(void **state)
{
    (void)state;
    int checked = 0;
    for (int ai = 0; ai < 6; ai++)
        for (int combo = 0; combo < 48; combo++) {
            bn_config cfg;
            assert_int_equal(bn_config_parse_string("seq_bn[reduction_factor=2]", &cfg), ADAPT_OK);
            cfg.non_linearity = ALL_ACTS[ai];
            cfg.ln_before = combo & 1;
            cfg.ln_after = (combo >> 1) & 1;
            cfg.adapter_residual_before_ln = (combo >> 2) & 1;
            cfg.is_parallel = (combo >> 3) & 1;
            int sc = combo >> 4; /* 0 fixed, 1 learned, 2 channel */
            cfg.scaling_kind = sc == 0 ? BN_SCALING_FIXED : sc == 1 ? BN_SCALING_LEARNED : BN_SCALING_CHANNEL;
            cfg.scaling = 2.5;
            bn_case t;
            bn_case_init(&t, &cfg, 3, 8);
            char label[128];
            snprintf(label, sizeof label, "act %s combo %d", activation_name(cfg.non_linearity), combo);
            double fe = bn_forward_error(&t);
            if (fe > 1e-5) fprintf(stderr, "  %s: forward error %.3g\n", label, fe);
            assert_true(fe < 1e-5);
            double ge = bn_grad_error(&t, label, true);
            if (ge >= FD_TOL) fail_msg("%s: gradient error %.3g", label, ge);
            bn_case_free(&t);
            checked++;
        }
    assert_int_equal(checked, 288);
    fprintf(stderr, "  288 adapter configurations, worst gradient error %.2g\n", worst_seen);
}

static void test_bn_gradients_residual_modes_and_init(void **state)
{
    (void)state;
    /* Named configs (mam / houlsby init, post_add, houlsby's swish) with odd sizes, and dropout. */
    const char *specs[] = {"par_bn", "scaled_par_bn", "double_seq_bn", "seq_bn[residual_before_ln=post_add,ln_after=true]",
                           "seq_bn[init_weights=houlsby,reduction_factor=3]", "seq_bn[reduction_factor=0.5]",
                           "seq_bn[dropout=0.3,scaling=channel]", "par_bn[dropout=0.5,ln_after=true]"};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        bn_config cfg;
        assert_int_equal(bn_config_parse_string(specs[s], &cfg), ADAPT_OK);
        bn_case t;
        bn_case_init(&t, &cfg, 4, 7);
        if (cfg.dropout == 0) assert_true(bn_forward_error(&t) < 1e-5);
        double ge = bn_grad_error(&t, specs[s], true);
        if (ge >= FD_TOL) fail_msg("%s: gradient error %.3g", specs[s], ge);
        bn_case_free(&t);
    }
}

static void test_bn_gradient_check_catches_wrong_backward(void **state)
{
    (void)state;
    bn_config cfg;
    assert_int_equal(bn_config_parse_string("seq_bn[reduction_factor=2,non_linearity=gelu,scaling=2.0,ln_after=true]", &cfg), ADAPT_OK);
    bn_case t;
    bn_case_init(&t, &cfg, 3, 8);
    assert_true(bn_grad_error(&t, "right", false) < FD_TOL);
    t.bwd_cfg.non_linearity = ACT_SILU; /* another activation's derivative */
    double e1 = bn_grad_error(&t, "wrong act", false);
    t.bwd_cfg = t.cfg;
    t.bwd_cfg.scaling = 2.1; /* a 5% scale error */
    double e2 = bn_grad_error(&t, "wrong scale", false);
    t.bwd_cfg = t.cfg;
    t.bwd_cfg.adapter_residual_before_ln = true; /* residual routed through the LayerNorm */
    double e3 = bn_grad_error(&t, "wrong residual", false);
    if (!(e1 > FD_TOL && e2 > FD_TOL && e3 > FD_TOL)) fail_msg("checker missed an error: %g %g %g", e1, e2, e3);
    /* and the forward reference notices a wrong forward */
    t.cfg.non_linearity = ACT_GELU_NEW;
    bn_config right = t.cfg;
    right.non_linearity = ACT_GELU;
    size_t NH = (size_t)t.N * t.H;
    double *ro = malloc(NH * sizeof(double)), *ru = malloc(NH * sizeof(double));
    bn_ref_forward(ro, ru, t.h, t.res, &t.w, &right, t.N, t.H);
    bn_loss(&t);
    double e = 0;
    for (size_t i = 0; i < NH; i++) e = fmax(e, fabs(t.up[i] - ru[i]));
    assert_true(e > 1e-4);
    free(ro);
    free(ru);
    bn_case_free(&t);
}

static void test_bn_fusion_paths_and_frozen(void **state)
{
    (void)state;
    bn_config cfg;
    assert_int_equal(bn_config_parse_string("seq_bn[reduction_factor=2,ln_before=true,ln_after=true,scaling=learned]", &cfg),
                     ADAPT_OK);
    bn_case t;
    bn_case_init(&t, &cfg, 3, 8);
    size_t NH = 24;
    /* d_up alone (inside Fuse the block output is unused): no gradient reaches the residual. */
    bn_analytic(&t, false, true);
    for (size_t i = 0; i < NH; i++) assert_true(t.d_res[i] == 0.0f);
    float *dh_up = fvec(NH), *dh_all = fvec(NH), *dres_all = fvec(NH);
    memcpy(dh_up, t.d_h, NH * sizeof(float));
    bn_analytic(&t, true, true);
    memcpy(dh_all, t.d_h, NH * sizeof(float));
    memcpy(dres_all, t.d_res, NH * sizeof(float));
    float *g_down = fvec(t.w.down_w->numel);
    memcpy(g_down, t.w.down_w->grad, t.w.down_w->numel * sizeof(float));
    /* Frozen: every grad NULL; input gradients must not change, nothing else is written. */
    for (size_t i = 0; i < t.store.count; i++) assert_int_equal(store_set_trainable(t.store.items[i], false), ADAPT_OK);
    bn_analytic(&t, true, true);
    for (size_t i = 0; i < NH; i++) {
        assert_float_equal(t.d_h[i], dh_all[i], 1e-6);
        assert_float_equal(t.d_res[i], dres_all[i], 1e-6);
    }
    /* Only the down projection trainable: its gradient is the same as before. */
    make_trainable(t.w.down_w);
    bn_analytic(&t, true, true);
    for (size_t i = 0; i < t.w.down_w->numel; i++) assert_float_equal(t.w.down_w->grad[i], g_down[i], 1e-6);
    /* d_h may be NULL (nothing upstream needs it). */
    bn_cache c;
    arena_reset(&t.a);
    bn_adapter_forward(&t.a, &c, t.out, t.up, t.h, t.res, &t.w, &t.cfg, 3, 8, NULL);
    memset(t.w.down_w->grad, 0, t.w.down_w->numel * sizeof(float));
    bn_adapter_backward(&t.a, NULL, NULL, t.r_out, t.r_up, &c, &t.w, &t.cfg, 3, 8);
    for (size_t i = 0; i < t.w.down_w->numel; i++) assert_float_equal(t.w.down_w->grad[i], g_down[i], 1e-6);
    /* out may alias the residual */
    float *alias = fvec(NH);
    memcpy(alias, t.res, NH * sizeof(float));
    bn_loss(&t);
    arena_reset(&t.a);
    bn_adapter_forward(&t.a, &c, alias, NULL, t.h, alias, &t.w, &t.cfg, 3, 8, NULL);
    for (size_t i = 0; i < NH; i++) assert_float_equal(alias[i], t.out[i], 1e-6);
    free(alias), free(dh_up), free(dh_all), free(dres_all), free(g_down);
    bn_case_free(&t);
}

static void test_bn_dropout_mask(void **state)
{
    (void)state;
    bn_config cfg;
    assert_int_equal(bn_config_parse_string("seq_bn[reduction_factor=2,dropout=0.5]", &cfg), ADAPT_OK);
    bn_case t;
    bn_case_init(&t, &cfg, 8, 16);
    arena_reset(&t.a);
    bn_cache c;
    uint64_t seed = 3;
    bn_adapter_forward(&t.a, &c, t.out, t.up, t.h, t.res, &t.w, &cfg, 8, 16, &seed);
    int zeros = 0;
    for (int i = 0; i < 128; i++) {
        assert_true(c.drop_mask[i] == 0.0f || c.drop_mask[i] == 2.0f);
        zeros += c.drop_mask[i] == 0.0f;
        /* out = up * mask + residual (sequential, no LN after) */
        assert_float_equal(t.out[i], t.up[i] * c.drop_mask[i] + t.res[i], 1e-5);
    }
    assert_true(zeros > 32 && zeros < 96);
    /* evaluation (rng NULL): no dropout */
    arena_reset(&t.a);
    bn_adapter_forward(&t.a, &c, t.out, t.up, t.h, t.res, &t.w, &cfg, 8, 16, NULL);
    assert_null(c.drop_mask);
    for (int i = 0; i < 128; i++) assert_float_equal(t.out[i], t.up[i] + t.res[i], 1e-6);
    bn_case_free(&t);
}

/* ------------------------------------------------------------------ bottleneck: create / bind */

static void test_bn_create_names_init_and_bind(void **state)
{
    (void)state;
    const char *pre = "roberta.encoder.layer.3.attention.output.adapters.lang";
    struct { const char *spec; const char *names[12]; } cases[] = {
        {"seq_bn", {".adapter_down.0.weight", ".adapter_down.0.bias", ".adapter_up.weight", ".adapter_up.bias"}},
        {"seq_bn[ln_before=true,ln_after=true,scaling=channel]",
         {".scaling", ".adapter_norm_before.weight", ".adapter_norm_before.bias", ".adapter_down.1.weight",
          ".adapter_down.1.bias", ".adapter_up.weight", ".adapter_up.bias", ".adapter_norm_after.weight",
          ".adapter_norm_after.bias"}},
        {"scaled_par_bn", {".scaling", ".adapter_down.0.weight", ".adapter_down.0.bias", ".adapter_up.weight", ".adapter_up.bias"}},
    };
    for (size_t k = 0; k < 3; k++) {
        bn_config cfg;
        assert_int_equal(bn_config_parse_string(cases[k].spec, &cfg), ADAPT_OK);
        param_store s;
        store_init(&s);
        bn_weights w, b;
        uint64_t seed = 1;
        assert_int_equal(bn_adapter_create(&s, pre, &cfg, 64, 3, &seed, &w), ADAPT_OK);
        size_t n = 0;
        while (n < 12 && cases[k].names[n]) n++;
        assert_int_equal(s.count, n);
        for (size_t i = 0; i < n; i++) {
            char full[256];
            snprintf(full, sizeof full, "%s%s", pre, cases[k].names[i]);
            assert_string_equal(s.items[i]->name, full);
        }
        int m = bn_bottleneck_dim(&cfg, 3, 64);
        assert_int_equal(w.down_w->shape[0], m);
        assert_int_equal(w.down_w->shape[1], 64);
        assert_int_equal(w.up_w->shape[0], 64);
        assert_int_equal(w.up_w->shape[1], m);
        if (w.scale) assert_int_equal(w.scale->numel, cfg.scaling_kind == BN_SCALING_CHANNEL ? 64 : 1);
        assert_int_equal(bn_adapter_bind(&s, pre, &cfg, 3, 64, &b), ADAPT_OK);
        assert_ptr_equal(b.down_w, w.down_w);
        assert_ptr_equal(b.up_b, w.up_b);
        assert_ptr_equal(b.norm_after_w, w.norm_after_w);
        assert_ptr_equal(b.scale, w.scale);
        /* a wrong hidden size is refused with the tensor's name */
        assert_int_equal(bn_adapter_bind(&s, pre, &cfg, 3, 32, &b), ADAPT_ERR_FORMAT);
        assert_non_null(strstr(adapt_error(), "adapter"));
        assert_non_null(strstr(adapt_error(), "expected"));
        store_free(&s);
    }
    /* init statistics: bert N(0, .02); mam zero up, down within 1/sqrt(H); houlsby inside +-0.02 */
    param_store s;
    store_init(&s);
    bn_config cfg;
    bn_weights w;
    uint64_t seed = 5;
    assert_int_equal(bn_config_parse_string("seq_bn[reduction_factor=2]", &cfg), ADAPT_OK);
    assert_int_equal(bn_adapter_create(&s, "a", &cfg, 128, 0, &seed, &w), ADAPT_OK);
    double ss = 0;
    for (size_t i = 0; i < w.down_w->numel; i++) ss += (double)w.down_w->data[i] * w.down_w->data[i];
    assert_float_equal(sqrt(ss / w.down_w->numel), 0.02, 0.001);
    for (size_t i = 0; i < w.down_b->numel; i++) assert_true(w.down_b->data[i] == 0.0f);
    assert_int_equal(bn_config_parse_string("par_bn", &cfg), ADAPT_OK);
    assert_int_equal(bn_adapter_create(&s, "b", &cfg, 128, 0, &seed, &w), ADAPT_OK);
    double mx = 0;
    for (size_t i = 0; i < w.up_w->numel; i++) assert_true(w.up_w->data[i] == 0.0f);
    for (size_t i = 0; i < w.down_w->numel; i++) mx = fmax(mx, fabs(w.down_w->data[i]));
    assert_true(mx <= 1.0 / sqrt(128.0) && mx > 0.8 / sqrt(128.0));
    assert_int_equal(bn_config_parse_string("double_seq_bn[init_weights=houlsby,ln_after=true]", &cfg), ADAPT_OK);
    assert_int_equal(bn_adapter_create(&s, "c", &cfg, 128, 0, &seed, &w), ADAPT_OK);
    mx = 0;
    for (size_t i = 0; i < w.up_w->numel; i++) mx = fmax(mx, fabs(w.up_w->data[i]));
    assert_true(mx <= 0.02 && mx > 0.015);
    for (int i = 0; i < 128; i++) assert_true(w.norm_after_w->data[i] == 1.0f && w.norm_after_b->data[i] == 0.0f);
    /* a per-layer map without "default" must name every layer that gets an adapter */
    bn_config mapped;
    assert_int_equal(bn_config_parse_string("seq_bn[reduction_factor={'1': 4}]", &mapped), ADAPT_OK);
    assert_int_equal(bn_adapter_create(&s, "m1", &mapped, 32, 1, &seed, &w), ADAPT_OK);
    assert_int_equal(w.bottleneck, 8);
    assert_int_equal(bn_adapter_create(&s, "m0", &mapped, 32, 0, &seed, &w), ADAPT_ERR_FORMAT);
    assert_non_null(strstr(adapt_error(), "layer 0"));
    /* names twice are refused */
    assert_int_equal(bn_adapter_create(&s, "c", &cfg, 128, 0, &seed, &w), ADAPT_ERR_FORMAT);
    /* binding the library's alias of the input LayerNorm (adapter_down.0 with ln_before) */
    assert_int_equal(bn_config_parse_string("seq_bn[ln_before=true]", &cfg), ADAPT_OK);
    int64_t shp[2] = {16, 0};
    param *p;
    assert_int_equal(store_add(&s, "d.adapter_down.0.weight", 1, shp, &p), ADAPT_OK);
    assert_int_equal(store_add(&s, "d.adapter_down.0.bias", 1, shp, &p), ADAPT_OK);
    shp[0] = 1, shp[1] = 16;
    assert_int_equal(store_add(&s, "d.adapter_down.1.weight", 2, shp, &p), ADAPT_OK);
    assert_int_equal(store_add(&s, "d.adapter_down.1.bias", 1, shp, &p), ADAPT_OK);
    shp[0] = 16, shp[1] = 1;
    assert_int_equal(store_add(&s, "d.adapter_up.weight", 2, shp, &p), ADAPT_OK);
    assert_int_equal(store_add(&s, "d.adapter_up.bias", 1, shp, &p), ADAPT_OK);
    assert_int_equal(bn_adapter_bind(&s, "d", &cfg, 0, 16, &w), ADAPT_OK);
    assert_ptr_equal(w.norm_before_w, store_get(&s, "d.adapter_down.0.weight"));
    store_remove(&s, "d.adapter_up.bias");
    assert_int_equal(bn_adapter_bind(&s, "d", &cfg, 0, 16, &w), ADAPT_ERR_FORMAT);
    assert_non_null(strstr(adapt_error(), "d.adapter_up.bias"));
    store_free(&s);
}

/* ------------------------------------------------------------------ NICE */

typedef struct nice_case {
    bn_config cfg;
    int N, H;
    bool rev;
    param_store store;
    nice_weights w;
    float *x, *r, *out, *d_x;
    arena a;
} nice_case;

static void nice_case_init(nice_case *t, activation_kind act, int N, int H, double rf)
{
    memset(t, 0, sizeof *t);
    assert_int_equal(bn_config_parse_string("seq_bn_inv", &t->cfg), ADAPT_OK);
    t->cfg.non_linearity = act;
    t->cfg.inv_adapter_reduction_factor = rf;
    t->N = N, t->H = H;
    store_init(&t->store);
    arena_init(&t->a);
    uint64_t seed = 11;
    assert_int_equal(nice_create(&t->store, "roberta.invertible_adapters.qu", &t->cfg, H, &seed, &t->w), ADAPT_OK);
    for (size_t i = 0; i < t->store.count; i++) {
        fill(t->store.items[i]->data, t->store.items[i]->numel, -0.7, 0.7);
        make_trainable(t->store.items[i]);
    }
    size_t NH = (size_t)N * H;
    t->x = fvec(NH), t->r = fvec(NH), t->out = fvec(NH), t->d_x = fvec(NH);
    fill(t->x, NH, -1.5, 1.5);
    fill(t->r, NH, -1, 1);
}

static void nice_case_free(nice_case *t)
{
    free(t->x), free(t->r), free(t->out), free(t->d_x);
    store_free(&t->store);
    arena_free(&t->a);
}

static double nice_loss(void *ctx)
{
    nice_case *t = ctx;
    nice_cache c;
    arena_reset(&t->a);
    nice_forward(&t->a, &c, t->out, t->x, &t->w, t->rev, t->N);
    return dot(t->out, t->r, (size_t)t->N * t->H);
}

static double nice_grad_error(nice_case *t, bool verbose)
{
    store_zero_grads(&t->store);
    memset(t->d_x, 0, (size_t)t->N * t->H * sizeof(float));
    nice_cache c;
    arena_reset(&t->a);
    nice_forward(&t->a, &c, t->out, t->x, &t->w, t->rev, t->N);
    nice_backward(&t->a, t->d_x, t->r, &c, &t->w, t->N);
    fd_var vars[10];
    int nv = 0;
    vars[nv++] = (fd_var){"d_x", t->x, t->d_x, (size_t)t->N * t->H};
    for (size_t i = 0; i < t->store.count; i++)
        vars[nv++] = (fd_var){t->store.items[i]->name, t->store.items[i]->data, t->store.items[i]->grad, t->store.items[i]->numel};
    return fd_check(nice_loss, t, vars, nv, t->rev ? "nice inverse" : "nice forward", verbose);
}

static void test_nice_inverse_and_gradients(void **state)
{
    (void)state;
    int Hs[] = {8, 9};
    for (int ai = 0; ai < 6; ai++)
        for (int hi = 0; hi < 2; hi++) {
            nice_case t;
            nice_case_init(&t, ALL_ACTS[ai], 3, Hs[hi], 2);
            size_t NH = (size_t)t.N * t.H;
            /* inverse(forward(x)) == x, and forward(inverse(x)) == x */
            float *y = fvec(NH), *back = fvec(NH);
            nice_cache c;
            nice_forward(&t.a, &c, y, t.x, &t.w, false, t.N);
            double change = 0;
            for (size_t i = 0; i < NH; i++) change = fmax(change, fabs(y[i] - t.x[i]));
            assert_true(change > 1e-2); /* it does something */
            nice_forward(&t.a, &c, back, y, &t.w, true, t.N);
            for (size_t i = 0; i < NH; i++) assert_float_equal(back[i], t.x[i], 1e-5);
            nice_forward(&t.a, &c, y, t.x, &t.w, true, t.N);
            nice_forward(&t.a, &c, y, y, &t.w, false, t.N); /* in place */
            for (size_t i = 0; i < NH; i++) assert_float_equal(y[i], t.x[i], 1e-5);
            for (int rev = 0; rev < 2; rev++) {
                t.rev = rev;
                double e = nice_grad_error(&t, true);
                if (e >= FD_TOL) fail_msg("nice act %s H %d rev %d: gradient error %.3g", activation_name(ALL_ACTS[ai]), t.H, rev, e);
            }
            free(y), free(back);
            nice_case_free(&t);
        }
    /* shapes follow the fixture: H 32, rf 2 -> F.0 [8,16], F.2 [16,8] */
    nice_case t;
    nice_case_init(&t, ACT_RELU, 2, 32, 2);
    assert_int_equal(t.w.f0_w->shape[0], 8);
    assert_int_equal(t.w.f0_w->shape[1], 16);
    assert_int_equal(t.w.f2_w->shape[0], 16);
    assert_int_equal(t.w.f2_w->shape[1], 8);
    assert_string_equal(t.store.items[0]->name, "roberta.invertible_adapters.qu.F.0.weight");
    nice_weights b;
    assert_int_equal(nice_bind(&t.store, "roberta.invertible_adapters.qu", &t.cfg, 32, &b), ADAPT_OK);
    assert_ptr_equal(b.g2_b, t.w.g2_b);
    assert_int_equal(nice_bind(&t.store, "roberta.invertible_adapters.qu", &t.cfg, 34, &b), ADAPT_ERR_FORMAT);
    nice_case_free(&t);
}

static void test_nice_gradient_check_catches_errors(void **state)
{
    (void)state;
    nice_case t;
    nice_case_init(&t, ACT_TANH, 3, 8, 2);
    t.rev = true;
    assert_true(nice_grad_error(&t, false) < FD_TOL);
    /* backward with the other direction's cache is wrong */
    store_zero_grads(&t.store);
    memset(t.d_x, 0, 24 * sizeof(float));
    nice_cache c;
    arena_reset(&t.a);
    nice_forward(&t.a, &c, t.out, t.x, &t.w, true, t.N);
    c.rev = false;
    nice_backward(&t.a, t.d_x, t.r, &c, &t.w, t.N);
    fd_var v = {"d_x", t.x, t.d_x, 24};
    assert_true(fd_check(nice_loss, &t, &v, 1, "wrong", false) > FD_TOL);
    nice_case_free(&t);
}

/* Fixture c06: the embedding output of tiny-xlmr through the "qu" NICE adapter = hidden_states.0. */
static void load_into_store(param_store *s, const char *path)
{
    tensor_source src;
    assert_int_equal(tensor_source_open_file(path, &src), ADAPT_OK);
    for (size_t i = 0; i < src.files[0].count; i++) {
        const st_tensor *t = &src.files[0].tensors[i];
        param *p;
        assert_int_equal(store_add(s, t->name, t->ndim, t->shape, &p), ADAPT_OK);
        assert_int_equal(st_to_f32(&src.files[0], t, p->data), ADAPT_OK);
    }
    tensor_source_close(&src);
}

static void test_nice_matches_fixture_c06(void **state)
{
    (void)state;
    param_store s;
    store_init(&s);
    load_into_store(&s, shared_path("fixtures/models/tiny-xlmr/model.safetensors"));
    load_into_store(&s, shared_path("fixtures/cases/c06_madx_lang_adapter_mlm/adapter_qu/adapter.safetensors"));
    cJSON *root;
    assert_int_equal(json_load_file(shared_path("fixtures/cases/c06_madx_lang_adapter_mlm/adapter_qu/adapter_config.json"), &root),
                     ADAPT_OK);
    bn_config cfg;
    assert_int_equal(bn_config_from_json(cJSON_GetObjectItem(root, "config"), "c06", true, &cfg), ADAPT_OK);
    cJSON_Delete(root);
    nice_weights w;
    assert_int_equal(nice_bind(&s, "roberta.invertible_adapters.qu", &cfg, 32, &w), ADAPT_OK);

    tensor_source in, ex;
    assert_int_equal(tensor_source_open_file(shared_path("fixtures/cases/c06_madx_lang_adapter_mlm/inputs.safetensors"), &in), ADAPT_OK);
    assert_int_equal(tensor_source_open_file(shared_path("fixtures/cases/c06_madx_lang_adapter_mlm/expected.safetensors"), &ex), ADAPT_OK);
    const st_file *f;
    const st_tensor *ids_t = tensor_source_find(&in, "input_ids", &f);
    assert_non_null(ids_t);
    int N = (int)ids_t->numel, T = (int)ids_t->shape[1], H = 32, pad = 1;
    int64_t *ids64 = malloc(sizeof(int64_t) * N);
    assert_int_equal(st_to_i64(f, ids_t, ids64), ADAPT_OK);
    int32_t *ids = malloc(sizeof(int32_t) * N), *pos = malloc(sizeof(int32_t) * N), *typ = calloc(N, sizeof(int32_t));
    for (int i = 0; i < N; i++) ids[i] = (int32_t)ids64[i];
    for (int b = 0; b < N / T; b++) { /* XLM-R positions: cumsum(ids != pad) * (ids != pad) + pad */
        int run = 0;
        for (int t = 0; t < T; t++) {
            int k = b * T + t, m = ids[k] != pad;
            run += m;
            pos[k] = run * m + pad;
        }
    }
    float *e = fvec((size_t)N * H), *h = fvec((size_t)N * H), *y = fvec((size_t)N * H), *want = fvec((size_t)N * H);
    embeddings_forward(e, ids, pos, typ, store_get(&s, "roberta.embeddings.word_embeddings.weight")->data,
                       store_get(&s, "roberta.embeddings.position_embeddings.weight")->data,
                       store_get(&s, "roberta.embeddings.token_type_embeddings.weight")->data, N, H);
    layernorm_forward(h, NULL, NULL, e, store_get(&s, "roberta.embeddings.LayerNorm.weight")->data,
                      store_get(&s, "roberta.embeddings.LayerNorm.bias")->data, N, H, 1e-5);
    arena a;
    arena_init(&a);
    nice_cache c;
    nice_forward(&a, &c, y, h, &w, false, N);
    const st_tensor *hs0 = tensor_source_find(&ex, "hidden_states.0", &f);
    assert_non_null(hs0);
    assert_int_equal(hs0->numel, (size_t)N * H);
    assert_int_equal(st_to_f32(f, hs0, want), ADAPT_OK);
    double err = 0, ref = 0, moved = 0;
    for (int i = 0; i < N * H; i++) {
        err += (y[i] - want[i]) * (y[i] - want[i]);
        ref += want[i] * want[i];
        moved += (h[i] - want[i]) * (h[i] - want[i]);
    }
    assert_true(sqrt(err) <= 1e-5 * sqrt(ref) + 1e-6 * sqrt(N * H)); /* the fixture rule */
    assert_true(sqrt(moved) > 1e-3 * sqrt(ref));                      /* the adapter matters */
    arena_free(&a);
    free(ids64), free(ids), free(pos), free(typ), free(e), free(h), free(y), free(want);
    tensor_source_close(&in);
    tensor_source_close(&ex);
    store_free(&s);
}

/* ------------------------------------------------------------------ fusion */

enum { FN = 3, FH = 6, FA = 3 };

typedef struct fusion_case {
    fusion_config cfg, bwd_cfg;
    float T;
    param_store store;
    fusion_weights w;
    float *q, *ups[FA], *res, *r_ctx, *ctx, *probs, *d_q, *d_ups[FA], *d_res;
    arena a;
} fusion_case;

static void fusion_case_init(fusion_case *t, const fusion_config *cfg, float T)
{
    memset(t, 0, sizeof *t);
    t->cfg = t->bwd_cfg = *cfg;
    t->T = T;
    store_init(&t->store);
    arena_init(&t->a);
    uint64_t seed = 3;
    assert_int_equal(fusion_create(&t->store, "bert.encoder.layer.0.output.adapter_fusion_layer.a,b,c", cfg, FH, &seed, &t->w),
                     ADAPT_OK);
    for (size_t i = 0; i < t->store.count; i++) {
        fill(t->store.items[i]->data, t->store.items[i]->numel, -0.7, 0.7);
        make_trainable(t->store.items[i]);
    }
    size_t NH = FN * FH;
    t->q = fvec(NH), t->res = fvec(NH), t->r_ctx = fvec(NH), t->ctx = fvec(NH), t->probs = fvec(FN * FA);
    t->d_q = fvec(NH), t->d_res = fvec(NH);
    fill(t->q, NH, -1, 1);
    fill(t->res, NH, -1, 1);
    fill(t->r_ctx, NH, -1, 1);
    for (int m = 0; m < FA; m++) {
        t->ups[m] = fvec(NH), t->d_ups[m] = fvec(NH);
        fill(t->ups[m], NH, -1, 1);
    }
}

static void fusion_case_free(fusion_case *t)
{
    free(t->q), free(t->res), free(t->r_ctx), free(t->ctx), free(t->probs), free(t->d_q), free(t->d_res);
    for (int m = 0; m < FA; m++) free(t->ups[m]), free(t->d_ups[m]);
    store_free(&t->store);
    arena_free(&t->a);
}

static double fusion_loss(void *ctx)
{
    fusion_case *t = ctx;
    fusion_cache c;
    arena_reset(&t->a);
    fusion_forward(&t->a, &c, t->ctx, t->probs, t->q, (const float *const *)t->ups, FA, t->res, &t->w, &t->cfg, t->T, FN);
    return dot(t->ctx, t->r_ctx, FN * FH);
}

static double fusion_grad_error(fusion_case *t, const char *label, bool verbose)
{
    size_t NH = FN * FH;
    store_zero_grads(&t->store);
    memset(t->d_q, 0, NH * sizeof(float));
    memset(t->d_res, 0, NH * sizeof(float));
    for (int m = 0; m < FA; m++) memset(t->d_ups[m], 0, NH * sizeof(float));
    fusion_cache c;
    arena_reset(&t->a);
    fusion_forward(&t->a, &c, t->ctx, t->probs, t->q, (const float *const *)t->ups, FA, t->res, &t->w, &t->cfg, t->T, FN);
    fusion_backward(&t->a, t->d_q, t->d_ups, t->d_res, t->r_ctx, &c, &t->w, &t->bwd_cfg, FN);
    fd_var vars[16];
    int nv = 0;
    vars[nv++] = (fd_var){"d_query", t->q, t->d_q, NH};
    vars[nv++] = (fd_var){"d_residual", t->res, t->d_res, NH};
    for (int m = 0; m < FA; m++) vars[nv++] = (fd_var){"d_up", t->ups[m], t->d_ups[m], NH};
    for (size_t i = 0; i < t->store.count; i++)
        vars[nv++] = (fd_var){t->store.items[i]->name, t->store.items[i]->data, t->store.items[i]->grad, t->store.items[i]->numel};
    return fd_check(fusion_loss, t, vars, nv, label, verbose);
}

/* ref.py fusion_forward in double. */
static double fusion_forward_error(fusion_case *t)
{
    fusion_loss(t);
    const fusion_config *f = &t->cfg;
    double err = 0, ref = 0, perr = 0;
    for (int i = 0; i < FN; i++) {
        double V[FA][FH], K[FA][FH], Vv[FA][FH], q[FH], s[FA], ctx[FH] = {0}, mx = -1e300, sum = 0;
        for (int m = 0; m < FA; m++)
            for (int j = 0; j < FH; j++) V[m][j] = t->ups[m][i * FH + j] + (f->residual_before ? t->res[i * FH + j] : 0);
        for (int j = 0; j < FH; j++) {
            q[j] = f->query ? t->w.query_b->data[j] : t->q[i * FH + j];
            for (int k = 0; f->query && k < FH; k++) q[j] += (double)t->w.query_w->data[j * FH + k] * t->q[i * FH + k];
        }
        for (int m = 0; m < FA; m++)
            for (int j = 0; j < FH; j++) {
                K[m][j] = f->key ? t->w.key_b->data[j] : V[m][j];
                Vv[m][j] = (f->value && f->value_before_softmax) ? 0 : V[m][j];
                for (int k = 0; k < FH; k++) {
                    if (f->key) K[m][j] += (double)t->w.key_w->data[j * FH + k] * V[m][k];
                    if (f->value && f->value_before_softmax) Vv[m][j] += (double)t->w.value_w->data[j * FH + k] * V[m][k];
                }
            }
        for (int m = 0; m < FA; m++) {
            s[m] = 0;
            for (int j = 0; j < FH; j++) s[m] += q[j] * K[m][j];
            s[m] /= t->T;
            mx = fmax(mx, s[m]);
        }
        for (int m = 0; m < FA; m++) sum += (s[m] = exp(s[m] - mx));
        for (int m = 0; m < FA; m++) {
            s[m] /= sum;
            perr = fmax(perr, fabs(s[m] - t->probs[i * FA + m]));
            for (int j = 0; j < FH; j++) ctx[j] += s[m] * Vv[m][j];
        }
        for (int j = 0; j < FH; j++) {
            double o = ctx[j];
            if (f->value && !f->value_before_softmax) {
                o = 0;
                for (int k = 0; k < FH; k++) o += (double)t->w.value_w->data[j * FH + k] * ctx[k];
            }
            if (!f->residual_before) o += t->res[i * FH + j];
            err += (o - t->ctx[i * FH + j]) * (o - t->ctx[i * FH + j]);
            ref += o * o;
        }
    }
    return fmax(sqrt(err / ref), perr);
}

static void test_fusion_gradients(void **state)
{
    (void)state;
    int checked = 0;
    for (int base = 0; base < 2; base++)
        for (int combo = 0; combo < 16; combo++) {
            fusion_config cfg;
            assert_int_equal(fusion_config_parse_string(base ? "static" : "dynamic", &cfg), ADAPT_OK);
            cfg.residual_before = combo & 1;
            cfg.value_before_softmax = (combo >> 1) & 1;
            bool hot = (combo >> 2) & 1;
            cfg.temperature = hot;
            if (combo >> 3) cfg.query = cfg.key = false; /* bare dot products */
            fusion_case t;
            fusion_case_init(&t, &cfg, hot ? 3.7f : 1.0f);
            char label[96];
            snprintf(label, sizeof label, "fusion %s combo %d", base ? "static" : "dynamic", combo);
            double fe = fusion_forward_error(&t);
            if (fe > 1e-5) fail_msg("%s: forward error %.3g", label, fe);
            double ge = fusion_grad_error(&t, label, true);
            if (ge >= FD_TOL) fail_msg("%s: gradient error %.3g", label, ge);
            /* probabilities are a distribution per row */
            for (int i = 0; i < FN; i++) assert_float_equal(t.probs[i * FA] + t.probs[i * FA + 1] + t.probs[i * FA + 2], 1.0, 1e-5);
            fusion_case_free(&t);
            checked++;
        }
    assert_int_equal(checked, 32);
    fprintf(stderr, "  32 fusion configurations, worst gradient error so far %.2g\n", worst_seen);
}

static void test_fusion_checks_catch_errors_and_regularizer(void **state)
{
    (void)state;
    fusion_config cfg;
    assert_int_equal(fusion_config_parse_string("dynamic", &cfg), ADAPT_OK);
    fusion_case t;
    fusion_case_init(&t, &cfg, 2.0f);
    assert_true(fusion_grad_error(&t, "ok", false) < FD_TOL);
    t.bwd_cfg.residual_before = true;
    assert_true(fusion_grad_error(&t, "wrong residual", false) > FD_TOL);
    t.bwd_cfg = cfg;
    t.bwd_cfg.value_before_softmax = false;
    assert_true(fusion_grad_error(&t, "wrong value", false) > FD_TOL);
    /* the temperature is used: T = 1 and T = 2 give different outputs */
    t.T = 1.0f;
    fusion_loss(&t);
    float *saved = fvec(FN * FH);
    memcpy(saved, t.ctx, FN * FH * sizeof(float));
    t.T = 2.0f;
    fusion_loss(&t);
    double e = 0;
    for (int i = 0; i < FN * FH; i++) e = fmax(e, fabs(saved[i] - t.ctx[i]));
    assert_true(e > 1e-3);
    free(saved);

    /* regulariser: value and gradient against central differences */
    param *V = t.w.value_w;
    memset(V->grad, 0, V->numel * sizeof(float));
    double r = fusion_regularization(&t.w, 1.0f);
    double want = 0;
    for (int i = 0; i < FH; i++)
        for (int j = 0; j < FH; j++) want += pow(V->data[i * FH + j] - (i == j), 2);
    assert_float_equal(r, 0.01 * want, 1e-9);
    for (size_t k = 0; k < V->numel; k++) {
        float keep = V->data[k];
        V->data[k] = keep + 1e-2f;
        double hi = fusion_regularization(&t.w, 0.0f), hx = V->data[k];
        V->data[k] = keep - 1e-2f;
        double lo = fusion_regularization(&t.w, 0.0f), lx = V->data[k];
        V->data[k] = keep;
        assert_float_equal(V->grad[k], (hi - lo) / (hx - lx), 1e-5);
    }
    fusion_case_free(&t);
    /* static fusion has no value matrix: no regulariser */
    assert_int_equal(fusion_config_parse_string("static", &cfg), ADAPT_OK);
    fusion_case_init(&t, &cfg, 1.0f);
    assert_null(t.w.value_w);
    assert_true(fusion_regularization(&t.w, 1.0f) == 0.0);
    fusion_case_free(&t);
}

static void test_fusion_create_bind_temperature(void **state)
{
    (void)state;
    fusion_config cfg;
    assert_int_equal(fusion_config_parse_string("dynamic", &cfg), ADAPT_OK);
    param_store s;
    store_init(&s);
    fusion_weights w, b;
    uint64_t seed = 1;
    const char *pre = "bert.encoder.layer.1.output.adapter_fusion_layer.a,b,c";
    assert_int_equal(fusion_create(&s, pre, &cfg, 32, &seed, &w), ADAPT_OK);
    const char *names[] = {".query.weight", ".query.bias", ".key.weight", ".key.bias", ".value.weight"};
    assert_int_equal(s.count, 5);
    for (int i = 0; i < 5; i++) {
        char full[256];
        snprintf(full, sizeof full, "%s%s", pre, names[i]);
        assert_non_null(store_get(&s, full));
    }
    for (int i = 0; i < 32; i++)
        for (int j = 0; j < 32; j++) assert_float_equal(w.value_w->data[i * 32 + j], i == j ? 1.0 : 1e-6, 1e-12);
    assert_float_equal(fusion_regularization(&w, 0), 0.01 * 32 * 31 * 1e-12, 1e-15);
    assert_int_equal(fusion_bind(&s, pre, &cfg, 32, &b), ADAPT_OK);
    assert_ptr_equal(b.key_b, w.key_b);
    assert_int_equal(fusion_bind(&s, pre, &cfg, 16, &b), ADAPT_ERR_FORMAT);
    store_free(&s);
    assert_float_equal(fusion_initial_temperature(&cfg), 1.0, 0);
    cfg.temperature = true;
    double T = fusion_initial_temperature(&cfg);
    assert_float_equal(T, 50.0, 0);
    T = fusion_next_temperature(&cfg, T);
    assert_float_equal(T, 49.95, 1e-12);
    for (int i = 0; i < 2000; i++) T = fusion_next_temperature(&cfg, T);
    assert_float_equal(T, 1.0, 0);
}

/* Fixture c08: fusion_reg = 0.01 * sum over layers ||I - W_v||^2 from the saved fusion weights. */
static void test_fusion_regularizer_matches_fixture_c08(void **state)
{
    (void)state;
    param_store s;
    store_init(&s);
    load_into_store(&s, shared_path("fixtures/cases/c08_fusion/fusion/model_adapter_fusion.safetensors"));
    cJSON *root;
    assert_int_equal(json_load_file(shared_path("fixtures/cases/c08_fusion/fusion/adapter_fusion_config.json"), &root), ADAPT_OK);
    fusion_config cfg;
    assert_int_equal(fusion_config_from_json(cJSON_GetObjectItem(root, "config"), "c08", &cfg), ADAPT_OK);
    cJSON_Delete(root);
    double total = 0;
    for (int layer = 0; layer < 2; layer++) {
        char pre[128];
        snprintf(pre, sizeof pre, "bert.encoder.layer.%d.output.adapter_fusion_layer.a,b,c", layer);
        fusion_weights w;
        assert_int_equal(fusion_bind(&s, pre, &cfg, 32, &w), ADAPT_OK);
        total += fusion_regularization(&w, 0);
    }
    tensor_source ex;
    assert_int_equal(tensor_source_open_file(shared_path("fixtures/cases/c08_fusion/expected.safetensors"), &ex), ADAPT_OK);
    const st_file *f;
    const st_tensor *t = tensor_source_find(&ex, "fusion_reg", &f);
    assert_non_null(t);
    float want;
    assert_int_equal(st_to_f32(f, t, &want), ADAPT_OK);
    assert_true(want > 0);
    assert_float_equal(total, want, 1e-5 * want + 1e-6);
    tensor_source_close(&ex);
    store_free(&s);
}

/* ------------------------------------------------------------------ configs */

static const char *ADAPTER_FILES[] = {
    "c03_seq_bn_tagging/adapter_ner",        "c04_double_seq_bn_classification/adapter_cls",
    "c05_par_bn_tagging/adapter_par",        "c06_madx_lang_adapter_mlm/adapter_qu",
    "c07_madx_stack_tagging/adapter_ner",    "c07_madx_stack_tagging/adapter_qu",
    "c08_fusion/adapter_a",                  "c08_fusion/adapter_b",
    "c08_fusion/adapter_c",                  "c11_adamw_steps/adapter_opt",
    "c12_batch_split/adapter_x",             "c12_batch_split/adapter_y",
};

static cJSON *load_adapter_config(const char *dir)
{
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/cases/%s/adapter_config.json", dir);
    cJSON *root;
    assert_int_equal(json_load_file(shared_path(rel), &root), ADAPT_OK);
    return root;
}

/* Text -> JSON again, so raw float items compare as numbers. */
static cJSON *reparse(const cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    cJSON *back = cJSON_Parse(text);
    free(text);
    assert_non_null(back);
    return back;
}

static void test_config_fixture_files_round_trip(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof ADAPTER_FILES / sizeof ADAPTER_FILES[0]; k++) {
        cJSON *root = load_adapter_config(ADAPTER_FILES[k]);
        const cJSON *file_cfg = cJSON_GetObjectItem(root, "config");
        bn_config cfg;
        assert_int_equal(bn_config_from_json(file_cfg, ADAPTER_FILES[k], cJSON_HasObjectItem(root, "version"), &cfg), ADAPT_OK);
        cJSON *out = bn_config_to_json(&cfg);
        cJSON *back = reparse(out);
        /* every key, the same values, the same order */
        assert_int_equal(cJSON_GetArraySize(back), cJSON_GetArraySize(file_cfg));
        const cJSON *a = file_cfg->child, *b = back->child;
        for (; a && b; a = a->next, b = b->next) {
            assert_string_equal(a->string, b->string);
            if (!cJSON_Compare(a, b, true)) fail_msg("%s: key %s differs", ADAPTER_FILES[k], a->string);
        }
        /* floats stay floats for Python: "scaling": 1.0, "dropout": 0.0 */
        char *text = cJSON_PrintUnformatted(out);
        assert_non_null(strstr(text, "\"scaling\":"));
        assert_non_null(strstr(text, cfg.scaling == 4.0 ? "\"scaling\":4.0" : "\"scaling\":1.0"));
        assert_non_null(strstr(text, "\"dropout\":0.0"));
        assert_non_null(strstr(text, "\"phm_init_range\":0.0001"));
        free(text);
        cJSON_Delete(back);
        cJSON_Delete(out);
        cJSON_Delete(root);
    }
    /* spot checks of the parsed semantics */
    bn_config c;
    cJSON *root = load_adapter_config("c04_double_seq_bn_classification/adapter_cls");
    assert_int_equal(bn_config_from_json(cJSON_GetObjectItem(root, "config"), "c04", true, &c), ADAPT_OK);
    assert_true(c.mh_adapter && c.output_adapter && !c.original_ln_before && c.non_linearity == ACT_SILU);
    assert_int_equal(bn_bottleneck_dim(&c, 0, 32), 8);
    cJSON_Delete(root);
    root = load_adapter_config("c05_par_bn_tagging/adapter_par");
    assert_int_equal(bn_config_from_json(cJSON_GetObjectItem(root, "config"), "c05", true, &c), ADAPT_OK);
    assert_true(c.is_parallel && c.init_weights == BN_INIT_MAM && c.scaling_kind == BN_SCALING_FIXED && c.scaling == 4.0);
    assert_int_equal(bn_bottleneck_dim(&c, 1, 32), 16);
    cJSON_Delete(root);
    root = load_adapter_config("c06_madx_lang_adapter_mlm/adapter_qu");
    assert_int_equal(bn_config_from_json(cJSON_GetObjectItem(root, "config"), "c06", true, &c), ADAPT_OK);
    assert_true(c.inv_adapter == BN_INV_NICE && c.inv_adapter_reduction_factor == 2);
    assert_int_equal(bn_inv_dim(&c, 16), 8);
    cJSON_Delete(root);
}

static void test_config_named_strings(void **state)
{
    (void)state;
    bn_config c, d;
    assert_int_equal(bn_config_parse_string("seq_bn", &c), ADAPT_OK);
    assert_true(!c.mh_adapter && c.output_adapter && c.original_ln_before && c.original_ln_after);
    assert_true(c.residual_before_ln == BN_RESIDUAL_BEFORE_LN && c.non_linearity == ACT_RELU && c.reduction_factor == 16);
    assert_true(c.scaling_kind == BN_SCALING_FIXED && c.scaling == 1.0 && c.init_weights == BN_INIT_BERT && !c.is_parallel);
    assert_int_equal(bn_config_parse_string("pfeiffer", &d), ADAPT_OK);
    assert_memory_equal(&c, &d, sizeof c);
    assert_int_equal(bn_config_parse_string("double_seq_bn", &c), ADAPT_OK);
    assert_true(c.mh_adapter && c.output_adapter && !c.original_ln_before && c.non_linearity == ACT_SILU);
    assert_string_equal(c.non_linearity_name, "swish");
    assert_int_equal(bn_config_parse_string("houlsby", &d), ADAPT_OK);
    assert_memory_equal(&c, &d, sizeof c);
    assert_int_equal(bn_config_parse_string("par_bn", &c), ADAPT_OK);
    assert_true(c.is_parallel && c.scaling == 4.0 && c.reduction_factor == 2 && c.init_weights == BN_INIT_MAM &&
                !c.original_ln_before && !c.mh_adapter);
    assert_int_equal(bn_config_parse_string("parallel", &d), ADAPT_OK);
    assert_memory_equal(&c, &d, sizeof c);
    assert_int_equal(bn_config_parse_string("scaled_par_bn", &c), ADAPT_OK);
    assert_true(c.is_parallel && c.scaling_kind == BN_SCALING_LEARNED);
    assert_int_equal(bn_config_parse_string("seq_bn_inv", &c), ADAPT_OK);
    assert_true(c.inv_adapter == BN_INV_NICE && c.inv_adapter_reduction_factor == 2 && c.original_ln_before);
    assert_int_equal(bn_config_parse_string("pfeiffer+inv", &d), ADAPT_OK);
    assert_memory_equal(&c, &d, sizeof c);
    assert_int_equal(bn_config_parse_string("houlsby+inv", &c), ADAPT_OK);
    assert_true(c.inv_adapter == BN_INV_NICE && c.mh_adapter && c.non_linearity == ACT_SILU);
    assert_int_equal(bn_config_parse_string("double_seq_bn_inv", &d), ADAPT_OK);
    assert_memory_equal(&c, &d, sizeof c);

    /* overrides */
    assert_int_equal(bn_config_parse_string("seq_bn[reduction_factor=8,non_linearity=gelu]", &c), ADAPT_OK);
    assert_true(c.reduction_factor == 8 && c.non_linearity == ACT_GELU && c.original_ln_before);
    assert_int_equal(bn_bottleneck_dim(&c, 0, 768), 96);
    assert_int_equal(bn_config_parse_string(" double_seq_bn [ reduction_factor = {'0': 8, \"default\": 16}, leave_out=[11, 10],"
                                            " scaling='channel', residual_before_ln=post_add, ln_before=True, dropout=0.1,"
                                            " non_linearity=\"tanh\", inv_adapter=None ]",
                                            &c),
                     ADAPT_OK);
    assert_true(c.rf_is_map && c.reduction_factor == 16 && c.n_rf_layers == 1);
    assert_int_equal(bn_bottleneck_dim(&c, 0, 32), 4);
    assert_int_equal(bn_bottleneck_dim(&c, 1, 32), 2);
    assert_true(c.scaling_kind == BN_SCALING_CHANNEL && c.residual_before_ln == BN_RESIDUAL_POST_ADD && c.ln_before);
    assert_true(c.dropout == 0.1 && c.non_linearity == ACT_TANH && c.n_leave_out == 2);
    assert_false(bn_config_has_location(&c, 11, false));
    assert_false(bn_config_has_location(&c, 10, true));
    assert_true(bn_config_has_location(&c, 9, true));
    assert_true(bn_config_has_location(&c, 9, false));
    /* the map and the rest survive a round trip through JSON */
    cJSON *o = bn_config_to_json(&c), *back = reparse(o);
    assert_int_equal(bn_config_from_json(back, "round trip", true, &d), ADAPT_OK);
    assert_memory_equal(&c, &d, sizeof c);
    cJSON_Delete(o);
    cJSON_Delete(back);
    assert_int_equal(bn_config_parse_string("seq_bn[scaling=2.5,is_parallel=true,leakyrelu_unused=1]", &c), ADAPT_OK);
    assert_true(c.scaling == 2.5 && c.is_parallel);
    assert_int_equal(bn_config_parse_string("seq_bn[non_linearity=leakyrelu,reduction_factor=0.5]", &c), ADAPT_OK);
    assert_int_equal(c.non_linearity, ACT_LEAKY_RELU);
    assert_int_equal(bn_bottleneck_dim(&c, 0, 32), 64);

    /* rejections, with messages */
    assert_int_equal(bn_config_parse_string("nonsense", &c), ADAPT_ERR_ARG);
    assert_non_null(strstr(adapt_error(), "nonsense"));
    assert_int_equal(bn_config_parse_string("seq_bn[reduction_factor=-1]", &c), ADAPT_ERR_FORMAT);
    assert_non_null(strstr(adapt_error(), "reduction_factor"));
    assert_int_equal(bn_config_parse_string("seq_bn[non_linearity=sigmoidish]", &c), ADAPT_ERR_FORMAT);
    assert_non_null(strstr(adapt_error(), "sigmoidish"));
    assert_int_equal(bn_config_parse_string("seq_bn[scaling=big]", &c), ADAPT_ERR_FORMAT);
    assert_int_equal(bn_config_parse_string("seq_bn[residual_before_ln=sometimes]", &c), ADAPT_ERR_FORMAT);
    assert_int_equal(bn_config_parse_string("seq_bn[ln_before=1]", &c), ADAPT_ERR_FORMAT);
    assert_int_equal(bn_config_parse_string("seq_bn[reduction_factor=8", &c), ADAPT_ERR_ARG);
    assert_int_equal(bn_config_parse_string("seq_bn[=8]", &c), ADAPT_ERR_ARG);
    assert_int_equal(bn_config_parse_string("seq_bn|par_bn", &c), ADAPT_ERR_UNSUPPORTED);
    assert_int_equal(bn_config_parse_string("seq_bn[phm_layer=true]", &c), ADAPT_ERR_UNSUPPORTED);
    assert_int_equal(bn_config_parse_string("seq_bn[use_gating=true]", &c), ADAPT_ERR_UNSUPPORTED);
    assert_int_equal(bn_config_parse_string("seq_bn[inv_adapter=glow]", &c), ADAPT_ERR_UNSUPPORTED);
    assert_int_equal(bn_config_parse_string("seq_bn[inv_adapter=nice,inv_adapter_reduction_factor=None]", &c), ADAPT_ERR_FORMAT);
    assert_int_equal(bn_config_parse_string("seq_bn[leave_out=[1,2.5]]", &c), ADAPT_ERR_FORMAT);
    /* a negative index names no layer: inert, as `adapters` reads it (`layer in leave_out`) */
    assert_int_equal(bn_config_parse_string("seq_bn[leave_out=[1,-2]]", &c), ADAPT_OK);
    assert_true(c.n_leave_out == 2 && !bn_config_has_location(&c, 1, false) && bn_config_has_location(&c, 0, false));
    assert_int_equal(bn_config_parse_string("seq_bn[reduction_factor={'x': 2}]", &c), ADAPT_ERR_FORMAT);
}

static void test_config_versions_and_required_keys(void **state)
{
    (void)state;
    bn_config c;
    cJSON *o = cJSON_Parse("{\"mh_adapter\": false, \"output_adapter\": true, \"reduction_factor\": 16, \"non_linearity\": \"gelu\"}");
    /* pre-version files meant the tanh GELU by "gelu" */
    assert_int_equal(bn_config_from_json(o, "old", false, &c), ADAPT_OK);
    assert_int_equal(c.non_linearity, ACT_GELU_NEW);
    assert_string_equal(c.non_linearity_name, "gelu_new");
    assert_int_equal(bn_config_from_json(o, "new", true, &c), ADAPT_OK);
    assert_int_equal(c.non_linearity, ACT_GELU);
    cJSON_ReplaceItemInObject(o, "non_linearity", cJSON_CreateString("gelu_orig"));
    assert_int_equal(bn_config_from_json(o, "old", false, &c), ADAPT_OK);
    assert_int_equal(c.non_linearity, ACT_GELU);
    cJSON_ReplaceItemInObject(o, "non_linearity", cJSON_CreateString("ReLU"));
    assert_int_equal(bn_config_from_json(o, "case", true, &c), ADAPT_OK); /* the library lowercases */
    assert_int_equal(c.non_linearity, ACT_RELU);
    /* BnConfig defaults for keys left out */
    assert_true(!c.original_ln_before && c.original_ln_after && c.residual_before_ln == BN_RESIDUAL_BEFORE_LN);
    /* v1 nesting of the invertible adapter */
    cJSON_AddItemToObject(o, "invertible_adapter", cJSON_Parse("{\"block_type\": \"nice\", \"reduction_factor\": 4}"));
    assert_int_equal(bn_config_from_json(o, "v1", true, &c), ADAPT_OK);
    assert_true(c.inv_adapter == BN_INV_NICE && c.inv_adapter_reduction_factor == 4);
    cJSON_DeleteItemFromObject(o, "mh_adapter");
    assert_int_equal(bn_config_from_json(o, "file.json", true, &c), ADAPT_ERR_FORMAT);
    assert_non_null(strstr(adapt_error(), "file.json"));
    assert_non_null(strstr(adapt_error(), "mh_adapter"));
    cJSON_Delete(o);
    o = cJSON_Parse("{\"architecture\": \"lora\", \"r\": 8}");
    assert_int_equal(bn_config_from_json(o, "lora.json", true, &c), ADAPT_ERR_UNSUPPORTED);
    cJSON_Delete(o);
    /* Python float floor division */
    assert_float_equal(py_floordiv(32, 0.1), 319.0, 0);
    assert_float_equal(py_floordiv(768, 16), 48.0, 0);
    assert_float_equal(py_floordiv(10, 3), 3.0, 0);
    c.rf_is_map = false;
    c.reduction_factor = 64;
    assert_int_equal(bn_bottleneck_dim(&c, 0, 32), 1); /* at least one unit */
}

static void test_fusion_config_files_and_strings(void **state)
{
    (void)state;
    cJSON *root;
    assert_int_equal(json_load_file(shared_path("fixtures/cases/c08_fusion/fusion/adapter_fusion_config.json"), &root), ADAPT_OK);
    const cJSON *file_cfg = cJSON_GetObjectItem(root, "config");
    fusion_config f, g;
    assert_int_equal(fusion_config_from_json(file_cfg, "c08", &f), ADAPT_OK);
    assert_int_equal(fusion_config_parse_string("dynamic", &g), ADAPT_OK);
    assert_memory_equal(&f, &g, sizeof f);
    cJSON *out = fusion_config_to_json(&f), *back = reparse(out);
    assert_int_equal(cJSON_GetArraySize(back), cJSON_GetArraySize(file_cfg));
    for (const cJSON *a = file_cfg->child, *b = back->child; a; a = a->next, b = b->next) {
        assert_string_equal(a->string, b->string);
        assert_true(cJSON_Compare(a, b, true));
    }
    cJSON_Delete(out);
    cJSON_Delete(back);
    cJSON_Delete(root);
    assert_int_equal(fusion_config_parse_string("static", &f), ADAPT_OK);
    assert_true(f.key && f.query && !f.value && !f.regularization && !f.value_initialized && f.value_before_softmax);
    assert_int_equal(fusion_config_parse_string("dynamic[temperature=True,residual_before=true,dropout_prob=0.2]", &f), ADAPT_OK);
    assert_true(f.temperature && f.residual_before && f.has_dropout_prob && f.dropout_prob == 0.2 && f.value);
    out = fusion_config_to_json(&f);
    char *text = cJSON_PrintUnformatted(out);
    assert_non_null(strstr(text, "\"dropout_prob\":0.2"));
    free(text);
    cJSON_Delete(out);
    assert_int_equal(fusion_config_parse_string("dynamic[temperature=maybe]", &f), ADAPT_ERR_FORMAT);
    assert_int_equal(fusion_config_parse_string("fancy", &f), ADAPT_ERR_ARG);
    cJSON *o = cJSON_Parse("{\"key\": true}");
    assert_int_equal(fusion_config_from_json(o, "partial.json", &f), ADAPT_ERR_FORMAT);
    assert_non_null(strstr(adapt_error(), "query"));
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bn_gradients_all_configs),
        cmocka_unit_test(test_bn_gradients_residual_modes_and_init),
        cmocka_unit_test(test_bn_gradient_check_catches_wrong_backward),
        cmocka_unit_test(test_bn_fusion_paths_and_frozen),
        cmocka_unit_test(test_bn_dropout_mask),
        cmocka_unit_test(test_bn_create_names_init_and_bind),
        cmocka_unit_test(test_nice_inverse_and_gradients),
        cmocka_unit_test(test_nice_gradient_check_catches_errors),
        cmocka_unit_test(test_nice_matches_fixture_c06),
        cmocka_unit_test(test_fusion_gradients),
        cmocka_unit_test(test_fusion_checks_catch_errors_and_regularizer),
        cmocka_unit_test(test_fusion_create_bind_temperature),
        cmocka_unit_test(test_fusion_regularizer_matches_fixture_c08),
        cmocka_unit_test(test_config_fixture_files_round_trip),
        cmocka_unit_test(test_config_named_strings),
        cmocka_unit_test(test_config_versions_and_required_keys),
        cmocka_unit_test(test_fusion_config_files_and_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
