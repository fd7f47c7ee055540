#include "adapters/setup.h"
#include "adapters/ln_copies.h"
#include "core/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *loc_name(bool attention) { return attention ? "attention.output" : "output"; }

void setup_adapter_prefix(const adapt_model *m, int layer, bool attention, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s.encoder.layer.%d.%s.adapters.%s", m->prefix, layer, loc_name(attention), name);
}

adapt_status model_setup(adapt_model *m, adapter_setup **out)
{
    if (!m->setup) {
        m->setup = calloc(1, sizeof *m->setup);
        if (!m->setup) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        m->setup->rng = 0x5eed5eed1234ull;
    }
    *out = m->setup;
    return ADAPT_OK;
}

static void free_adapter(adapter_def *a)
{
    free(a->attn);
    free(a->out);
    free(a->has_attn);
    free(a->has_out);
    prefix_weights_free(&a->prefix_w);
}

static void free_fusion(fusion_def *f)
{
    free(f->attn);
    free(f->out);
    free(f->has_attn);
    free(f->has_out);
}

void setup_free(adapter_setup *s)
{
    if (!s) return;
    for (int i = 0; i < s->n_adapters; i++) free_adapter(&s->adapters[i]);
    for (int i = 0; i < s->n_fusions; i++) free_fusion(&s->fusions[i]);
    free(s->adapters);
    free(s->fusions);
    comp_free(s->active);
    free(s);
}

adapter_def *setup_find_adapter(const adapter_setup *s, const char *name)
{
    for (int i = 0; s && i < s->n_adapters; i++)
        if (!strcmp(s->adapters[i].name, name)) return &s->adapters[i];
    return NULL;
}

static void fusion_join(const char *const *names, int n, char *out, size_t size)
{
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i) strncat(out, ",", size - strlen(out) - 1);
        strncat(out, names[i], size - strlen(out) - 1);
    }
}

fusion_def *setup_find_fusion(const adapter_setup *s, const char *const *names, int n)
{
    char joined[sizeof ((fusion_def *)0)->name];
    fusion_join(names, n, joined, sizeof joined);
    for (int i = 0; s && i < s->n_fusions; i++)
        if (!strcmp(s->fusions[i].name, joined)) return &s->fusions[i];
    return NULL;
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (!n || n >= ADAPTER_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '.' || name[i] == ',' || name[i] == '(' || name[i] == ')' || name[i] == ' ' || name[i] == '/' ||
            (unsigned char)name[i] < 32)
            return false;
    return true;
}

static adapt_status bind_adapter_layers(adapt_model *m, adapter_def *a, bool create)
{
    int L = m->cfg.layers, H = m->cfg.hidden;
    a->attn = calloc((size_t)L + 1, sizeof *a->attn);
    a->out = calloc((size_t)L + 1, sizeof *a->out);
    a->has_attn = calloc((size_t)L + 1, sizeof(bool));
    a->has_out = calloc((size_t)L + 1, sizeof(bool));
    if (!a->attn || !a->out || !a->has_attn || !a->has_out) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    for (int l = 0; l < L; l++)
        for (int at = 0; at < 2; at++) {
            if (!bn_config_has_location(&a->cfg, l, at)) continue;
            char prefix[256];
            setup_adapter_prefix(m, l, at, a->name, prefix, sizeof prefix);
            bn_weights *w = at ? &a->attn[l] : &a->out[l];
            if (create) TRY(bn_adapter_create(&m->store, prefix, &a->cfg, H, l, &m->setup->rng, w));
            else TRY(bn_adapter_bind(&m->store, prefix, &a->cfg, l, H, w));
            (at ? a->has_attn : a->has_out)[l] = true;
        }
    if (!create) TRY(ln_copies_bind(m, a)); /* an adapter saved with its own LayerNorms */
    if (a->cfg.inv_adapter == BN_INV_NICE) {
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%s.invertible_adapters.%s", m->prefix, a->name);
        if (create) TRY(nice_create(&m->store, prefix, &a->cfg, H, &m->setup->rng, &a->inv));
        else TRY(nice_bind(&m->store, prefix, &a->cfg, H, &a->inv));
        a->has_inv = true;
    }
    return ADAPT_OK;
}

adapt_status setup_check_new_adapter_name(const adapt_model *m, const char *name)
{
    if (!valid_name(name)) return adapt_fail(ADAPT_ERR_ARG, "adapter name \"%.80s\" is empty, too long or has . , ( ) / or spaces", name);
    if (setup_find_adapter(m->setup, name)) return adapt_fail(ADAPT_ERR_ARG, "an adapter named \"%s\" is already loaded", name);
    return ADAPT_OK;
}

/* A new adapter_def slot (zeroed, named), counted by the caller once it is complete. */
static adapt_status new_adapter(adapt_model *m, const char *name, adapter_def **out)
{
    adapter_setup *s = NULL;
    TRY(model_setup(m, &s));
    TRY(setup_check_new_adapter_name(m, name));
    if (s->n_adapters == s->cap_adapters) {
        int cap = s->cap_adapters ? 2 * s->cap_adapters : 8;
        adapter_def *p = realloc(s->adapters, (size_t)cap * sizeof *p);
        if (!p) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        s->adapters = p;
        s->cap_adapters = cap;
    }
    adapter_def *a = &s->adapters[s->n_adapters];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    *out = a;
    return ADAPT_OK;
}

