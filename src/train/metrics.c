#include "train/metrics.h"
#include "core/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define IGNORE_INDEX (-100)

/* ================================================================== entities (seqeval) */

typedef struct entity {
    size_t start, end;       /* first and last word */
    const char *type;        /* points into a tag (or the literal "_") */
    size_t type_len;
} entity;

typedef struct tag_parts {
    char prefix;             /* 'O', 'B', 'I', 'E', 'S' */
    const char *type;
    size_t type_len;
} tag_parts;

/* seqeval get_entities: tag = chunk[0], type = chunk[1:].split('-', 1)[-1] or '_'. */
static adapt_status parse_default(const char *t, tag_parts *p)
{
    bool bare = (t[0] == 'O' || t[0] == 'B' || t[0] == 'I' || t[0] == 'E' || t[0] == 'S') && t[1] == 0;
    bool typed = (t[0] == 'B' || t[0] == 'I' || t[0] == 'E' || t[0] == 'S') && t[1] == '-';
    if (!bare && !typed)
        return adapt_fail(ADAPT_ERR_ARG, "tag \"%s\" is not an entity tag (expected O or B-/I-/E-/S-TYPE)", t);
    p->prefix = t[0];
    const char *rest = t + 1;
    const char *dash = strchr(rest, '-');
    if (dash) rest = dash + 1;
    p->type = *rest ? rest : "_";
    p->type_len = *rest ? strlen(rest) : 1;
    return ADAPT_OK;
}

/* seqeval scheme.Token: prefix = token[0], tag = token[1:].strip('-') or '_'. */
static adapt_status parse_strict(const char *t, tag_parts *p)
{
    if (t[0] != 'B' && t[0] != 'I' && t[0] != 'O')
        return adapt_fail(ADAPT_ERR_ARG, "tag \"%s\" is not valid in IOB2 (allowed prefixes are B, I and O)", t);
    p->prefix = t[0];
    const char *s = t + 1;
    while (*s == '-') s++;
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == '-') len--;
    p->type = len ? s : "_";
    p->type_len = len ? len : 1;
    return ADAPT_OK;
}

static bool same_type(const tag_parts *a, const tag_parts *b)
{
    return a->type_len == b->type_len && memcmp(a->type, b->type, a->type_len) == 0;
}

static const tag_parts OUTSIDE = {'O', "_", 1};

/* seqeval end_of_chunk / start_of_chunk. Tags are validated, so '.' cannot occur. */
static bool chunk_ends(const tag_parts *prev, const tag_parts *cur)
{
    char p = prev->prefix, c = cur->prefix;
    if (p == 'E' || p == 'S') return true;
    if ((p == 'B' || p == 'I') && (c == 'B' || c == 'S' || c == 'O')) return true;
    return p != 'O' && !same_type(prev, cur);
}

static bool chunk_starts(const tag_parts *prev, const tag_parts *cur)
{
    char p = prev->prefix, c = cur->prefix;
    if (c == 'B' || c == 'S') return true;
    if ((p == 'E' || p == 'S' || p == 'O') && (c == 'E' || c == 'I')) return true;
    return c != 'O' && !same_type(prev, cur);
}

/* The parts of tag i, with the sentinel "O" at i == n. */
static adapt_status tag_at(const char *const *tags, size_t i, size_t n, ner_mode mode, tag_parts *p)
{
    if (i == n) {
        *p = OUTSIDE;
        return ADAPT_OK;
    }
    if (!tags[i] || !tags[i][0]) return adapt_fail(ADAPT_ERR_ARG, "empty tag at position %zu", i);
    return mode == NER_MODE_STRICT ? parse_strict(tags[i], p) : parse_default(tags[i], p);
}

static void emit(entity *out, size_t *n_out, size_t start, size_t end, const tag_parts *p)
{
    entity *e = &out[(*n_out)++];
    e->start = start;
    e->end = end;
    e->type = p->type;
    e->type_len = p->type_len;
}

/* seqeval get_entities over one sentence (the sentence plus a closing "O"). */
static adapt_status entities_default(const char *const *tags, size_t n, entity *out, size_t *n_out)
{
    *n_out = 0;
    tag_parts prev = OUTSIDE, cur;
    size_t begin = 0;
    for (size_t i = 0; i <= n; i++) {
        TRY(tag_at(tags, i, n, NER_MODE_DEFAULT, &cur));
        if (chunk_ends(&prev, &cur)) emit(out, n_out, begin, i - 1, &prev);
        if (chunk_starts(&prev, &cur)) begin = i;
        prev = cur;
    }
    return ADAPT_OK;
}

