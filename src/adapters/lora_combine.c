/* A new LoRA from weighted loaded ones: PEFT's add_weighted_adapter, every combination type.
 *   cat:        rank = the sum of the ranks; A = the A_i * w_i * s_i stacked by rows, B = the B_i
 *               side by side, so B A = sum w_i s_i B_i A_i exactly (s_i: LoRA i's scaling);
 *   linear, ties, magnitude_prune, dare_linear, dare_ties: equal ranks; the A_i merged with weights
 *               sqrt(w_i s_i) (adapters/task_merge.h), the B_i likewise: PEFT's merging of each factor,
 *               not of the products;
 *   svd, ties_svd, magnitude_prune_svd, dare_linear_svd, dare_ties_svd: the deltas s_i B_i A_i
 *               merged with weights w_i s_i (so s_i counts twice, as in PEFT), then the truncated
 *               SVD of the result as the new factors (adapters/low_rank.h), rank svd_rank or the
 *               largest input rank.
 * With one LoRA every type is linear, as in PEFT. The new config is the first's with r =
 * lora_alpha = the new rank, no rsLoRA (PEFT's fix: its scaling stays 1) and the union of the
 * target modules; the LoRA is frozen and loaded inactive. modules_to_save are not copied: PEFT
 * gives the new adapter copies of the original modules, i.e. the base values. */
#include "adapters/lora.h"
#include "adapters/low_rank.h"
#include "adapters/task_merge.h"
#include "core/error.h"
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COMBINED (ADAPT_MODEL_MAX_LORAS - 1) /* the model also holds the new one */

typedef enum combination_family { COMBINE_CAT, COMBINE_FACTORS, COMBINE_SVD } combination_family;

static const struct combination_type {
    const char *name;
    combination_family family;
    task_merge_kind merge;
} combination_types[] = {
    {"svd", COMBINE_SVD, MERGE_TASK_ARITHMETIC},
    {"linear", COMBINE_FACTORS, MERGE_TASK_ARITHMETIC},
    {"cat", COMBINE_CAT, MERGE_TASK_ARITHMETIC},
    {"ties", COMBINE_FACTORS, MERGE_TIES},
    {"ties_svd", COMBINE_SVD, MERGE_TIES},
    {"magnitude_prune", COMBINE_FACTORS, MERGE_MAGNITUDE_PRUNE},
    {"magnitude_prune_svd", COMBINE_SVD, MERGE_MAGNITUDE_PRUNE},
    {"dare_linear", COMBINE_FACTORS, MERGE_DARE_LINEAR},
    {"dare_ties", COMBINE_FACTORS, MERGE_DARE_TIES},
    {"dare_linear_svd", COMBINE_SVD, MERGE_DARE_LINEAR},
    {"dare_ties_svd", COMBINE_SVD, MERGE_DARE_TIES},
};
#define N_TYPES (sizeof combination_types / sizeof combination_types[0])

/* The new config: the first's, its targets the union of all (lists) or "(re1)|(re2)" (regexes). */
static adapt_status combined_config(lora_state *const *in, int n, int rank, lora_config *out)
{
    *out = in[0]->cfg;
    out->r = rank;
    out->alpha = rank;
    out->use_rslora = false; /* alpha / sqrt(r) would not be 1 */
    out->n_modules_to_save = 0;
    bool regex = in[0]->cfg.target_regex[0] != 0;
    out->n_targets = 0;
    out->target_regex[0] = 0;
    for (int i = 0; i < n; i++) {
        const lora_config *c = &in[i]->cfg;
        if ((c->target_regex[0] != 0) != regex)
            return adapt_fail(ADAPT_ERR_ARG, "LoRAs \"%s\" and \"%s\": target_modules as a list and as a regular expression cannot "
                              "be combined", in[0]->name, in[i]->name);
        if (regex) {
            size_t used = strlen(out->target_regex);
            int w = snprintf(out->target_regex + used, sizeof out->target_regex - used, "%s(%s)", i ? "|" : "", c->target_regex);
            if (w < 0 || (size_t)w >= sizeof out->target_regex - used)
                return adapt_fail(ADAPT_ERR_ARG, "the combined target_modules expression is too long");
            continue;
        }
        for (int t = 0; t < c->n_targets; t++) {
            bool have = false;
            for (int u = 0; u < out->n_targets && !have; u++) have = !strcmp(out->targets[u], c->targets[t]);
            if (have) continue;
            if (out->n_targets == LORA_MAX_TARGETS) return adapt_fail(ADAPT_ERR_ARG, "more than %d target modules combined", LORA_MAX_TARGETS);
            snprintf(out->targets[out->n_targets++], sizeof out->targets[0], "%s", c->targets[t]);
        }
    }
    return ADAPT_OK;
}