/* Counts a new adapter in when its tensors bound; otherwise drops it with its tensors. */
static adapt_status finish_adapter(adapt_model *m, adapter_def *a, bool create, adapt_status st)
{
    if (!st && !create) st = setup_check_adapter_tensors(m, a);
    if (st) {
        char name[ADAPTER_NAME_MAX];
        snprintf(name, sizeof name, "%s", a->name);
        free_adapter(a);
        setup_remove_adapter_tensors(m, name);
        return st;
    }
    m->setup->n_adapters++;
    return ADAPT_OK;
}

adapt_status setup_add_adapter_spec(adapt_model *m, const char *name, const adapter_spec *spec, bool create)
{
    if (!spec->has_bn && !spec->has_prefix) return adapt_fail(ADAPT_ERR_ARG, "adapter \"%s\": its config describes nothing", name);
    adapter_def *a = NULL;
    TRY(new_adapter(m, name, &a));
    a->has_bn = spec->has_bn;
    if (spec->has_bn) a->cfg = spec->bn;
    else bn_config_defaults(&a->cfg); /* no bottleneck points */
    adapt_status st = bind_adapter_layers(m, a, create);
    if (!st && spec->has_prefix) {
        a->has_prefix = true;
        a->prefix_first = spec->prefix_first;
        a->prefix = spec->prefix;
        char prefix[256];
        setup_prefix_tuning_prefix(m, name, prefix, sizeof prefix);
        st = prefix_weights_make(&m->store, prefix, &a->prefix, m->cfg.layers, m->cfg.hidden, create, &m->setup->rng, &a->prefix_w);
    }
    return finish_adapter(m, a, create, st);
}

adapt_status setup_add_adapter(adapt_model *m, const char *name, const bn_config *cfg, bool create)
{
    adapter_spec spec = {.has_bn = true, .bn = *cfg};
    return setup_add_adapter_spec(m, name, &spec, create);
}

adapt_status setup_add_adapter_from_string(adapt_model *m, const char *name, const char *config)
{
    adapter_spec spec;
    TRY(adapter_spec_parse_string(config, &spec));
    return setup_add_adapter_spec(m, name, &spec, true);
}

void setup_adapter_spec(const adapter_def *a, adapter_spec *out)
{
    memset(out, 0, sizeof *out);
    out->has_bn = a->has_bn;
    out->has_prefix = a->has_prefix;
    out->prefix_first = a->prefix_first;
    out->bn = a->cfg;
    if (a->has_prefix) out->prefix = a->prefix;
    else prefix_config_defaults(&out->prefix);
}

adapt_status setup_add_fusion(adapt_model *m, const char *const *names, int n, const fusion_config *cfg, bool create)
{
    adapter_setup *s = NULL;
    TRY(model_setup(m, &s));
    if (n < 1 || n > FUSION_MAX_ADAPTERS) return adapt_fail(ADAPT_ERR_ARG, "a fusion takes 1 to %d adapters", FUSION_MAX_ADAPTERS);
    for (int i = 0; i < n; i++) {
        const adapter_def *a = setup_find_adapter(s, names[i]);
        if (!a) return adapt_fail(ADAPT_ERR_ARG, "fusion: no adapter named \"%s\"", names[i]);
        if (a->has_prefix)
            return adapt_fail(ADAPT_ERR_UNSUPPORTED, "fusion: \"%s\" has a prefix tuning, which AdapterFusion does not take", names[i]);
    }
    if (setup_find_fusion(s, names, n)) return adapt_fail(ADAPT_ERR_ARG, "this fusion is already loaded");
    if (s->n_fusions == s->cap_fusions) {
        int cap = s->cap_fusions ? 2 * s->cap_fusions : 4;
        fusion_def *p = realloc(s->fusions, (size_t)cap * sizeof *p);
        if (!p) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        s->fusions = p;
        s->cap_fusions = cap;
    }
    fusion_def *f = &s->fusions[s->n_fusions];
    memset(f, 0, sizeof *f);
    f->n = n;
    for (int i = 0; i < n; i++) snprintf(f->adapters[i], sizeof f->adapters[i], "%s", names[i]);
    fusion_join(names, n, f->name, sizeof f->name);
    f->cfg = *cfg;
    f->temperature = fusion_initial_temperature(cfg);
    int L = m->cfg.layers, H = m->cfg.hidden;
    f->attn = calloc((size_t)L + 1, sizeof *f->attn);
    f->out = calloc((size_t)L + 1, sizeof *f->out);
    f->has_attn = calloc((size_t)L + 1, sizeof(bool));
    f->has_out = calloc((size_t)L + 1, sizeof(bool));
    adapt_status st = (!f->attn || !f->out || !f->has_attn || !f->has_out) ? adapt_fail(ADAPT_ERR_NOMEM, "out of memory") : ADAPT_OK;
    /* The fusion sits where its last adapter sits (the library's pre_forward uses the last one). */
    const adapter_def *last = setup_find_adapter(s, names[n - 1]);
    for (int l = 0; !st && l < L; l++)
        for (int at = 0; !st && at < 2; at++) {
            if (!(at ? last->has_attn : last->has_out)[l]) continue;
            char prefix[sizeof f->name + 128];
            snprintf(prefix, sizeof prefix, "%s.encoder.layer.%d.%s.adapter_fusion_layer.%s", m->prefix, l, loc_name(at), f->name);
            fusion_weights *w = at ? &f->attn[l] : &f->out[l];
            st = create ? fusion_create(&m->store, prefix, cfg, H, &s->rng, w) : fusion_bind(&m->store, prefix, cfg, H, w);
            if (!st) (at ? f->has_attn : f->has_out)[l] = true;
        }
    if (!st && !create) st = setup_check_fusion_tensors(m, f);
    if (st) {
        free_fusion(f);
        setup_remove_fusion_tensors(m, f->name);
        return st;
    }
    s->n_fusions++;
    return ADAPT_OK;
}