/* seqeval scheme.Tokens.entities with IOB2: B-X opens an entity, following I-X of the same type
 * continue it; whatever comes next (O, B, I of another type) closes it. An I-X that does not
 * continue an entity is no entity at all. */
static adapt_status entities_strict(const char *const *tags, size_t n, entity *out, size_t *n_out)
{
    *n_out = 0;
    tag_parts cur, next, first;
    for (size_t i = 0; i < n; i++) TRY(tag_at(tags, i, n, NER_MODE_STRICT, &cur));   /* all tags valid */
    size_t i = 0;
    while (i < n) {
        TRY(tag_at(tags, i, n, NER_MODE_STRICT, &first));
        if (first.prefix != 'B') {
            i++;
            continue;
        }
        cur = first;
        size_t j = i + 1;
        for (; j < n; j++) {
            TRY(tag_at(tags, j, n, NER_MODE_STRICT, &next));
            if (next.prefix != 'I' || !same_type(&cur, &next)) break;
            cur = next;
        }
        emit(out, n_out, i, j - 1, &first);
        i = j;
    }
    return ADAPT_OK;
}

static int cmp_entity(const void *a, const void *b)
{
    const entity *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    size_t m = x->type_len < y->type_len ? x->type_len : y->type_len;
    int c = memcmp(x->type, y->type, m);
    if (c) return c;
    return (x->type_len > y->type_len) - (x->type_len < y->type_len);
}

/* Sorts and drops duplicates: seqeval compares sets of entities. */
static size_t sort_unique(entity *e, size_t n)
{
    if (n < 2) return n;
    qsort(e, n, sizeof *e, cmp_entity);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (cmp_entity(&e[i], &e[k - 1]) != 0) e[k++] = e[i];
    return k;
}

void ner_eval_init(ner_eval *ev, ner_mode mode)
{
    memset(ev, 0, sizeof *ev);
    ev->mode = mode;
}

void ner_eval_free(ner_eval *ev)
{
    if (!ev) return;
    for (size_t i = 0; i < ev->n_types; i++) free(ev->types[i].type);
    free(ev->types);
    free(ev->scratch);
    memset(ev, 0, sizeof *ev);
}

static adapt_status type_slot(ner_eval *ev, const entity *e, ner_type_stats **out)
{
    for (size_t i = 0; i < ev->n_types; i++) {
        if (strlen(ev->types[i].type) == e->type_len && memcmp(ev->types[i].type, e->type, e->type_len) == 0) {
            *out = &ev->types[i];
            return ADAPT_OK;
        }
    }
    if (ev->n_types == ev->cap_types) {
        size_t cap = ev->cap_types ? ev->cap_types * 2 : 8;
        ner_type_stats *t = realloc(ev->types, cap * sizeof *t);
        if (!t) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for entity types");
        ev->types = t;
        ev->cap_types = cap;
    }
    ner_type_stats *t = &ev->types[ev->n_types];
    memset(t, 0, sizeof *t);
    t->type = strndup(e->type, e->type_len);
    if (!t->type) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for entity types");
    ev->n_types++;
    *out = t;
    return ADAPT_OK;
}

adapt_status ner_eval_add(ner_eval *ev, const char *const *gold, const char *const *pred, size_t n)
{
    if (n == 0) return ADAPT_OK;
    /* A sentence has at most n entities per side. */
    if (n > ev->scratch_cap) {
        entity *s = realloc(ev->scratch, 2 * n * sizeof *s);
        if (!s) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for a sentence of %zu tags", n);
        ev->scratch = s;
        ev->scratch_cap = n;
    }
    entity *eg = ev->scratch, *ep = eg + n;
    size_t ng, np;
    if (ev->mode == NER_MODE_STRICT) {
        TRY(entities_strict(gold, n, eg, &ng));
        TRY(entities_strict(pred, n, ep, &np));
    } else {
        TRY(entities_default(gold, n, eg, &ng));
        TRY(entities_default(pred, n, ep, &np));
    }
    ng = sort_unique(eg, ng);
    np = sort_unique(ep, np);
    ner_type_stats *t;
    for (size_t i = 0; i < ng; i++) {
        TRY(type_slot(ev, &eg[i], &t));
        t->n_true++;
    }
    for (size_t i = 0; i < np; i++) {
        TRY(type_slot(ev, &ep[i], &t));
        t->n_pred++;
    }
    /* Both lists are sorted: a merge finds the matches. */
    for (size_t i = 0, j = 0; i < ng && j < np;) {
        int c = cmp_entity(&eg[i], &ep[j]);
        if (c < 0) i++;
        else if (c > 0) j++;
        else {
            TRY(type_slot(ev, &eg[i], &t));
            t->n_correct++;
            ev->n_correct++;
            i++, j++;
        }
    }
    ev->n_true += ng;
    ev->n_pred += np;
    for (size_t i = 0; i < n; i++) ev->n_tokens_correct += strcmp(gold[i], pred[i]) == 0;
    ev->n_tokens += n;
    return ADAPT_OK;
}

