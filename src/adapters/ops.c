#include "adapters/ops.h"
#include "adapters/ln_copies.h"
#include "core/error.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ names */
/* Where tensor `t` names adapter `name` (".adapters.<name>.", "invertible_adapters.<name>." or a
 * prefix tuning's ".prefix_tunings.<name>."), the offset of <name> in t; -1 when it is not one of
 * that adapter's tensors. */
static long adapter_name_offset(const char *t, const char *name)
{
    static const char *const segs[] = {".adapters.", "invertible_adapters.", ".prefix_tunings."};
    size_t n = strlen(name);
    for (int k = 0; k < 3; k++) {
        const char *p = strstr(t, segs[k]);
        if (!p) continue;
        p += strlen(segs[k]);
        if (!strncmp(p, name, n) && p[n] == '.') return (long)(p - t);
    }
    return -1;
}

/* t with adapter name `from` (at offset off) replaced by `to`; false when it does not fit. */
static bool swap_name(const char *t, long off, size_t from_len, const char *to, char *out, size_t size)
{
    int w = snprintf(out, size, "%.*s%s%s", (int)off, t, to, t + off + (long)from_len);
    return w > 0 && (size_t)w < size;
}

size_t adapter_param_count(const adapt_model *m, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < m->store.count; i++)
        if (adapter_name_offset(m->store.items[i]->name, name) >= 0) n += m->store.items[i]->numel;
    return n;
}

size_t model_base_param_count(const adapt_model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->base_tensor_count && i < m->store.count; i++) n += m->store.items[i]->numel;
    return n;
}

/* ------------------------------------------------------------------ summaries */
static void append(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

void prefix_config_summary(const prefix_config *c, char *buf, size_t size)
{
    buf[0] = 0;
    if (c->flat) append(buf, size, "prefix_tuning_flat, prefix_length %d", c->prefix_length);
    else append(buf, size, "prefix_tuning, prefix_length %d, bottleneck %d, %s", c->prefix_length, c->bottleneck_size,
                c->non_linearity_name);
    if (c->dropout > 0) append(buf, size, ", dropout %g", c->dropout);
}

void adapter_config_summary(const bn_config *c, int hidden, char *buf, size_t size)
{
    buf[0] = 0;
    const char *family = c->is_parallel ? (c->scaling_kind == BN_SCALING_LEARNED ? "scaled_par_bn" : "par_bn")
                         : c->mh_adapter && c->output_adapter ? "double_seq_bn"
                         : c->output_adapter                  ? "seq_bn"
                         : c->mh_adapter                      ? "bn (attention only)"
                                                              : "bn (no location)";
    append(buf, size, "%s%s", family, c->inv_adapter == BN_INV_NICE ? "+inv" : "");
    if (c->rf_is_map) append(buf, size, ", per-layer reduction factors (default %g)", c->reduction_factor);
    else append(buf, size, ", reduction_factor %g (bottleneck %d)", c->reduction_factor, bn_bottleneck_dim(c, 0, hidden));
    append(buf, size, ", %s", c->non_linearity_name[0] ? c->non_linearity_name : activation_name(c->non_linearity));
    if (c->scaling_kind == BN_SCALING_CHANNEL) append(buf, size, ", scaling channel");
    else if (c->scaling_kind == BN_SCALING_LEARNED) append(buf, size, ", scaling learned");
    else if (c->scaling != 1.0) append(buf, size, ", scaling %g", c->scaling);
    if (c->ln_before || c->ln_after) append(buf, size, ", ln_before %s ln_after %s", c->ln_before ? "on" : "off", c->ln_after ? "on" : "off");
}

/* "0-3, 5, 7-11" for the layers where has[l]. */
static void layer_ranges(const bool *has, int L, char *buf, size_t size)
{
    buf[0] = 0;
    for (int l = 0; l < L;) {
        if (!has[l]) {
            l++;
            continue;
        }
        int e = l;
        while (e + 1 < L && has[e + 1]) e++;
        if (e > l) append(buf, size, "%s%d-%d", buf[0] ? ", " : "", l, e);
        else append(buf, size, "%s%d", buf[0] ? ", " : "", l);
        l = e + 1;
    }
}

void adapter_locations_summary(const adapt_model *m, const adapter_def *a, char *buf, size_t size)
{
    buf[0] = 0;
    char r[512];
    const bool *sets[2] = {a->has_attn, a->has_out};
    const char *names[2] = {"attention.output", "output"};
    for (int k = 0; k < 2; k++) {
        layer_ranges(sets[k], m->cfg.layers, r, sizeof r);
        if (r[0]) append(buf, size, "%s%s: layers %s", buf[0] ? "; " : "", names[k], r);
    }
    if (a->has_inv) append(buf, size, "%sinvertible_adapters (embeddings)", buf[0] ? "; " : "");
    if (a->has_prefix) {
        bool *with = calloc((size_t)m->cfg.layers + 1, sizeof *with);
        for (int l = 0; with && l < m->cfg.layers; l++) with[l] = a->prefix_w.slot[l] >= 0;
        if (with) layer_ranges(with, m->cfg.layers, r, sizeof r);
        if (with) append(buf, size, "%sattention.self (%d prefix keys and values): layers %s", buf[0] ? "; " : "",
                         a->prefix.prefix_length, r);
        free(with);
    }
    if (!buf[0]) append(buf, size, "none");
}

/* ------------------------------------------------------------------ averaging */
/* w / sum(w) into out; refuses non-finite weights and a zero sum. */
static adapt_status normalise(const double *w, int n, double *out)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double v = w ? w[i] : 1.0;
        if (!isfinite(v)) return adapt_fail(ADAPT_ERR_ARG, "average: weight %d is not a finite number", i + 1);
        sum += v;
    }
    if (!(fabs(sum) > 1e-12)) return adapt_fail(ADAPT_ERR_ARG, "average: the weights sum to 0 and cannot be normalised");
    for (int i = 0; i < n; i++) out[i] = (w ? w[i] : 1.0) / sum;
    return ADAPT_OK;
}