adapt_status setup_set_adapter_trainable(adapt_model *m, const char *name, bool trainable)
{
    if (!setup_find_adapter(m->setup, name)) return adapt_fail(ADAPT_ERR_ARG, "no adapter named \"%s\"", name);
    for (size_t i = 0; i < m->store.count; i++)
        if (setup_tensor_of_adapter(m->store.items[i]->name, name)) TRY(store_set_trainable(m->store.items[i], trainable));
    return ADAPT_OK;
}

adapt_status setup_set_fusion_trainable(adapt_model *m, fusion_def *f, bool trainable)
{
    for (size_t i = 0; i < m->store.count; i++)
        if (setup_tensor_of_fusion(m->store.items[i]->name, f->name)) TRY(store_set_trainable(m->store.items[i], trainable));
    return ADAPT_OK;
}

adapt_status setup_delete_adapter(adapt_model *m, const char *name)
{
    adapter_setup *s = m->setup;
    adapter_def *a = setup_find_adapter(s, name);
    if (!a) return adapt_fail(ADAPT_ERR_ARG, "no adapter named \"%s\"", name);
    for (int i = 0; i < s->n_fusions; i++)
        for (int k = 0; k < s->fusions[i].n; k++)
            if (!strcmp(s->fusions[i].adapters[k], name))
                return adapt_fail(ADAPT_ERR_ARG, "adapter \"%s\" is part of fusion \"%s\": delete the fusion first", name, s->fusions[i].name);
    setup_remove_adapter_tensors(m, name);
    free_adapter(a);
    *a = s->adapters[--s->n_adapters];
    comp_free(s->active); /* the composition may name it */
    s->active = NULL;
    return ADAPT_OK;
}

/* Every adapter and fusion a composition names must be loaded. */
static adapt_status check_names(const adapter_setup *s, const comp_node *n)
{
    if (n->kind == COMP_SINGLE) {
        if (!setup_find_adapter(s, n->name)) return adapt_fail(ADAPT_ERR_ARG, "setup names adapter \"%s\", which is not loaded", n->name);
        return ADAPT_OK;
    }
    for (int i = 0; i < n->n; i++) TRY(check_names(s, n->children[i]));
    if (n->kind == COMP_FUSE) {
        const char *names[FUSION_MAX_ADAPTERS];
        for (int i = 0; i < n->n; i++) names[i] = n->children[i]->name;
        if (!setup_find_fusion(s, names, n->n)) {
            char joined[sizeof ((fusion_def *)0)->name];
            fusion_join(names, n->n, joined, sizeof joined);
            return adapt_fail(ADAPT_ERR_ARG, "setup uses fusion \"%s\", which is not loaded", joined);
        }
    }
    return ADAPT_OK;
}

adapt_status setup_activate(adapt_model *m, const char *composition)
{
    adapter_setup *s = NULL;
    TRY(model_setup(m, &s));
    comp_node *root = NULL;
    if (composition && *composition) {
        TRY(comp_parse(composition, &root));
        adapt_status st = check_names(s, root);
        if (!st) st = setup_check_prefix_placement(s, root);
        if (st) {
            comp_free(root);
            return st;
        }
    }
    comp_free(s->active);
    s->active = root;
    return ADAPT_OK;
}

const adapter_def *setup_invertible_of(const adapt_model *m, const comp_node *root)
{
    if (!m->setup || !root) return NULL;
    const adapter_def *a = setup_find_adapter(m->setup, comp_first(root));
    return a && a->has_inv ? a : NULL;
}

const adapter_def *setup_invertible(const adapt_model *m)
{
    return m->setup ? setup_invertible_of(m, m->setup->active) : NULL;
}

adapt_status setup_check_composition(const adapt_model *m, const comp_node *root)
{
    if (!m->setup) return adapt_fail(ADAPT_ERR_ARG, "setup names adapter \"%s\", which is not loaded", comp_first(root));
    TRY(check_names(m->setup, root));
    return setup_check_prefix_placement(m->setup, root);
}
