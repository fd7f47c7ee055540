/* A model's named LoRAs (PEFT's load_adapter / set_adapter / delete_adapter): one is active at a
 * time (m->lora), the others wait with their factors in the store. modules_to_save tensors (a
 * classifier trained with the LoRA) exist once in the model, so switching copies values: the
 * leaving LoRA's into its own copy (training may have changed them), the base values back, then
 * (after keeping the base values as they are now) the arriving LoRA's. */
#include "adapters/lora.h"
#include "core/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_COPY "(base)" /* not a valid LoRA name, so never a LoRA's own prefix */

lora_state *lora_find(const adapt_model *m, const char *name)
{
    for (int i = 0; name && i < m->n_loras; i++)
        if (!strcmp(m->loras[i]->name, name)) return m->loras[i];
    return NULL;
}

bool lora_staged_by(const char *tensor, const char *lora)
{
    size_t p = strlen(LORA_STAGE_PREFIX), n = strlen(lora);
    return !strncmp(tensor, LORA_STAGE_PREFIX, p) && !strncmp(tensor + p, lora, n) && tensor[p + n] == '.';
}

const char *lora_encoder_module(const adapt_model *m, const lora_state *s)
{
    size_t n = strlen(m->prefix);
    for (int i = 0; s && i < s->n_modules; i++)
        if (!strncmp(s->modules[i].name, m->prefix, n) && s->modules[i].name[n] == '.') return s->modules[i].name;
    return NULL;
}

/* "peft.(base).<name>": the values of the model's tensor `name` without LoRA. */
static void base_copy_name(const char *name, char *out, size_t size)
{
    snprintf(out, size, LORA_STAGE_PREFIX BASE_COPY ".%s", name);
}

typedef struct module_tensors {
    param *live, *own, *base;
} module_tensors;

/* Module i of LoRA s: the model's tensor, the LoRA's copy, the base copy, all fp32. */
static adapt_status find_module(const adapt_model *m, const lora_state *s, int i, module_tensors *t)
{
    char name[600];
    const char *live = s->modules[i].name;
    t->live = store_get(&m->store, live);
    snprintf(name, sizeof name, LORA_STAGE_PREFIX "%s.%s", s->name, live);
    t->own = store_get(&m->store, name);
    base_copy_name(live, name, sizeof name);
    t->base = store_get(&m->store, name);
    if (!t->live || !t->own || !t->base)
        return adapt_fail(ADAPT_ERR_ARG, "LoRA \"%s\": the model no longer has tensor \"%s\" (modules_to_save)", s->name, live);
    char what[400];
    snprintf(what, sizeof what, "switching LoRA \"%s\"", s->name);
    return param_require_fp32(t->live, what);
}

static void copy_values(param *to, const param *from)
{
    memcpy(to->data, from->data, (size_t)to->numel * sizeof(float));
}

adapt_status lora_activate(adapt_model *m, const char *name)
{
    lora_state *next = NULL;
    if (name && !(next = lora_find(m, name))) return adapt_fail(ADAPT_ERR_ARG, "no LoRA named \"%.80s\" is loaded", name);
    lora_state *cur = m->lora;
    if (cur == next) return ADAPT_OK;
    if (cur && cur->merged)
        return adapt_fail(ADAPT_ERR_ARG, "LoRA \"%s\" is merged into the weights: unmerge it before switching", cur->name);
    module_tensors t;
    for (int i = 0; cur && i < cur->n_modules; i++) TRY(find_module(m, cur, i, &t)); /* all or nothing */
    for (int i = 0; next && i < next->n_modules; i++) TRY(find_module(m, next, i, &t));
    for (int i = 0; cur && i < cur->n_modules; i++) {
        find_module(m, cur, i, &t);
        copy_values(t.own, t.live);
        copy_values(t.live, t.base);
    }
    for (int i = 0; next && i < next->n_modules; i++) {
        find_module(m, next, i, &t);
        copy_values(t.base, t.live); /* the base values as they are now (a head loaded or trained since) */
        copy_values(t.live, t.own);
    }
    m->lora = next;
    return ADAPT_OK;
}