adapt_status ner_eval_add_ids(ner_eval *ev, const int32_t *gold, const int32_t *pred, size_t n,
                              const char *const *id2label, size_t n_labels)
{
    const char **g = malloc((n ? 2 * n : 1) * sizeof *g);
    if (!g) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for a sentence of %zu tags", n);
    const char **p = g + n;
    size_t k = 0;
    adapt_status st = ADAPT_OK;
    for (size_t i = 0; i < n; i++) {
        if (gold[i] == IGNORE_INDEX) continue;
        if (gold[i] < 0 || (size_t)gold[i] >= n_labels || pred[i] < 0 || (size_t)pred[i] >= n_labels) {
            st = adapt_fail(ADAPT_ERR_ARG, "label id %d / %d at position %zu is outside [0, %zu)", (int)gold[i], (int)pred[i], i, n_labels);
            break;
        }
        g[k] = id2label[gold[i]];
        p[k] = id2label[pred[i]];
        k++;
    }
    if (st == ADAPT_OK) st = ner_eval_add(ev, g, p, k);
    free(g);
    return st;
}

static prf_scores prf(size_t n_correct, size_t n_pred, size_t n_true)
{
    prf_scores s;
    s.precision = n_pred ? (double)n_correct / (double)n_pred : 0.0;
    s.recall = n_true ? (double)n_correct / (double)n_true : 0.0;
    double d = s.precision + s.recall;
    s.f1 = d > 0 ? 2 * s.precision * s.recall / d : 0.0;
    return s;
}

prf_scores ner_eval_scores(const ner_eval *ev) { return prf(ev->n_correct, ev->n_pred, ev->n_true); }

prf_scores ner_eval_type_scores(const ner_eval *ev, size_t i)
{
    const ner_type_stats *t = &ev->types[i];
    return prf(t->n_correct, t->n_pred, t->n_true);
}

prf_scores ner_eval_macro(const ner_eval *ev)
{
    prf_scores m = {0, 0, 0};
    for (size_t i = 0; i < ev->n_types; i++) {
        prf_scores s = ner_eval_type_scores(ev, i);
        m.precision += s.precision;
        m.recall += s.recall;
        m.f1 += s.f1;
    }
    if (ev->n_types) {
        m.precision /= (double)ev->n_types;
        m.recall /= (double)ev->n_types;
        m.f1 /= (double)ev->n_types;
    }
    return m;
}

double ner_eval_accuracy(const ner_eval *ev)
{
    return ev->n_tokens ? (double)ev->n_tokens_correct / (double)ev->n_tokens : 0.0;
}

/* ================================================================== classification (sklearn) */

static adapt_status check_ids(const int32_t *gold, const int32_t *pred, size_t n, int n_classes)
{
    if (n_classes <= 0) return adapt_fail(ADAPT_ERR_ARG, "metric needs at least one class, got %d", n_classes);
    for (size_t i = 0; i < n; i++)
        if (gold[i] < 0 || gold[i] >= n_classes || pred[i] < 0 || pred[i] >= n_classes)
            return adapt_fail(ADAPT_ERR_ARG, "label %d / prediction %d at position %zu is outside [0, %d)", (int)gold[i], (int)pred[i], i, n_classes);
    return ADAPT_OK;
}

adapt_status metric_accuracy(const int32_t *gold, const int32_t *pred, size_t n, double *out)
{
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) ok += gold[i] == pred[i];
    *out = n ? (double)ok / (double)n : 0.0;
    return ADAPT_OK;
}

/* Per-class true-positive, gold and predicted counts. */
static adapt_status class_counts(const int32_t *gold, const int32_t *pred, size_t n, int n_classes,
                                 double **tp, double **gs, double **ps)
{
    TRY(check_ids(gold, pred, n, n_classes));
    double *buf = calloc(3 * (size_t)n_classes, sizeof *buf);
    if (!buf) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for %d classes", n_classes);
    *tp = buf;
    *gs = buf + n_classes;
    *ps = buf + 2 * (size_t)n_classes;
    for (size_t i = 0; i < n; i++) {
        (*gs)[gold[i]] += 1;
        (*ps)[pred[i]] += 1;
        if (gold[i] == pred[i]) (*tp)[gold[i]] += 1;
    }
    return ADAPT_OK;
}