/* Module (l, k) by cat: rows row..row+r of A, columns row..row+r of B per input, the inputs that
 * have the module packed first, as PEFT does. */
static void cat_pair(lora_pair *to, lora_state *const *in, const double *w, int n, int l, int k)
{
    int64_t in_dim = to->A->shape[1], out_dim = to->B->shape[0], rank = to->A->shape[0], row = 0;
    memset(to->A->data, 0, (size_t)to->A->numel * sizeof(float));
    memset(to->B->data, 0, (size_t)to->B->numel * sizeof(float));
    for (int i = 0; i < n; i++) {
        if (!in[i]->has[l][k]) continue;
        const lora_pair *p = &in[i]->pairs[l][k];
        int64_t r = p->A->shape[0];
        double f = w[i] * p->scaling;
        for (int64_t a = 0; a < r * in_dim; a++) to->A->data[row * in_dim + a] = (float)(f * p->A->data[a]);
        for (int64_t o = 0; o < out_dim; o++)
            for (int64_t c = 0; c < r; c++) to->B->data[o * rank + row + c] = p->B->data[o * r + c];
        row += r;
    }
}

/* Module (l, k) from each factor merged on its own (weights sqrt(w_i s_i)). */
static adapt_status factors_pair(lora_pair *to, lora_state *const *in, const double *w, int n, int l, int k,
                                 const task_merge_options *o)
{
    const float *a[MAX_COMBINED], *b[MAX_COMBINED];
    double f[MAX_COMBINED];
    int used = 0;
    for (int i = 0; i < n; i++) {
        if (!in[i]->has[l][k]) continue;
        a[used] = in[i]->pairs[l][k].A->data;
        b[used] = in[i]->pairs[l][k].B->data;
        f[used++] = sqrt(w[i] * in[i]->pairs[l][k].scaling);
    }
    TRY(task_merge(a, f, used, (size_t)to->A->numel, o, to->A->data));
    return task_merge(b, f, used, (size_t)to->B->numel, o, to->B->data);
}

/* Module (l, k) by svd: sum (w_i s_i) s_i B_i A_i is the product [B_1 .. B_n] [w_1 s_1^2 A_1; ..],
 * decomposed without forming it (adapters/low_rank.h). */
static adapt_status svd_of_sum(lora_pair *to, lora_state *const *in, const double *w, int n, int l, int k, double clamp)
{
    int rows = (int)to->B->shape[0], cols = (int)to->A->shape[1], inner = 0;
    for (int i = 0; i < n; i++) inner += in[i]->has[l][k] ? (int)in[i]->pairs[l][k].A->shape[0] : 0;
    double *left = malloc((size_t)rows * inner * sizeof *left), *right = malloc((size_t)inner * cols * sizeof *right);
    adapt_status s = left && right ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (int i = 0, at = 0; !s && i < n; i++) {
        if (!in[i]->has[l][k]) continue;
        const lora_pair *p = &in[i]->pairs[l][k];
        int r = (int)p->A->shape[0];
        double f = w[i] * p->scaling * p->scaling;
        for (int o = 0; o < rows; o++)
            for (int c = 0; c < r; c++) left[(size_t)o * inner + at + c] = p->B->data[(size_t)o * r + c];
        for (size_t a = 0; a < (size_t)r * cols; a++) right[(size_t)at * cols + a] = f * p->A->data[a];
        at += r;
    }
    if (!s) s = low_rank_factors_of_product(left, right, rows, inner, cols, (int)to->A->shape[0], clamp, to->B->data, to->A->data);
    free(left);
    free(right);
    return s;
}

