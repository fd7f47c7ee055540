#include "data/glue.h"
#include "data/text_reader.h"
#include "core/error.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLUMNS 256

static const char *const LABELS_01[] = {"0", "1"};
static const char *const LABELS_ENTAIL2[] = {"entailment", "not_entailment"};
/* Hugging Face's glue/mnli order. */
static const char *const LABELS_MNLI[] = {"entailment", "neutral", "contradiction"};

#define L(x) x, sizeof x / sizeof *x

static const glue_task TASKS[] = {
    {"sst2", "SST-2", true, "sentence", NULL, "label", -1, -1, -1, 0, false, L(LABELS_01), "accuracy"},
    {"cola", "CoLA", false, NULL, NULL, NULL, 3, -1, 1, 4, false, L(LABELS_01), "mcc"},
    {"mrpc", "MRPC", true, "#1 String", "#2 String", "Quality", -1, -1, -1, 0, false, L(LABELS_01), "f1"},
    {"rte", "RTE", true, "sentence1", "sentence2", "label", -1, -1, -1, 0, false, L(LABELS_ENTAIL2), "accuracy"},
    {"qnli", "QNLI", true, "question", "sentence", "label", -1, -1, -1, 0, false, L(LABELS_ENTAIL2), "accuracy"},
    {"qqp", "QQP", true, "question1", "question2", "is_duplicate", -1, -1, -1, 0, false, L(LABELS_01), "f1"},
    {"mnli", "MNLI", true, "sentence1", "sentence2", "gold_label", -1, -1, -1, 0, false, L(LABELS_MNLI), "accuracy"},
    {"wnli", "WNLI", true, "sentence1", "sentence2", "label", -1, -1, -1, 0, false, L(LABELS_01), "accuracy"},
    {"stsb", "STS-B", true, "sentence1", "sentence2", "score", -1, -1, -1, 0, true, NULL, 0, "pearson"},
    {"tsv", "TSV", true, "sentence|sentence1|text|question|question1", "sentence2|text_pair|question2", "label",
     -1, -1, -1, 0, false, NULL, 0, "accuracy"},
};
#define N_TASKS (sizeof TASKS / sizeof *TASKS)

/* Lower-cases and drops '-', '_' and '.' so "SST-2", "sst_2" and "sst2" compare equal. */
static void squash(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; *in && n + 1 < cap; in++)
        if (*in != '-' && *in != '_' && *in != '.') out[n++] = (char)tolower((unsigned char)*in);
    out[n] = 0;
}

const glue_task *glue_task_find(const char *name)
{
    char want[32], have[32];
    if (!name || strlen(name) >= sizeof want) return NULL;
    squash(name, want, sizeof want);
    for (size_t i = 0; i < N_TASKS; i++) {
        squash(TASKS[i].name, have, sizeof have);
        if (strcmp(want, have) == 0) return &TASKS[i];
    }
    return NULL;
}

const glue_task *glue_task_from_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return NULL;
    const char *start = slash;
    while (start > path && start[-1] != '/') start--;
    char dir[32];
    size_t n = (size_t)(slash - start);
    if (n == 0 || n >= sizeof dir) return NULL;
    memcpy(dir, start, n);
    dir[n] = 0;
    const glue_task *t = glue_task_find(dir);
    return t && strcmp(t->name, "tsv") != 0 ? t : NULL;
}

/* ------------------------------------------------------------------ rows */

typedef struct row {
    const char *col[MAX_COLUMNS];
    size_t len[MAX_COLUMNS];
    size_t n;
} row;

/* Splits on tabs in place (each field NUL-terminated). */
static adapt_status split_row(char *line, size_t len, const char *path, size_t lno, row *r)
{
    r->n = 0;
    char *p = line, *end = line + len;
    for (;;) {
        if (r->n == MAX_COLUMNS) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: more than %d tab-separated columns", path, lno, MAX_COLUMNS);
        char *tab = memchr(p, '\t', (size_t)(end - p));
        r->col[r->n] = p;
        r->len[r->n] = tab ? (size_t)(tab - p) : (size_t)(end - p);
        r->n++;
        if (!tab) break;
        *tab = 0;
        p = tab + 1;
    }
    return ADAPT_OK;
}

/* Index of the first header column matching one of the '|'-separated names, or -1. */
static int find_column(const row *hdr, const char *names)
{
    if (!names) return -1;
    const char *p = names;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        for (size_t i = 0; i < hdr->n; i++)
            if (hdr->len[i] == n && memcmp(hdr->col[i], p, n) == 0) return (int)i;
        p += n + (bar ? 1 : 0);
    }
    return -1;
}

typedef struct layout {
    int text, pair, label;    /* -1: absent */
    int needed;               /* a row must have at least this many columns */
} layout;

