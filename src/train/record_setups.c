#include "train/record_setups.h"
#include "adapters/setup.h"
#include "core/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool same_setup(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }

adapt_status for_each_record_setup(tagger *t, const dataset *ds, record_group_fn group, void *ctx)
{
    adapter_setup *registry;
    TRY(model_setup(t->m, &registry));
    size_t *members = malloc((ds->n + 1) * sizeof *members);
    bool *done = calloc(ds->n + 1, sizeof *done);
    adapt_status s = members && done ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    comp_node *command = registry->active; /* kept aside; the records' own are parsed per group */
    registry->active = NULL;
    for (size_t i = 0; !s && i < ds->n; i++) {
        if (done[i]) continue;
        const char *setup = ds->examples[i].setup;
        size_t n = 0;
        for (size_t j = i; j < ds->n; j++)
            if (!done[j] && same_setup(ds->examples[j].setup, setup)) members[n++] = j, done[j] = true;
        if (setup) {
            if ((s = setup_activate(t->m, setup))) {
                char where[512];
                snprintf(where, sizeof where, "%s:%zu: \"setup\"", ds->path, ds->examples[i].line);
                s = adapt_fail_in(s, where);
            }
        } else {
            comp_free(registry->active); /* the previous group's, if any */
            registry->active = command;
        }
        if (!s) s = group(t, members, n, ctx);
        if (!setup) registry->active = NULL; /* not freed: it is the command's */
    }
    comp_free(registry->active);
    registry->active = command;
    free(members);
    free(done);
    return s;
}