/* Module (l, k) as the truncated SVD of the deltas merged by a pruning method (weights w_i s_i). */
static adapt_status svd_pair(lora_pair *to, lora_state *const *in, const double *w, int n, int l, int k, const task_merge_options *o,
                             double clamp)
{
    if (o->kind == MERGE_TASK_ARITHMETIC) return svd_of_sum(to, in, w, n, l, k, clamp);
    int rows = (int)to->B->shape[0], cols = (int)to->A->shape[1], rank = (int)to->A->shape[0];
    size_t cells = (size_t)rows * cols;
    const float *deltas[MAX_COMBINED];
    double f[MAX_COMBINED];
    int used = 0, having = 0;
    for (int i = 0; i < n; i++) having += in[i]->has[l][k];
    float *buf = malloc((size_t)(having + 1) * cells * sizeof *buf);
    double *merged = malloc(cells * sizeof *merged);
    adapt_status s = buf && merged ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (int i = 0; !s && i < n; i++) {
        if (!in[i]->has[l][k]) continue;
        const lora_pair *p = &in[i]->pairs[l][k];
        float *d = buf + (size_t)used * cells; /* s_i B_i A_i: PEFT's get_delta_weight */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, (int)p->A->shape[0], p->scaling, p->B->data,
                    (int)p->A->shape[0], p->A->data, cols, 0.0f, d, cols);
        deltas[used] = d;
        f[used++] = w[i] * p->scaling;
    }
    float *out = buf ? buf + (size_t)having * cells : NULL;
    if (!s) s = task_merge(deltas, f, used, cells, o, out);
    for (size_t c = 0; !s && c < cells; c++) merged[c] = out[c];
    if (!s) s = low_rank_factors(merged, rows, cols, rank, clamp, to->B->data, to->A->data);
    free(buf);
    free(merged);
    return s;
}

static const struct combination_type *find_type(const char *name)
{
    for (size_t t = 0; t < N_TYPES; t++)
        if (!strcmp(combination_types[t].name, name)) return &combination_types[t];
    return NULL;
}

/* The options a type reads, checked. */
static adapt_status check_options(const struct combination_type *type, const adapt_lora_combination *how, task_merge_options *o)
{
    bool prunes = type->merge != MERGE_TASK_ARITHMETIC, signs = type->merge == MERGE_TIES || type->merge == MERGE_DARE_TIES;
    if (prunes && !(how->density > 0 && how->density <= 1))
        return adapt_fail(ADAPT_ERR_ARG, "combination \"%s\" needs a density in (0, 1], the fraction of each LoRA kept (got %g)",
                          type->name, how->density);
    o->density = how->density;
    o->sign = MAJORITY_SIGN_TOTAL;
    if (signs && how->majority_sign && strcmp(how->majority_sign, "total")) {
        if (strcmp(how->majority_sign, "frequency"))
            return adapt_fail(ADAPT_ERR_ARG, "majority_sign \"%.40s\": \"total\" or \"frequency\"", how->majority_sign);
        o->sign = MAJORITY_SIGN_FREQUENCY;
    }
    if (type->family == COMBINE_SVD && !(how->svd_clamp >= 0 && how->svd_clamp <= 1))
        return adapt_fail(ADAPT_ERR_ARG, "svd_clamp %g: a quantile in (0, 1], or 0 for none", how->svd_clamp);
    if (how->svd_rank < 0) return adapt_fail(ADAPT_ERR_ARG, "svd_rank %d: 0 (the largest input rank) or above", how->svd_rank);
    /* an option the type does not read is a mistake worth naming (PEFT ignores it) */
    bool dare = type->merge == MERGE_DARE_LINEAR || type->merge == MERGE_DARE_TIES;
    const char *unused = !prunes && how->density != 0                                  ? "density"
                         : !signs && how->majority_sign                                ? "majority_sign"
                         : type->family != COMBINE_SVD && (how->svd_rank || how->svd_clamp != 0) ? "svd_rank / svd_clamp"
                         : !dare && how->seed                                          ? "seed"
                                                                                        : NULL;
    if (unused) return adapt_fail(ADAPT_ERR_ARG, "combination \"%s\" does not use %s", type->name, unused);
    return ADAPT_OK;
}

