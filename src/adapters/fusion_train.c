#include "adapters/fusion_train.h"
#include "core/error.h"
#include <stdio.h>
#include <string.h>

void setup_fusion_step_temperature(adapt_model *m)
{
    for (int i = 0; m->setup && i < m->setup->n_fusions; i++) {
        fusion_def *f = &m->setup->fusions[i];
        f->temperature = fusion_next_temperature(&f->cfg, f->temperature);
    }
}

double setup_fusion_regularization(adapt_model *m, float grad_scale)
{
    double sum = 0;
    for (int i = 0; m->setup && i < m->setup->n_fusions; i++) {
        const fusion_def *f = &m->setup->fusions[i];
        if (!f->cfg.regularization || !f->cfg.value) continue;
        for (int l = 0; l < m->cfg.layers; l++) {
            if (f->has_attn[l]) sum += fusion_regularization(&f->attn[l], grad_scale);
            if (f->has_out[l]) sum += fusion_regularization(&f->out[l], grad_scale);
        }
    }
    return sum;
}

adapt_status fusion_names_parse(const char *list, char buf[FUSION_MAX_ADAPTERS][ADAPTER_NAME_MAX], const char **names, int *n)
{
    *n = 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        size_t len = strcspn(p, ", ");
        if (*n == FUSION_MAX_ADAPTERS) return adapt_fail(ADAPT_ERR_ARG, "fusion \"%.200s\": more than %d adapters", list, FUSION_MAX_ADAPTERS);
        if (len >= ADAPTER_NAME_MAX) return adapt_fail(ADAPT_ERR_ARG, "fusion \"%.200s\": adapter name too long", list);
        snprintf(buf[*n], ADAPTER_NAME_MAX, "%.*s", (int)len, p);
        for (int k = 0; k < *n; k++)
            if (!strcmp(buf[k], buf[*n])) return adapt_fail(ADAPT_ERR_ARG, "fusion \"%.200s\" names \"%s\" twice", list, buf[k]);
        names[*n] = buf[*n];
        (*n)++;
        p += len;
    }
    if (*n == 0) return adapt_fail(ADAPT_ERR_ARG, "fusion \"%.200s\" names no adapters", list);
    return ADAPT_OK;
}
