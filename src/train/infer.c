#include "train/infer.h"
#include "adapters/setup.h"
#include "core/error.h"
#include "core/fileio.h"
#include "formats/adapterhub.h"
#include "formats/head_labels.h"
#include "formats/peft.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void infer_split_spec(const char *spec, char *dir, size_t size, const char **name)
{
    snprintf(dir, size, "%s", spec);
    char *eq = access(spec, F_OK) == 0 ? NULL : strrchr(dir, '='); /* an existing path with '=' in it is a folder */
    *name = NULL;
    if (eq) {
        *eq = 0;
        *name = eq + 1;
    }
}

static bool has_file(const char *dir, const char *file)
{
    char *p = path_join(dir, file);
    bool yes = p && path_exists(p);
    free(p);
    return yes;
}

/* last_dir: caller's buffer of dir_size bytes that *head_dir may point into. */
static adapt_status load_parts(const infer_options *o, tagger *t, char *default_setup, size_t setup_size, char *last_dir,
                               size_t dir_size, const char **head_dir)
{
    char last[ADAPTER_NAME_MAX] = "";
    *head_dir = o->head_dir;
    for (int i = 0; i < o->n_adapters; i++) {
        const char *name;
        infer_split_spec(o->adapters[i], last_dir, dir_size, &name);
        TRY(adapterhub_load_adapter(t->m, last_dir, name, last, sizeof last));
        if (!*head_dir && has_file(last_dir, "head_config.json") && i == o->n_adapters - 1 && !o->n_fusions) *head_dir = last_dir;
    }
    snprintf(default_setup, setup_size, "%s", last);
    for (int i = 0; i < o->n_fusions; i++) {
        TRY(adapterhub_load_fusion(t->m, o->fusions[i]));
        const fusion_def *f = &t->m->setup->fusions[t->m->setup->n_fusions - 1];
        snprintf(default_setup, setup_size, "Fuse(");
        for (int k = 0; k < f->n; k++) {
            strncat(default_setup, f->adapters[k], setup_size - strlen(default_setup) - 1);
            strncat(default_setup, k + 1 < f->n ? ", " : ")", setup_size - strlen(default_setup) - 1);
        }
        if (!o->head_dir && has_file(o->fusions[i], "head_config.json")) *head_dir = o->fusions[i];
    }
    if (o->lora_dir) TRY(peft_load(t->m, o->lora_dir));
    return ADAPT_OK;
}

static adapt_status load_head(const infer_options *o, tagger *t, const char *head_dir)
{
    if (!head_dir) {
        if (o->head_optional) return ADAPT_OK;
        return adapt_fail(ADAPT_ERR_ARG, "no head: give --head DIR, or an adapter or fusion folder holding head_config.json");
    }
    return infer_load_head(head_dir, t);
}

adapt_status infer_read_head(adapt_model *m, const char *dir, const char *load_as, head *h, char ***labels, int *n_labels)
{
    TRY(adapterhub_load_head(m, dir, load_as, h));
    TRY(head_labels_read(dir, labels, n_labels, NULL, 0));
    if (*n_labels != h->num_labels)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: %d labels in label2id for a head of %d", dir, *n_labels, h->num_labels);
    return ADAPT_OK;
}

adapt_status infer_load_head(const char *dir, tagger *t) { return infer_read_head(t->m, dir, NULL, &t->h, &t->labels, &t->n_labels); }

adapt_status infer_open(const infer_options *o, tagger *t)
{
    memset(t, 0, sizeof *t);
    if (!o->model_dir) return adapt_fail(ADAPT_ERR_ARG, "no model folder given");
    t->max_len = o->max_len > 0 ? o->max_len : 128;
    t->batch_size = o->batch_size > 0 ? o->batch_size : 32;
    TRY(adapt_model_load_dtype(o->model_dir, o->weight_dtype, &t->m));
    char setup[1024] = "", dir_buf[4096];
    const char *head_dir = NULL;
    adapt_status s = adapt_tokenizer_load(o->tokenizer ? o->tokenizer : o->model_dir, &t->tok);
    if (!s) s = load_parts(o, t, setup, sizeof setup, dir_buf, sizeof dir_buf, &head_dir);
    if (!s) s = load_head(o, t, head_dir);
    if (!s) s = setup_activate(t->m, o->setup ? o->setup : setup);
    if (s) tagger_close(t);
    return s;
}