adapt_status lora_combine(adapt_model *m, const char *const *names, const double *weights, int n, const char *name,
                          const adapt_lora_combination *how)
{
    const char *type_name = how->type ? how->type : "svd";
    const struct combination_type *asked = find_type(type_name), *type = find_type(n == 1 ? "linear" : type_name);
    if (!asked) {
        char known[400] = "";
        for (size_t t = 0; t < N_TYPES; t++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", t ? ", " : "", combination_types[t].name);
        return adapt_fail(ADAPT_ERR_ARG, "combination \"%.40s\": one of %s", type_name, known);
    }
    if (n < 1 || n > MAX_COMBINED) return adapt_fail(ADAPT_ERR_ARG, "combine 1 to %d LoRAs, not %d", MAX_COMBINED, n);
    task_merge_options merge = {.kind = type->merge};
    TRY(check_options(asked, how, &merge)); /* the options as asked, though one LoRA is combined linearly */
    lora_state *in[MAX_COMBINED];
    bool ia3 = false;
    for (int i = 0; i < n; i++) {
        if (!(in[i] = lora_find(m, names[i]))) return adapt_fail(ADAPT_ERR_ARG, "no LoRA named \"%.80s\" is loaded", names[i] ? names[i] : "");
        ia3 |= in[i]->cfg.ia3;
    }
    if (ia3) { /* PEFT's IA3 sums the vectors: no other combination applies */
        if (how->type && strcmp(type->name, "linear")) /* no type asked, or one input: the sum */
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "(IA)^3s combine as a weighted sum of their vectors (\"linear\"), not \"%s\"", type_name);
        return ia3_combine(m, in, weights, n, name);
    }
    int rank = 0, largest = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(weights[i]) || (type->family == COMBINE_FACTORS && !(weights[i] >= 0)))
            return adapt_fail(ADAPT_ERR_ARG, "LoRA \"%s\": weight %g (%s takes sqrt(weight x scaling): weights of 0 or more; any "
                              "finite weight for cat and the svd types)", in[i]->name, weights[i], type->name);
        if (in[i]->merged) return adapt_fail(ADAPT_ERR_ARG, "LoRA \"%s\" is merged into the weights: unmerge it first", in[i]->name);
        if (in[i]->cfg.use_dora)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "LoRA \"%s\" is a DoRA: its magnitudes have no combination", in[i]->name);
        if (lora_has_embedding(in[i]))
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "LoRA \"%s\" adapts embedding tables: combining such LoRAs is not supported", in[i]->name);
        if (in[i]->cfg.n_rank_pattern || in[i]->cfg.n_alpha_pattern || in[i]->cfg.layers_set) /* PEFT would give the result the first's */
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "LoRA \"%s\" has rank_pattern, alpha_pattern or layers_to_transform: combining such "
                              "LoRAs is not supported", in[i]->name);
        if (type->family == COMBINE_FACTORS && in[i]->cfg.r != in[0]->cfg.r)
            return adapt_fail(ADAPT_ERR_ARG, "%s needs equal ranks: \"%s\" has r %d, \"%s\" r %d", type->name, in[0]->name, in[0]->cfg.r,
                              in[i]->name, in[i]->cfg.r);
        rank += in[i]->cfg.r;
        largest = in[i]->cfg.r > largest ? in[i]->cfg.r : largest;
    }
    if (type->family == COMBINE_FACTORS) rank = in[0]->cfg.r;
    if (type->family == COMBINE_SVD) {
        int most = m->cfg.hidden < m->cfg.intermediate ? m->cfg.hidden : m->cfg.intermediate; /* the smaller side of every layer */
        rank = how->svd_rank ? how->svd_rank : largest;
        if (rank > most) return adapt_fail(ADAPT_ERR_ARG, "svd_rank %d is above %d, the smaller side of the model's linear layers", rank, most);
    }
    if (rank > 4096) return adapt_fail(ADAPT_ERR_ARG, "the combined rank %d is above 4096", rank);
    lora_config cfg;
    TRY(combined_config(in, n, rank, &cfg));
    uint64_t rng = 1; /* lora_attach draws A; every value is overwritten below */
    lora_state *s;
    TRY(lora_attach(m, &cfg, name, true, &rng, &s));
    uint64_t drop_rng = how->seed; /* DARE's masks: one stream over the modules in order */
    merge.rng = &drop_rng;
    adapt_status st = ADAPT_OK;
    for (int l = 0; !st && l < m->cfg.layers; l++)
        for (int k = 0; !st && k < LIN_COUNT; k++) {
            if (!s->has[l][k]) continue;
            lora_pair *p = &s->pairs[l][k];
            if (type->family == COMBINE_CAT) cat_pair(p, in, weights, n, l, k);
            else if (type->family == COMBINE_FACTORS) st = factors_pair(p, in, weights, n, l, k, &merge);
            else st = svd_pair(p, in, weights, n, l, k, &merge, how->svd_clamp);
            store_set_trainable(p->A, false); /* frozen, as PEFT leaves it; cannot fail on fp32 */
            store_set_trainable(p->B, false);
        }
    if (st) lora_delete(m, name); /* inactive and without modules: cannot fail */
    return st;
}

adapt_status lora_add_weighted(adapt_model *m, const char *const *names, const double *weights, int n, const char *name,
                               const char *combination)
{
    adapt_lora_combination how = {.type = combination};
    return lora_combine(m, names, weights, n, name, &how);
}
