#include "data/dataset.h"
#include "core/error.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ arena */

/* Blocks are never moved, so pointers into them stay valid while the dataset grows. */
typedef struct data_arena_block {
    struct data_arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} data_arena_block;

#define ARENA_BLOCK_BYTES ((size_t)1 << 20)

void *dataset_alloc(dataset *ds, size_t bytes)
{
    size_t need = (bytes + 15) & ~(size_t)15;
    if (need < bytes) return NULL;
    data_arena_block *b = ds->arena;
    if (!b || b->cap - b->used < need) {
        /* Oversized requests get a block of their own, placed behind the current one so that the
         * current block keeps serving small requests. */
        size_t cap = need > ARENA_BLOCK_BYTES / 4 ? need : ARENA_BLOCK_BYTES;
        data_arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->used = 0;
        nb->cap = cap;
        if (b && cap != ARENA_BLOCK_BYTES) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            ds->arena = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

char *dataset_strndup(dataset *ds, const char *s, size_t len)
{
    char *p = dataset_alloc(ds, len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = 0;
    return p;
}

/* ------------------------------------------------------------------ dataset */

void dataset_init(dataset *ds, dataset_kind kind, const char *path)
{
    memset(ds, 0, sizeof *ds);
    ds->kind = kind;
    ds->has_labels = true;
    ds->path = path ? strdup(path) : NULL;
}

void dataset_free(dataset *ds)
{
    if (!ds) return;
    data_arena_block *b = ds->arena;
    while (b) {
        data_arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(ds->examples);
    free(ds->docstart_lines);
    free(ds->path);
    label_vocab_free(&ds->labels);
    memset(ds, 0, sizeof *ds);
}

data_example *dataset_push(dataset *ds)
{
    if (ds->n >= DATA_MAX_EXAMPLES) {
        adapt_fail(ADAPT_ERR_NOMEM, "%s: more than %zu examples", ds->path ? ds->path : "dataset",
                   DATA_MAX_EXAMPLES);
        return NULL;
    }
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 256;
        data_example *ex = realloc(ds->examples, cap * sizeof *ex);
        if (!ex) {
            adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory after %zu examples",
                       ds->path ? ds->path : "dataset", ds->n);
            return NULL;
        }
        ds->examples = ex;
        ds->cap = cap;
    }
    data_example *e = &ds->examples[ds->n++];
    memset(e, 0, sizeof *e);
    e->label = -1;
    return e;
}

/* ------------------------------------------------------------------ label vocabulary */

int32_t label_vocab_find(const label_vocab *v, const char *name)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->names[i], name) == 0) return (int32_t)i;
    return -1;
}

void label_vocab_free(label_vocab *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) free(v->names[i]);
    free(v->names);
    v->names = NULL;
    v->n = 0;
}

adapt_status label_vocab_from_list(label_vocab *v, const char *const *names, size_t n)
{
    label_vocab_free(v);
    if (n > DATA_MAX_LABELS) return adapt_fail(ADAPT_ERR_ARG, "label list has %zu names (limit %zu)", n, DATA_MAX_LABELS);
    if (n == 0) return ADAPT_OK;
    v->names = calloc(n, sizeof *v->names);
    if (!v->names) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for %zu labels", n);
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !names[i][0] || strlen(names[i]) > DATA_MAX_LABEL_BYTES) {
            label_vocab_free(v);
            return adapt_fail(ADAPT_ERR_ARG, "label list entry %zu is empty or longer than %zu bytes", i, DATA_MAX_LABEL_BYTES);
        }
        if (label_vocab_find(v, names[i]) >= 0) {
            adapt_status st = adapt_fail(ADAPT_ERR_ARG, "label list names \"%s\" twice", names[i]);
            label_vocab_free(v);
            return st;
        }
        v->names[i] = strdup(names[i]);
        v->n = i + 1;
        if (!v->names[i]) {
            label_vocab_free(v);
            return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for labels");
        }
    }
    return ADAPT_OK;
}

/* A growable set of borrowed names (labels are few; linear search is fine, and a hash keeps the
 * 160k-tag scans of a CoNLL file cheap). */
typedef struct name_set {
    const char **names;
    size_t n, cap;
    size_t *slots;       /* open addressing: index + 1, 0 = empty */
    size_t n_slots;
} name_set;

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static adapt_status name_set_add(name_set *set, const char *name)
{
    if (set->n * 2 >= set->n_slots) {
        size_t ns = set->n_slots ? set->n_slots * 2 : 64;
        size_t *slots = calloc(ns, sizeof *slots);
        if (!slots) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory collecting labels");
        for (size_t i = 0; i < set->n; i++) {
            size_t h = hash_str(set->names[i]) & (ns - 1);
            while (slots[h]) h = (h + 1) & (ns - 1);
            slots[h] = i + 1;
        }
        free(set->slots);
        set->slots = slots;
        set->n_slots = ns;
    }
    size_t h = hash_str(name) & (set->n_slots - 1);
    while (set->slots[h]) {
        if (strcmp(set->names[set->slots[h] - 1], name) == 0) return ADAPT_OK;
        h = (h + 1) & (set->n_slots - 1);
    }
    if (set->n >= DATA_MAX_LABELS) return adapt_fail(ADAPT_ERR_FORMAT, "more than %zu distinct labels", DATA_MAX_LABELS);
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        const char **names = realloc(set->names, cap * sizeof *names);
        if (!names) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory collecting labels");
        set->names = names;
        set->cap = cap;
    }
    set->names[set->n++] = name;
    set->slots[h] = set->n;
    return ADAPT_OK;
}