static cJSON *config_json(const adapter_def *a)
{
    adapter_spec spec;
    setup_adapter_spec(a, &spec);
    return adapter_spec_to_json(&spec);
}

static adapt_status same_config(const adapter_def *a, const adapter_def *b)
{
    cJSON *ja = config_json(a), *jb = config_json(b);
    bool same = ja && jb && cJSON_Compare(ja, jb, true);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    if (!ja || !jb) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!same) return adapt_fail(ADAPT_ERR_ARG, "average: adapters \"%s\" and \"%s\" have different configs", a->name, b->name);
    return ADAPT_OK;
}

/* dst = sum_i w[i] * src[i] over numel floats, accumulated in double (order-independent enough
 * that averaging [a, b] and [b, a] agree to the last bit in practice). */
static void weighted_sum(float *dst, const float *const *src, const double *w, int n, size_t numel)
{
    for (size_t k = 0; k < numel; k++) {
        double acc = 0;
        for (int i = 0; i < n; i++) acc += w[i] * (double)src[i][k];
        dst[k] = (float)acc;
    }
}

static adapt_status average_into(adapt_model *m, const char *name, const char *const *sources, const double *w, int n)
{
    const float *src[FUSION_MAX_ADAPTERS];
    size_t name_len = strlen(name);
    for (size_t i = 0; i < m->store.count; i++) {
        param *dst = m->store.items[i];
        long off = adapter_name_offset(dst->name, name);
        if (off < 0) continue;
        for (int s = 0; s < n; s++) {
            char sname[1024];
            if (!swap_name(dst->name, off, name_len, sources[s], sname, sizeof sname))
                return adapt_fail(ADAPT_ERR_ARG, "average: tensor name too long: %s", dst->name);
            const param *p = store_get(&m->store, sname);
            if (!p || p->numel != dst->numel)
                return adapt_fail(ADAPT_ERR_FORMAT, "average: adapter \"%s\" has no tensor %s of %zu values", sources[s], sname, dst->numel);
            src[s] = p->data;
        }
        weighted_sum(dst->data, src, w, n, dst->numel);
    }
    return ADAPT_OK;
}

adapt_status adapters_average(adapt_model *m, const char *name, const char *const *sources, const double *weights, int n)
{
    if (n < 1 || n > FUSION_MAX_ADAPTERS) return adapt_fail(ADAPT_ERR_ARG, "average: 1 to %d adapters", FUSION_MAX_ADAPTERS);
    double w[FUSION_MAX_ADAPTERS];
    TRY(normalise(weights, n, w));
    const adapter_def *first = setup_find_adapter(m->setup, sources[0]);
    if (!first) return adapt_fail(ADAPT_ERR_ARG, "average: no adapter named \"%s\"", sources[0]);
    for (int i = 1; i < n; i++) {
        const adapter_def *a = setup_find_adapter(m->setup, sources[i]);
        if (!a) return adapt_fail(ADAPT_ERR_ARG, "average: no adapter named \"%s\"", sources[i]);
        TRY(same_config(first, a));
        if (a->has_ln_copies != first->has_ln_copies)
            return adapt_fail(ADAPT_ERR_ARG, "average: adapter \"%s\" has its own LayerNorms and \"%s\" does not",
                              a->has_ln_copies ? a->name : first->name, a->has_ln_copies ? first->name : a->name);
    }
    adapter_spec spec; /* a copy: adding an adapter may move the registry */
    setup_adapter_spec(first, &spec);
    bool own_ln = first->has_ln_copies;
    TRY(setup_add_adapter_spec(m, name, &spec, true)); /* a prefix tuning too: the library's average_prefix, every tensor */
    adapt_status s = own_ln ? ln_copies_add(m, name) : ADAPT_OK; /* averaged like every other tensor */
    if (!s) s = average_into(m, name, sources, w, n);
    if (s) setup_delete_adapter(m, name);
    return s;
}

adapt_status heads_average(adapt_model *m, head *out, const char *name, const head *const *sources, const double *weights,
                           int n)
{
    if (n < 1 || n > FUSION_MAX_ADAPTERS) return adapt_fail(ADAPT_ERR_ARG, "average: 1 to %d heads", FUSION_MAX_ADAPTERS);
    double w[FUSION_MAX_ADAPTERS];
    TRY(normalise(weights, n, w));
    for (int i = 1; i < n; i++)
        if (sources[i]->kind != sources[0]->kind || sources[i]->num_labels != sources[0]->num_labels)
            return adapt_fail(ADAPT_ERR_ARG, "average: heads \"%s\" and \"%s\" differ in type or number of labels", sources[0]->name,
                              sources[i]->name);
    TRY(head_create(m, out, sources[0]->kind, name, sources[0]->num_labels));
    param *dst[4] = {out->w1, out->b1, out->w2, out->b2};
    for (int k = 0; k < 4; k++) {
        if (!dst[k]) continue;
        const float *src[FUSION_MAX_ADAPTERS];
        for (int i = 0; i < n; i++) {
            const param *ps[4] = {sources[i]->w1, sources[i]->b1, sources[i]->w2, sources[i]->b2};
            if (!ps[k] || ps[k]->numel != dst[k]->numel) return adapt_fail(ADAPT_ERR_FORMAT, "average: head \"%s\" lacks %s", sources[i]->name, dst[k]->name);
            src[i] = ps[k]->data;
        }
        weighted_sum(dst[k]->data, src, w, n, dst[k]->numel);
    }
    return ADAPT_OK;
}
