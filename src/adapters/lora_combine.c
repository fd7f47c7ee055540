/* A new LoRA from weighted loaded ones (PEFT's add_weighted_adapter, "cat" and "linear"):
 *   cat:    rank = the sum of the ranks; A = the A_i * w_i * s_i stacked by rows, B = the B_i side by
 *           side, so B A = sum w_i s_i B_i A_i exactly (s_i: LoRA i's scaling);
 *   linear: equal ranks; A = sum sqrt(w_i s_i) A_i, B = sum sqrt(w_i s_i) B_i (PEFT's task
 *           arithmetic on each factor: not the weighted sum of the products).
 * The new LoRA's config is the first's with r = lora_alpha = the new rank and the union of the
 * target modules; it is frozen and loaded inactive. modules_to_save are not copied: PEFT gives the
 * new adapter copies of the original modules, i.e. the base values the model holds without LoRA. */
#include "adapters/lora.h"
#include "core/error.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_COMBINED 16

/* The new config: the first's, its targets the union of all (lists) or "(re1)|(re2)" (regexes). */
static adapt_status combined_config(lora_state *const *in, int n, int rank, lora_config *out)
{
    *out = in[0]->cfg;
    out->r = rank;
    out->alpha = rank;
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

/* Module (l, k) of the new LoRA from the inputs that have it. */
static void combine_pair(lora_pair *to, lora_state *const *in, const double *w, int n, int l, int k, bool cat)
{
    int64_t in_dim = to->A->shape[1], out_dim = to->B->shape[0], rank = to->A->shape[0], row = 0;
    memset(to->A->data, 0, (size_t)to->A->numel * sizeof(float));
    memset(to->B->data, 0, (size_t)to->B->numel * sizeof(float));
    for (int i = 0; i < n; i++) {
        if (!in[i]->has[l][k]) continue;
        const lora_pair *p = &in[i]->pairs[l][k];
        int64_t r = p->A->shape[0];
        if (cat) { /* rows row..row+r of A, columns row..row+r of B: the matching LoRAs packed first, as PEFT does */
            double f = w[i] * in[i]->scaling;
            for (int64_t a = 0; a < r * in_dim; a++) to->A->data[row * in_dim + a] = (float)(f * p->A->data[a]);
            for (int64_t o = 0; o < out_dim; o++)
                for (int64_t c = 0; c < r; c++) to->B->data[o * rank + row + c] = p->B->data[o * r + c];
            row += r;
        } else {
            double f = sqrt(w[i] * in[i]->scaling);
            for (int64_t a = 0; a < r * in_dim; a++) to->A->data[a] += (float)(f * p->A->data[a]);
            for (int64_t b = 0; b < out_dim * r; b++) to->B->data[b] += (float)(f * p->B->data[b]);
        }
    }
}

adapt_status lora_add_weighted(adapt_model *m, const char *const *names, const double *weights, int n, const char *name,
                               const char *combination)
{
    bool cat = combination && !strcmp(combination, "cat");
    if (!combination || (!cat && strcmp(combination, "linear")))
        return adapt_fail(ADAPT_ERR_UNSUPPORTED, "combination \"%.40s\": \"cat\" or \"linear\" (PEFT's svd and ties variants are not "
                          "supported)", combination ? combination : "");
    if (n < 1 || n > MAX_COMBINED) return adapt_fail(ADAPT_ERR_ARG, "combine 1 to %d LoRAs, not %d", MAX_COMBINED, n);
    lora_state *in[MAX_COMBINED];
    int rank = 0;
    for (int i = 0; i < n; i++) {
        if (!(in[i] = lora_find(m, names[i]))) return adapt_fail(ADAPT_ERR_ARG, "no LoRA named \"%.80s\" is loaded", names[i] ? names[i] : "");
        if (!isfinite(weights[i]) || (!cat && !(weights[i] > 0)))
            return adapt_fail(ADAPT_ERR_ARG, "LoRA \"%s\": weight %g (linear takes sqrt(weight x scaling): weights above 0; cat: "
                              "any finite weight)", in[i]->name, weights[i]);
        if (in[i]->merged) return adapt_fail(ADAPT_ERR_ARG, "LoRA \"%s\" is merged into the weights: unmerge it first", in[i]->name);
        if (!cat && in[i]->cfg.r != in[0]->cfg.r)
            return adapt_fail(ADAPT_ERR_ARG, "linear needs equal ranks: \"%s\" has r %d, \"%s\" r %d", in[0]->name, in[0]->cfg.r,
                              in[i]->name, in[i]->cfg.r);
        rank = cat ? rank + in[i]->cfg.r : in[0]->cfg.r;
    }
    if (rank > 4096) return adapt_fail(ADAPT_ERR_ARG, "the combined rank %d is above 4096", rank);
    lora_config cfg;
    TRY(combined_config(in, n, rank, &cfg));
    cfg.n_modules_to_save = 0;
    uint64_t rng = 1; /* lora_attach draws A; every value is overwritten below */
    lora_state *s;
    TRY(lora_attach(m, &cfg, name, true, &rng, &s));
    for (int l = 0; l < m->cfg.layers; l++)
        for (int k = 0; k < LIN_COUNT; k++) {
            if (!s->has[l][k]) continue;
            combine_pair(&s->pairs[l][k], in, weights, n, l, k, cat);
            store_set_trainable(s->pairs[l][k].A, false); /* frozen, as PEFT leaves it; cannot fail on fp32 */
            store_set_trainable(s->pairs[l][k].B, false);
        }
    return ADAPT_OK;
}
