#include "train/record_setups.h"
#include "adapters/setup.h"
#include "core/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool same_text(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

static adapt_status at_record(adapt_status s, const dataset *ds, size_t i, const char *field)
{
    char where[512];
    snprintf(where, sizeof where, "%s:%zu: \"%s\"", ds->path, ds->examples[i].line, field);
    return adapt_fail_in(s, where);
}

/* keys[i]: record i's composition as the parser reads it, one spelling per meaning ("Stack(qu,ner)"
 * and "Stack(qu, ner)" are one group, as in adapt_model_encode_mixed); NULL without one. */
static adapt_status setup_keys(const dataset *ds, char **keys)
{
    for (size_t i = 0; i < ds->n; i++) {
        if (!ds->examples[i].setup) continue;
        comp_node *root;
        adapt_status s = comp_parse(ds->examples[i].setup, &root);
        if (s) return at_record(s, ds, i, "setup");
        char text[4096];
        comp_format(root, text, sizeof text);
        comp_free(root);
        if (!(keys[i] = strdup(text))) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    }
    return ADAPT_OK;
}

adapt_status for_each_record_setup(tagger *t, const dataset *ds, record_group_fn group, void *ctx)
{
    adapter_setup *registry;
    TRY(model_setup(t->m, &registry));
    size_t *members = malloc((ds->n + 1) * sizeof *members);
    bool *done = calloc(ds->n + 1, sizeof *done);
    char **keys = calloc(ds->n + 1, sizeof *keys);
    adapt_status s = members && done && keys ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (!s) s = setup_keys(ds, keys);
    comp_node *command = registry->active; /* kept aside; the records' own are parsed per group */
    registry->active = NULL;
    for (size_t i = 0; !s && i < ds->n; i++) {
        if (done[i]) continue;
        const char *setup = ds->examples[i].setup;
        size_t n = 0;
        for (size_t j = i; j < ds->n; j++)
            if (!done[j] && same_text(keys[j], keys[i]) && same_text(ds->examples[j].lora, ds->examples[i].lora))
                members[n++] = j, done[j] = true;
        if (setup) {
            if ((s = setup_activate(t->m, setup))) s = at_record(s, ds, i, "setup");
        } else {
            comp_free(registry->active); /* the previous group's, if any */
            registry->active = command;
        }
        if (!s && (s = tagger_use_lora(t, ds->examples[i].lora))) s = at_record(s, ds, i, "lora");
        if (!s) s = group(t, members, n, ctx);
        if (!setup) registry->active = NULL; /* not freed: it is the command's */
    }
    comp_free(registry->active);
    registry->active = command;
    adapt_status back = tagger_use_lora(t, NULL); /* the command's LoRA and head again */
    if (!s) s = back;
    for (size_t i = 0; keys && i < ds->n; i++) free(keys[i]);
    free(keys);
    free(members);
    free(done);
    return s;
}