static bool is_base_tensor(const adapt_model *m, const param *p)
{
    for (size_t i = 0; i < m->base_tensor_count && i < m->store.count; i++)
        if (m->store.items[i] == p) return true;
    return false;
}

/* Whether any LoRA but `except` replaces tensor `name`. */
static bool module_used(const adapt_model *m, const lora_state *except, const char *name)
{
    for (int k = 0; k < m->n_loras; k++)
        for (int i = 0; m->loras[k] != except && i < m->loras[k]->n_modules; i++)
            if (!strcmp(m->loras[k]->modules[i].name, name)) return true;
    return false;
}

adapt_status lora_delete(adapt_model *m, const char *name)
{
    lora_state *s = lora_find(m, name);
    if (!s) return adapt_fail(ADAPT_ERR_ARG, "no LoRA named \"%.80s\" is loaded", name ? name : "");
    if (m->lora == s) {
        lora_state *first_other = m->loras[0] != s ? m->loras[0] : m->n_loras > 1 ? m->loras[1] : NULL;
        TRY(lora_activate(m, first_other ? first_other->name : NULL)); /* all or nothing */
    }
    for (int i = 0; i < s->n_modules; i++) { /* a base copy no other LoRA needs goes */
        const char *name = s->modules[i].name;
        if (module_used(m, s, name)) continue;
        char base[600];
        base_copy_name(name, base, sizeof base);
        store_remove(&m->store, base);
        param *live = store_get(&m->store, name); /* a classifier only the LoRAs brought, unless a head uses it */
        if (live && !is_base_tensor(m, live) && live != m->classifier_w && live != m->classifier_b) store_remove(&m->store, name);
    }
    int k = 0;
    while (m->loras[k] != s) k++;
    memmove(&m->loras[k], &m->loras[k + 1], (size_t)(m->n_loras - k - 1) * sizeof m->loras[0]);
    m->n_loras--;
    char own[LORA_NAME_MAX];
    snprintf(own, sizeof own, "%s", s->name);
    lora_state_free(s); /* before its tensors go: its pairs point at them */
    lora_remove_tensors(m, own);
    return ADAPT_OK;
}

void lora_remove_tensors(adapt_model *m, const char *lora)
{
    store_remove_matching(&m->store, lora_tensor_of, lora);
    store_remove_matching(&m->store, lora_staged_by, lora);
}

/* A Hugging Face head tensor a LoRA may bring as modules_to_save though the model has none: the
 * token / sequence classifier, RoBERTa's classification head, BERT's pooler. */
static bool is_classifier(const adapt_model *m, const char *name)
{
    static const char *const heads[] = {"classifier.weight", "classifier.bias", "classifier.dense.weight", "classifier.dense.bias",
                                        "classifier.out_proj.weight", "classifier.out_proj.bias"};
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        if (!strcmp(name, heads[i])) return true;
    size_t n = strlen(m->prefix);
    return !strncmp(name, m->prefix, n) && (!strcmp(name + n, ".pooler.dense.weight") || !strcmp(name + n, ".pooler.dense.bias"));
}

/* The staged copy `own` may replace the model's tensor `name`: a base tensor of its shape held in
 * fp32, or the HF classifier. */
static adapt_status check_module(const adapt_model *m, const param *own, const char *name, const char *file)
{
    const param *live = store_get(&m->store, name);
    if (!live) {
        if (is_classifier(m, name)) return ADAPT_OK;
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" is not a tensor of the model (modules_to_save replace the model's own)",
                          file, name);
    }
    if (!is_base_tensor(m, live) && !is_classifier(m, name))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" is not a base-model tensor (modules_to_save replace the model's own)",
                          file, name);
    bool same = live->ndim == own->ndim;
    for (int d = 0; same && d < own->ndim; d++) same = live->shape[d] == own->shape[d];
    if (!same) return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" does not have the shape of the model's", file, name);
    char what[600];
    snprintf(what, sizeof what, "loading %.500s", file);
    return param_require_fp32(live, what);
}