/* F1 = 2tp / (2tp + fp + fn), 0 when nothing is predicted or present (zero_division=0). */
static double f1_of(double tp, double g, double p)
{
    return g + p > 0 ? 2 * tp / (g + p) : 0.0;
}

adapt_status metric_macro_f1(const int32_t *gold, const int32_t *pred, size_t n, int n_classes, double *out)
{
    double *tp, *gs, *ps;
    TRY(class_counts(gold, pred, n, n_classes, &tp, &gs, &ps));
    double sum = 0;
    int present = 0;
    for (int k = 0; k < n_classes; k++) {
        if (gs[k] == 0 && ps[k] == 0) continue;   /* sklearn averages over labels that occur */
        sum += f1_of(tp[k], gs[k], ps[k]);
        present++;
    }
    free(tp);
    *out = present ? sum / present : 0.0;
    return ADAPT_OK;
}

adapt_status metric_binary_f1(const int32_t *gold, const int32_t *pred, size_t n, int32_t positive, double *out)
{
    double tp = 0, g = 0, p = 0;
    for (size_t i = 0; i < n; i++) {
        g += gold[i] == positive;
        p += pred[i] == positive;
        tp += gold[i] == positive && pred[i] == positive;
    }
    *out = f1_of(tp, g, p);
    return ADAPT_OK;
}

adapt_status metric_matthews(const int32_t *gold, const int32_t *pred, size_t n, int n_classes, double *out)
{
    double *tp, *gs, *ps;
    TRY(class_counts(gold, pred, n, n_classes, &tp, &gs, &ps));
    double c = 0, s = (double)n, tt = 0, pp = 0, tpd = 0;
    for (int k = 0; k < n_classes; k++) {
        c += tp[k];
        tt += gs[k] * gs[k];
        pp += ps[k] * ps[k];
        tpd += gs[k] * ps[k];
    }
    free(tp);
    double cov_ytyp = c * s - tpd, cov_ypyp = s * s - pp, cov_ytyt = s * s - tt;
    *out = (cov_ypyp * cov_ytyt == 0) ? 0.0 : cov_ytyp / sqrt(cov_ytyt * cov_ypyp);
    return ADAPT_OK;
}

/* ================================================================== correlation (scipy) */

static adapt_status check_finite(const double *x, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return adapt_fail(ADAPT_ERR_NUMERIC, "%s[%zu] is not finite", what, i);
    return ADAPT_OK;
}

adapt_status metric_pearson(const double *x, const double *y, size_t n, double *out)
{
    TRY(check_finite(x, n, "x"));
    TRY(check_finite(y, n, "y"));
    *out = 0.0;
    if (n < 2) return ADAPT_OK;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (sxx == 0 || syy == 0) return ADAPT_OK;
    double r = sxy / (sqrt(sxx) * sqrt(syy));
    *out = r > 1 ? 1 : r < -1 ? -1 : r;
    return ADAPT_OK;
}

typedef struct ranked {
    double v;
    size_t i;
} ranked;

static int cmp_ranked(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

adapt_status metric_rank_average(const double *x, size_t n, double *ranks)
{
    TRY(check_finite(x, n, "x"));
    ranked *r = malloc((n ? n : 1) * sizeof *r);
    if (!r) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory ranking %zu values", n);
    for (size_t i = 0; i < n; i++) r[i] = (ranked){x[i], i};
    qsort(r, n, sizeof *r, cmp_ranked);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && r[j + 1].v == r[i].v) j++;
        double avg = (double)(i + j) / 2.0 + 1.0;    /* ranks i+1 .. j+1 share their mean */
        for (size_t k = i; k <= j; k++) ranks[r[k].i] = avg;
        i = j + 1;
    }
    free(r);
    return ADAPT_OK;
}

adapt_status metric_spearman(const double *x, const double *y, size_t n, double *out)
{
    *out = 0.0;
    double *rx = malloc((n ? 2 * n : 1) * sizeof *rx);
    if (!rx) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory ranking %zu values", n);
    double *ry = rx + n;
    adapt_status st = metric_rank_average(x, n, rx);
    if (st == ADAPT_OK) st = metric_rank_average(y, n, ry);
    if (st == ADAPT_OK) st = metric_pearson(rx, ry, n, out);
    free(rx);
    return st;
}
