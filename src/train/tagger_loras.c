/* Several LoRAs in one tagger (`adapt predict --lora DIR=NAME ...`): a JSON Lines record's "lora"
 * picks the one it runs under. Each adapt-trained LoRA folder holds its own head; with several
 * LoRAs and neither --head nor adapters, each LoRA runs with its own, and all must share the
 * first's labels so that every record's tags read the same. */
#include "core/error.h"
#include "data/dataset.h"
#include "formats/head_labels.h"
#include "train/infer.h"
#include "train/tagger.h"
#include "adapters/lora.h"
#include <stdio.h>
#include <string.h>

/* "DIR=NAME" -> dir and name ("default", PEFT's, for a lone unnamed LoRA); an existing path with
 * '=' in it is a folder (infer_split_spec). */
static adapt_status split_lora(const char *spec, int n_loras, char *dir, size_t dir_size, char *name, size_t name_size)
{
    const char *given;
    infer_split_spec(spec, dir, dir_size, &given);
    if (!given && n_loras > 1)
        return adapt_fail(ADAPT_ERR_ARG, "--lora %s: with several LoRAs each needs a name (DIR=NAME) for the records' \"lora\"", spec);
    snprintf(name, name_size, "%s", given ? given : "default");
    if (!strcmp(name, DATA_BASE_MODEL)) return adapt_fail(ADAPT_ERR_ARG, "--lora %s: \"%s\" names the base model", spec, DATA_BASE_MODEL);
    return ADAPT_OK;
}

static bool same_labels(char **a, int na, char **b, int nb)
{
    if (na != nb) return false;
    for (int i = 0; i < na; i++)
        if (strcmp(a[i], b[i])) return false;
    return true;
}

/* LoRA `name`'s head from its folder, loaded under the LoRA's name (several folders' heads share
 * the trainer's name); its labels must be the command's (the first LoRA's). */
static adapt_status load_lora_head(tagger *t, const char *dir, const char *name)
{
    tagger_lora_head *lh = &t->lora_heads[t->n_lora_heads];
    snprintf(lh->lora, sizeof lh->lora, "%s", name);
    char **labels = NULL;
    int n = 0;
    adapt_status s = infer_read_head(t->m, dir, name, &lh->h, &labels, &n);
    if (!s && t->n_lora_heads && lh->h.kind != t->h.kind)
        s = adapt_fail(ADAPT_ERR_ARG, "%s: the head is of another kind than the first LoRA's (give one --head for all)", dir);
    if (!s && t->n_lora_heads && !same_labels(labels, n, t->labels, t->n_labels))
        s = adapt_fail(ADAPT_ERR_ARG, "%s: the head's labels differ from the first LoRA's (give one --head for all)", dir);
    if (!s && !t->n_lora_heads) {
        t->labels = labels, t->n_labels = n, labels = NULL;
        t->h = lh->h;
    }
    head_labels_free(labels, labels ? n : 0);
    if (!s) t->n_lora_heads++;
    return s;
}

adapt_status tagger_load_loras(const tagger_options *o, tagger *t, char *head_dir, size_t size)
{
    if (o->n_loras > TAGGER_MAX_LORAS) return adapt_fail(ADAPT_ERR_ARG, "at most %d LoRAs", TAGGER_MAX_LORAS);
    if (o->merge_lora && o->n_loras > 1) return adapt_fail(ADAPT_ERR_ARG, "--merge merges one LoRA, not %d", o->n_loras);
    bool own_heads = o->n_loras > 1 && !o->head_dir && !o->n_adapters;
    for (int i = 0; i < o->n_loras; i++) {
        char dir[1024], name[LORA_NAME_MAX + 8]; /* room for a name lora_check_name refuses as too long */
        TRY(split_lora(o->loras[i], o->n_loras, dir, sizeof dir, name, sizeof name));
        TRY(adapt_model_load_lora_as(t->m, dir, name));
        if (i == 0) snprintf(head_dir, size, "%s", dir);
        if (own_heads) TRY(load_lora_head(t, dir, name));
    }
    if (o->merge_lora) TRY(adapt_model_merge_lora(t->m));
    return ADAPT_OK;
}

adapt_status tagger_use_lora(tagger *t, const char *lora)
{
    if (!adapt_model_num_loras(t->m)) {
        if (lora) return adapt_fail(ADAPT_ERR_ARG, "LoRA \"%s\" named, but none is loaded (--lora DIR=NAME)", lora);
        return ADAPT_OK;
    }
    const char *name = !lora ? adapt_model_lora_name(t->m, 0) : strcmp(lora, DATA_BASE_MODEL) ? lora : NULL;
    bool known = !name;
    for (int i = 0; !known && i < adapt_model_num_loras(t->m); i++) known = !strcmp(adapt_model_lora_name(t->m, i), name);
    if (!known) return adapt_fail(ADAPT_ERR_ARG, "no LoRA named \"%s\" is loaded (--lora DIR=NAME)", name);
    const char *active = adapt_model_active_lora(t->m);
    if (!(active == name || (active && name && !strcmp(active, name)))) TRY(adapt_model_set_lora(t->m, name));
    t->h = t->command_head;
    for (int i = 0; name && i < t->n_lora_heads; i++)
        if (!strcmp(t->lora_heads[i].lora, name)) t->h = t->lora_heads[i].h;
    return ADAPT_OK;
}
