/* A model's named LoRAs (PEFT's load_adapter / set_adapter / delete_adapter): one is active at a
 * time (m->lora), the others wait with their factors in the store. modules_to_save tensors (a
 * classifier trained with the LoRA) exist once in the model, so switching copies values: the
 * leaving LoRA's into its own copy (training may have changed them), the base values back, then
 * the arriving LoRA's. */
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
    for (int i = 0; cur && i < cur->n_modules; i++) {
        copy_values(cur->modules[i].own, cur->modules[i].live);
        copy_values(cur->modules[i].live, cur->modules[i].base);
    }
    for (int i = 0; next && i < next->n_modules; i++) copy_values(next->modules[i].live, next->modules[i].own);
    m->lora = next;
    return ADAPT_OK;
}

bool lora_staged_by(const char *tensor, const char *lora)
{
    size_t p = strlen(LORA_STAGE_PREFIX), n = strlen(lora);
    return !strncmp(tensor, LORA_STAGE_PREFIX, p) && !strncmp(tensor + p, lora, n) && tensor[p + n] == '.';
}

adapt_status lora_delete(adapt_model *m, const char *name)
{
    lora_state *s = lora_find(m, name);
    if (!s) return adapt_fail(ADAPT_ERR_ARG, "no LoRA named \"%.80s\" is loaded", name ? name : "");
    if (m->lora == s) TRY(lora_activate(m, NULL));
    int k = 0;
    while (m->loras[k] != s) k++;
    memmove(&m->loras[k], &m->loras[k + 1], (size_t)(m->n_loras - k - 1) * sizeof m->loras[0]);
    m->n_loras--;
    char own[LORA_NAME_MAX];
    snprintf(own, sizeof own, "%s", s->name);
    lora_state_free(s); /* before its tensors go: it points at them */
    store_remove_matching(&m->store, lora_tensor_of, own);
    store_remove_matching(&m->store, lora_staged_by, own);
    return ADAPT_OK;
}

/* The model's tensor `name` (created, zero, when the model has none: a classifier the base lacks)
 * and its base copy (made once, from the values before any LoRA's). */
static adapt_status live_and_base(adapt_model *m, const param *own, const char *name, const char *file, param **live,
                                  param **base)
{
    *live = store_get(&m->store, name);
    if (*live) {
        bool same = (*live)->ndim == own->ndim;
        for (int d = 0; same && d < own->ndim; d++) same = (*live)->shape[d] == own->shape[d];
        if (!same) return adapt_fail(ADAPT_ERR_FORMAT, "%s: tensor \"%s\" does not have the shape of the model's", file, name);
        char what[600];
        snprintf(what, sizeof what, "loading %.500s", file);
        TRY(param_require_fp32(*live, what));
    } else {
        TRY(store_add(&m->store, name, own->ndim, own->shape, live));
    }
    char base_name[600];
    snprintf(base_name, sizeof base_name, LORA_STAGE_PREFIX BASE_COPY ".%s", name);
    *base = store_get(&m->store, base_name);
    if (*base) return ADAPT_OK;
    TRY(store_add(&m->store, base_name, own->ndim, own->shape, base));
    copy_values(*base, *live);
    return ADAPT_OK;
}

adapt_status lora_bind_modules(adapt_model *m, lora_state *s, const char *file)
{
    size_t n = 0;
    for (size_t i = 0; i < m->store.count; i++) n += lora_staged_by(m->store.items[i]->name, s->name);
    if (!n) return ADAPT_OK;
    s->modules = calloc(n, sizeof *s->modules);
    if (!s->modules) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    size_t skip = strlen(LORA_STAGE_PREFIX) + strlen(s->name) + 1;
    for (size_t i = 0; i < m->store.count && s->n_modules < (int)n; i++) {
        param *own = m->store.items[i];
        if (!lora_staged_by(own->name, s->name)) continue;
        lora_module *mod = &s->modules[s->n_modules];
        char name[512];
        snprintf(name, sizeof name, "%s", own->name + skip);
        TRY(live_and_base(m, own, name, file, &mod->live, &mod->base));
        mod->own = own;
        s->n_modules++;
    }
    if (m->lora == s)
        for (int i = 0; i < s->n_modules; i++) copy_values(s->modules[i].live, s->modules[i].own);
    return ADAPT_OK;
}

void lora_free_all(adapt_model *m)
{
    for (int i = 0; i < m->n_loras; i++) lora_state_free(m->loras[i]);
    m->n_loras = 0;
    m->lora = NULL;
}