/* The model's tensor `name` (created, zero, for a classifier the model lacks) and its base copy
 * (made once, from the values before any LoRA's). */
static adapt_status ensure_live_and_base(adapt_model *m, const param *own, const char *name)
{
    param *live = store_get(&m->store, name), *base;
    if (!live) TRY(store_add(&m->store, name, own->ndim, own->shape, &live));
    char base_name[600];
    base_copy_name(name, base_name, sizeof base_name);
    if (store_get(&m->store, base_name)) return ADAPT_OK;
    TRY(store_add(&m->store, base_name, own->ndim, own->shape, &base));
    copy_values(base, live);
    return ADAPT_OK;
}

adapt_status lora_bind_modules(adapt_model *m, lora_state *s, const char *file)
{
    size_t n = 0, skip = strlen(LORA_STAGE_PREFIX) + strlen(s->name) + 1;
    for (size_t i = 0; i < m->store.count; i++) {
        const param *own = m->store.items[i];
        if (!lora_staged_by(own->name, s->name)) continue;
        if (strlen(own->name + skip) >= sizeof s->modules[0].name)
            return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor name \"%.80s...\" is too long", file, own->name + skip);
        TRY(check_module(m, own, own->name + skip, file));
        n++;
    }
    if (!n) return ADAPT_OK;
    s->modules = calloc(n, sizeof *s->modules);
    if (!s->modules) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    size_t count = m->store.count; /* ensure_live_and_base adds tensors; the staged ones are before them */
    for (size_t i = 0; i < count; i++) {
        const param *own = m->store.items[i];
        if (!lora_staged_by(own->name, s->name)) continue;
        TRY(ensure_live_and_base(m, own, own->name + skip));
        snprintf(s->modules[s->n_modules++].name, sizeof s->modules[0].name, "%s", own->name + skip);
    }
    module_tensors t;
    for (int i = 0; m->lora == s && i < s->n_modules; i++) {
        TRY(find_module(m, s, i, &t));
        copy_values(t.live, t.own);
    }
    return ADAPT_OK;
}

const lora_pair *lora_active_pair(const adapt_model *m, int l, lora_linear which)
{
    const lora_state *s = m->lora;
    return s && !s->merged && s->has[l][which] ? &s->pairs[l][which] : NULL;
}

adapt_status lora_check_savable(const adapt_model *m)
{
    if (!m->lora) return adapt_fail(ADAPT_ERR_ARG, "the model has no active LoRA to save");
    if (m->lora->merged) return adapt_fail(ADAPT_ERR_ARG, "unmerge the LoRA weights before saving them");
    return ADAPT_OK;
}

void lora_free_all(adapt_model *m)
{
    for (int i = 0; i < m->n_loras; i++) lora_state_free(m->loras[i]);
    m->n_loras = 0;
    m->lora = NULL;
}

adapt_status lora_while_active(adapt_model *m, const char *name, adapt_status (*run)(adapt_model *m, void *ctx), void *ctx)
{
    char was[LORA_NAME_MAX] = "";
    if (m->lora) snprintf(was, sizeof was, "%s", m->lora->name);
    TRY(lora_activate(m, name));
    adapt_status s = run(m, ctx);
    adapt_status back = lora_activate(m, was[0] ? was : NULL);
    return s ? s : back;
}

adapt_status lora_with_base_values(adapt_model *m, adapt_status (*run)(adapt_model *m, void *ctx), void *ctx)
{
    const lora_state *active = m->lora;
    if (!active || active->merged || !active->n_modules) return run(m, ctx);
    return lora_while_active(m, NULL, run, ctx);
}