static adapt_status layout_from_header(const glue_task *task, const glue_options *opt, char *line, size_t len,
                                       const char *path, layout *lay)
{
    row hdr;
    TRY(split_row(line, len, path, 1, &hdr));
    lay->text = find_column(&hdr, task->text_col);
    lay->pair = find_column(&hdr, task->pair_col);
    lay->label = find_column(&hdr, task->label_col);
    if (lay->text < 0)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s:1: %s header has no text column (expected %s)", path, task->display, task->text_col);
    if (task->pair_col && lay->pair < 0 && strcmp(task->name, "tsv") != 0)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s:1: %s header has no \"%s\" column", path, task->display, task->pair_col);
    if (lay->label < 0 && !opt->unlabeled)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s:1: %s header has no \"%s\" column", path, task->display, task->label_col);
    return ADAPT_OK;
}

static void layout_finish(layout *lay)
{
    int m = lay->text;
    if (lay->pair > m) m = lay->pair;
    if (lay->label > m) m = lay->label;
    lay->needed = m + 1;
}

static adapt_status parse_target(const char *s, const char *path, size_t lno, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    if (!*s || *end || errno == ERANGE || !isfinite(v))
        return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: regression target \"%s\" is not a finite number", path, lno, s);
    *out = v;
    return ADAPT_OK;
}

static adapt_status add_row(dataset *ds, const layout *lay, const row *r, bool labelled, size_t lno)
{
    const char *path = ds->path;
    if ((int)r->n < lay->needed)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: expected at least %d tab-separated columns, found %zu", path, lno, lay->needed, r->n);
    data_example *e = dataset_push(ds);
    if (!e) return ADAPT_ERR_NOMEM;
    e->line = lno;
    e->text = dataset_strndup(ds, r->col[lay->text], r->len[lay->text]);
    if (!e->text) return adapt_fail(ADAPT_ERR_NOMEM, "%s:%zu: out of memory", path, lno);
    if (lay->pair >= 0) {
        e->text_pair = dataset_strndup(ds, r->col[lay->pair], r->len[lay->pair]);
        if (!e->text_pair) return adapt_fail(ADAPT_ERR_NOMEM, "%s:%zu: out of memory", path, lno);
    }
    if (!labelled || lay->label < 0) return ADAPT_OK;
    const char *lab = r->col[lay->label];
    size_t lab_len = r->len[lay->label];
    while (lab_len > 0 && lab[lab_len - 1] == ' ') lab_len--;   /* tolerate "1 " */
    if (lab_len == 0) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: empty label in column %d", path, lno, lay->label + 1);
    if (lab_len > DATA_MAX_LABEL_BYTES) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: label longer than %zu bytes", path, lno, DATA_MAX_LABEL_BYTES);
    char *name = dataset_strndup(ds, lab, lab_len);
    if (!name) return adapt_fail(ADAPT_ERR_NOMEM, "%s:%zu: out of memory", path, lno);
    if (ds->kind == DATASET_REGRESSION) return parse_target(name, path, lno, &e->target);
    e->label_name = name;
    return ADAPT_OK;
}

static adapt_status read_rows(text_reader *tr, const glue_task *task, const glue_options *opt, dataset *ds)
{
    layout lay = {task->text_idx, task->pair_idx, opt->unlabeled ? -1 : task->label_idx, 0};
    bool need_header = task->has_header;
    row *r = malloc(sizeof *r);
    if (!r) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", ds->path);
    adapt_status st = ADAPT_OK;
    for (;;) {
        const char *cline;
        size_t len;
        st = text_reader_next(tr, &cline, &len);
        if (st != ADAPT_OK || !cline) break;
        char *line = (char *)cline;   /* the reader's buffer is ours until the next call */
        size_t lno = text_reader_line_number(tr);
        if (need_header) {
            st = layout_from_header(task, opt, line, len, ds->path, &lay);
            if (st != ADAPT_OK) break;
            if (opt->unlabeled) lay.label = -1;
            need_header = false;
            layout_finish(&lay);
            continue;
        }
        if (!lay.needed) layout_finish(&lay);
        if (len == 0) continue;      /* a stray empty line (often the last one) */
        st = split_row(line, len, ds->path, lno, r);
        if (st == ADAPT_OK) st = add_row(ds, &lay, r, !opt->unlabeled, lno);
        if (st != ADAPT_OK) break;
    }
    free(r);
    if (st == ADAPT_OK && need_header) st = adapt_fail(ADAPT_ERR_FORMAT, "%s: empty file (expected a %s header line)", ds->path, task->display);
    return st;
}

adapt_status glue_read(const char *path, const glue_task *task, const glue_options *opt, dataset *out)
{
    static const glue_options defaults = {NULL, 0, false, false};
    if (!opt) opt = &defaults;
    bool regression = task->regression || (opt->regression && strcmp(task->name, "tsv") == 0);
    dataset_init(out, regression ? DATASET_REGRESSION : DATASET_CLASSIFICATION, path);
    out->has_labels = !opt->unlabeled;
    if (!out->path) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    text_reader *tr;
    TRY(text_reader_open(path, 0, &tr));
    adapt_status st = read_rows(tr, task, opt, out);
    text_reader_close(tr);
    TRY(st);
    if (opt->labels) return dataset_finish_labels(out, opt->labels, opt->n_labels);
    return dataset_finish_labels(out, task->labels, task->n_labels);
}