/* Index of `name` in insertion order, or -1. */
static int32_t name_set_find(const name_set *set, const char *name)
{
    if (!set->n_slots) return -1;
    size_t h = hash_str(name) & (set->n_slots - 1);
    while (set->slots[h]) {
        if (strcmp(set->names[set->slots[h] - 1], name) == 0) return (int32_t)(set->slots[h] - 1);
        h = (h + 1) & (set->n_slots - 1);
    }
    return -1;
}

static void name_set_free(name_set *set)
{
    free(set->names);
    free(set->slots);
}

static bool parse_integer(const char *s, long long *out)
{
    if (!*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno) return false;
    *out = v;
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_int_str(const void *a, const void *b)
{
    long long x = 0, y = 0;
    parse_integer(*(const char *const *)a, &x);
    parse_integer(*(const char *const *)b, &y);
    return (x > y) - (x < y);
}

/* Adds the IOB partner of every B-X / I-X so both are always in the label set. Partners are
 * built in the dataset arena, so the set keeps borrowing stable strings. */
static adapt_status add_iob_partners(dataset *ds, name_set *set)
{
    size_t n = set->n;
    for (size_t i = 0; i < n; i++) {
        const char *t = set->names[i];
        if ((t[0] != 'B' && t[0] != 'I') || t[1] != '-' || !t[2]) continue;
        char buf[DATA_MAX_LABEL_BYTES + 1];
        size_t len = strlen(t);
        if (len > DATA_MAX_LABEL_BYTES) continue;
        memcpy(buf, t, len + 1);
        buf[0] = t[0] == 'B' ? 'I' : 'B';
        if (name_set_find(set, buf) >= 0) continue;
        char *partner = dataset_strndup(ds, buf, len);
        if (!partner) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory collecting labels");
        TRY(name_set_add(set, partner));
    }
    return ADAPT_OK;
}

static adapt_status collect_labels(dataset *ds, name_set *set)
{
    for (size_t i = 0; i < ds->n; i++) {
        const data_example *e = &ds->examples[i];
        if (ds->kind == DATASET_TAGGING) {
            for (size_t j = 0; j < e->n_tokens; j++) TRY(name_set_add(set, e->tags[j]));
        } else if (e->label_name) {
            TRY(name_set_add(set, e->label_name));
        }
    }
    if (ds->kind == DATASET_TAGGING) {
        if (ds->iob) TRY(add_iob_partners(ds, set));
        /* "O" first, the rest sorted. */
        size_t start = 0;
        for (size_t i = 0; i < set->n; i++) {
            if (strcmp(set->names[i], "O") == 0) {
                const char *tmp = set->names[0];
                set->names[0] = set->names[i];
                set->names[i] = tmp;
                start = 1;
                break;
            }
        }
        if (set->n > start + 1) qsort(set->names + start, set->n - start, sizeof *set->names, cmp_str);
    } else {
        bool numeric = set->n > 0;
        long long v;
        for (size_t i = 0; i < set->n && numeric; i++) numeric = parse_integer(set->names[i], &v);
        if (set->n > 1) qsort(set->names, set->n, sizeof *set->names, numeric ? cmp_int_str : cmp_str);
    }
    return ADAPT_OK;
}

static adapt_status assign_ids(dataset *ds)
{
    const char *path = ds->path ? ds->path : "dataset";
    /* A hash from name to id keeps large tagging files linear. */
    name_set index = {0};
    adapt_status st = ADAPT_OK;
    for (size_t i = 0; i < ds->labels.n && st == ADAPT_OK; i++) st = name_set_add(&index, ds->labels.names[i]);
    for (size_t i = 0; i < ds->n && st == ADAPT_OK; i++) {
        data_example *e = &ds->examples[i];
        if (ds->kind == DATASET_TAGGING) {
            if (!e->tags) continue;
            for (size_t j = 0; j < e->n_tokens; j++) {
                int32_t id = name_set_find(&index, e->tags[j]);
                if (id < 0) {
                    st = adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: tag \"%s\" (word %zu of the sentence starting here) is not in the label list",
                                    path, e->line, e->tags[j], j + 1);
                    break;
                }
                e->tag_ids[j] = id;
            }
        } else if (e->label_name) {
            e->label = name_set_find(&index, e->label_name);
            if (e->label < 0)
                st = adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: label \"%s\" is not in the label list", path, e->line, e->label_name);
        }
    }
    name_set_free(&index);
    return st;
}

adapt_status dataset_finish_labels(dataset *ds, const char *const *given, size_t n_given)
{
    if (given) {
        TRY(label_vocab_from_list(&ds->labels, given, n_given));
    } else if (ds->kind != DATASET_REGRESSION && ds->has_labels) {
        name_set set = {0};
        adapt_status st = collect_labels(ds, &set);
        if (st == ADAPT_OK) st = label_vocab_from_list(&ds->labels, set.names, set.n);
        name_set_free(&set);
        TRY(st);
    }
    if (ds->kind == DATASET_REGRESSION || !ds->has_labels) return ADAPT_OK;
    if (ds->labels.n == 0 && ds->n > 0)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: the label list is empty", ds->path ? ds->path : "dataset");
    return assign_ids(ds);
}
