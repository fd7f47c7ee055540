/* Composition strings, AdapterHub's composition blocks as text:
 *   node  := NAME | BLOCK "(" arg ("," arg)* ")"
 *   BLOCK := Stack | Fuse | BatchSplit | Average | Parallel | Split     (case-insensitive)
 *   arg   := node | "batch_sizes" "=" list | "weights" "=" list | "splits" "=" (list | INT)
 * Nesting follows the library's rules: Fuse takes adapter names only; BatchSplit needs one batch
 * size per child; Average takes adapter names and optional weights (normalised to sum 1);
 * Parallel takes names, Stack, BatchSplit and Average and sits at the top or inside top-level
 * Stacks (the batch is replicated once, before the encoder); Split takes names, Split, Stack,
 * BatchSplit and Average, with splits=[k1, ..., kn] tokens per child (adapters 1.x: they must add
 * up to the sequence length), splits=k (k tokens per child) or, for two children, splits=[k]
 * (adapter-transformers' split_index: the first k tokens, then the rest). */
#include "adapters/setup.h"
#include "core/error.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COMP_MAX_DEPTH 16
#define COMP_MAX_CHILDREN 64

typedef struct parser {
    const char *text, *p;
    int depth;
} parser;

static void skip_space(parser *ps)
{
    while (isspace((unsigned char)*ps->p)) ps->p++;
}

static adapt_status syntax(parser *ps, const char *what)
{
    return adapt_fail(ADAPT_ERR_ARG, "setup \"%.200s\": %s at character %d", ps->text, what, (int)(ps->p - ps->text) + 1);
}

static size_t read_word(parser *ps, char *out, size_t size)
{
    skip_space(ps);
    size_t n = 0;
    while (*ps->p && (isalnum((unsigned char)*ps->p) || *ps->p == '_' || *ps->p == '-' || (unsigned char)*ps->p >= 0x80)) {
        if (n + 1 < size) out[n] = *ps->p;
        n++;
        ps->p++;
    }
    out[n < size ? n : size - 1] = 0;
    return n;
}

void comp_free(comp_node *n)
{
    if (!n) return;
    for (int i = 0; i < n->n; i++) comp_free(n->children[i]);
    free(n->children);
    free(n->batch_sizes);
    free(n->weights);
    free(n->splits);
    free(n);
}

static adapt_status parse_list(parser *ps, double *vals, int *count, bool scalar_ok)
{
    skip_space(ps);
    if (scalar_ok && *ps->p != '[') { /* splits=k */
        char *end;
        double v = strtod(ps->p, &end);
        if (end == ps->p) return syntax(ps, "expected a number or '['");
        ps->p = end;
        vals[0] = v;
        *count = -2; /* one scalar */
        return ADAPT_OK;
    }
    if (*ps->p != '[') return syntax(ps, "expected '['");
    ps->p++;
    *count = 0;
    for (;;) {
        skip_space(ps);
        if (*ps->p == ']') {
            ps->p++;
            return ADAPT_OK;
        }
        char *end;
        double v = strtod(ps->p, &end);
        if (end == ps->p) return syntax(ps, "expected a number");
        if (*count == COMP_MAX_CHILDREN) return syntax(ps, "too many values");
        vals[(*count)++] = v;
        ps->p = end;
        skip_space(ps);
        if (*ps->p == ',') ps->p++;
        else if (*ps->p != ']') return syntax(ps, "expected ',' or ']'");
    }
}

static adapt_status parse_node(parser *ps, comp_node **out);

static adapt_status parse_block(parser *ps, comp_kind kind, comp_node *node)
{
    comp_node *children[COMP_MAX_CHILDREN];
    double sizes[COMP_MAX_CHILDREN], weights[COMP_MAX_CHILDREN], splits[COMP_MAX_CHILDREN];
    int n = 0, n_sizes = -1, n_weights = -1, n_splits = -1;
    adapt_status st = ADAPT_OK;
    ps->p++; /* '(' */
    for (;;) {
        skip_space(ps);
        const char *save = ps->p;
        char word[ADAPTER_NAME_MAX];
        read_word(ps, word, sizeof word);
        skip_space(ps);
        if (*ps->p == '=' && (!strcmp(word, "batch_sizes") || !strcmp(word, "weights"))) {
            ps->p++;
            bool is_sizes = !strcmp(word, "batch_sizes");
            st = parse_list(ps, is_sizes ? sizes : weights, is_sizes ? &n_sizes : &n_weights, false);
        } else if (*ps->p == '=' && !strcmp(word, "splits")) {
            ps->p++;
            st = parse_list(ps, splits, &n_splits, true);
        } else {
            ps->p = save;
            if (n == COMP_MAX_CHILDREN) st = syntax(ps, "too many children");
            else st = parse_node(ps, &children[n]);
            if (!st) n++;
        }
        if (st) break;
        skip_space(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == ')') {
            ps->p++;
            break;
        }
        st = syntax(ps, "expected ',' or ')'");
        break;
    }
    if (!st && n == 0) st = syntax(ps, "a block needs at least one child");
    if (!st && (kind == COMP_FUSE || kind == COMP_AVERAGE))
        for (int i = 0; i < n && !st; i++)
            if (children[i]->kind != COMP_SINGLE) st = syntax(ps, "Fuse and Average take adapter names only");
    if (!st && kind == COMP_BATCHSPLIT && n_sizes != n) st = syntax(ps, "BatchSplit needs batch_sizes=[...] with one size per child");
    if (!st && kind != COMP_BATCHSPLIT && n_sizes >= 0) st = syntax(ps, "batch_sizes only applies to BatchSplit");
    if (!st && kind != COMP_AVERAGE && n_weights >= 0) st = syntax(ps, "weights only applies to Average");
    if (!st && kind == COMP_AVERAGE && n_weights >= 0 && n_weights != n) st = syntax(ps, "Average needs one weight per adapter");
    if (!st && kind != COMP_SPLIT && n_splits != -1) st = syntax(ps, "splits only applies to Split");
    if (!st && kind == COMP_SPLIT) {
        if (n_splits == -1) st = syntax(ps, "Split needs splits=[...] (tokens per child)");
        else if (n_splits == -2) { /* splits=k: k tokens per child */
            for (int i = 1; i < n; i++) splits[i] = splits[0];
            n_splits = n;
        } else if (n_splits != n && !(n_splits == 1 && n == 2))
            st = syntax(ps, "Split needs one split per child (or, with two children, one split index)");
        for (int i = 0; i < n_splits && !st; i++)
            if (!(splits[i] >= 0 && splits[i] <= 1e6) || splits[i] != (int)splits[i]) st = syntax(ps, "splits must be integers >= 0");
    }
    for (int i = 0; i < n && !st; i++) {
        comp_kind ck = children[i]->kind;
        if (kind == COMP_PARALLEL && !(ck == COMP_SINGLE || ck == COMP_STACK || ck == COMP_BATCHSPLIT || ck == COMP_AVERAGE))
            st = syntax(ps, "Parallel takes adapter names, Stack, BatchSplit and Average");
        if (kind == COMP_SPLIT && !(ck == COMP_SINGLE || ck == COMP_STACK || ck == COMP_BATCHSPLIT || ck == COMP_AVERAGE || ck == COMP_SPLIT))
            st = syntax(ps, "Split takes adapter names, Split, Stack, BatchSplit and Average");
    }
    if (!st && n > FUSION_MAX_ADAPTERS && (kind == COMP_PARALLEL)) st = syntax(ps, "too many Parallel channels");
    node->children = calloc((size_t)n, sizeof *node->children);
    if (!st && !node->children) st = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    if (st) {
        for (int i = 0; i < n; i++) comp_free(children[i]);
        return st;
    }
    node->n = n;
    memcpy(node->children, children, (size_t)n * sizeof *children);
    if (kind == COMP_BATCHSPLIT) {
        node->batch_sizes = calloc((size_t)n, sizeof(int));
        if (!node->batch_sizes) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        for (int i = 0; i < n; i++) {
            if (!(sizes[i] >= 0 && sizes[i] <= 1e6) || sizes[i] != (int)sizes[i]) return syntax(ps, "batch sizes must be integers >= 0");
            node->batch_sizes[i] = (int)sizes[i];
        }
    }
    if (kind == COMP_AVERAGE) {
        node->weights = calloc((size_t)n, sizeof(double));
        if (!node->weights) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        double total = 0;
        for (int i = 0; i < n; i++) total += node->weights[i] = n_weights >= 0 ? weights[i] : 1.0;
        if (!(total > 0)) return syntax(ps, "Average weights must sum to a positive number");
        for (int i = 0; i < n; i++) node->weights[i] /= total;
    }
    if (kind == COMP_SPLIT) {
        node->splits = calloc((size_t)n_splits, sizeof(int));
        if (!node->splits) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        for (int i = 0; i < n_splits; i++) node->splits[i] = (int)splits[i];
        node->n_splits = n_splits;
    }
    return ADAPT_OK;
}

static adapt_status parse_node(parser *ps, comp_node **out)
{
    *out = NULL;
    if (++ps->depth > COMP_MAX_DEPTH) return syntax(ps, "nested too deeply");
    char word[ADAPTER_NAME_MAX];
    size_t len = read_word(ps, word, sizeof word);
    if (len == 0) return syntax(ps, "expected an adapter name or a block");
    if (len >= ADAPTER_NAME_MAX) return syntax(ps, "name too long");
    comp_node *node = calloc(1, sizeof *node);
    if (!node) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    skip_space(ps);
    adapt_status st = ADAPT_OK;
    if (*ps->p == '(') {
        static const struct { const char *name; comp_kind kind; } blocks[] = {
            {"Stack", COMP_STACK}, {"Fuse", COMP_FUSE}, {"BatchSplit", COMP_BATCHSPLIT}, {"Average", COMP_AVERAGE},
            {"Parallel", COMP_PARALLEL}, {"Split", COMP_SPLIT}};
        int k = -1;
        for (int i = 0; i < (int)(sizeof blocks / sizeof *blocks); i++)
            if (!strcasecmp(word, blocks[i].name)) k = i;
        if (k < 0) {
            st = syntax(ps, "unknown block (Stack, Fuse, BatchSplit, Average, Parallel, Split)");
        } else {
            node->kind = blocks[k].kind;
            st = parse_block(ps, node->kind, node);
        }
    } else {
        node->kind = COMP_SINGLE;
        snprintf(node->name, sizeof node->name, "%s", word);
    }
    ps->depth--;
    if (st) {
        comp_free(node);
        return st;
    }
    *out = node;
    return ADAPT_OK;
}

/* Parallel replicates the batch once for the whole model: it may sit at the top or inside
 * top-level Stacks only (the library's nesting rules allow it in Stack, and a Stack under another
 * block would replicate part of a batch). */
static bool parallel_misplaced(const comp_node *n, bool top)
{
    if (n->kind == COMP_PARALLEL && !top) return true;
    for (int i = 0; i < n->n; i++)
        if (parallel_misplaced(n->children[i], top && n->kind == COMP_STACK)) return true;
    return false;
}

int comp_parallel_channels(const comp_node *n)
{
    if (!n) return 1;
    if (n->kind == COMP_PARALLEL) return n->n;
    if (n->kind == COMP_STACK)
        for (int i = 0; i < n->n; i++) {
            int c = comp_parallel_channels(n->children[i]);
            if (c > 1) return c;
        }
    return 1;
}

bool comp_rows_independent(const comp_node *n)
{
    if (!n) return true;
    if (n->kind == COMP_BATCHSPLIT || n->kind == COMP_PARALLEL) return false;
    for (int i = 0; i < n->n; i++)
        if (!comp_rows_independent(n->children[i])) return false;
    return true;
}

adapt_status comp_parse(const char *text, comp_node **out)
{
    parser ps = {text, text, 0};
    TRY(parse_node(&ps, out));
    if (parallel_misplaced(*out, true)) {
        comp_free(*out);
        *out = NULL;
        return adapt_fail(ADAPT_ERR_ARG, "setup \"%.200s\": Parallel may only be the top block or sit inside top-level Stacks", text);
    }
    skip_space(&ps);
    if (*ps.p) {
        comp_free(*out);
        *out = NULL;
        return syntax(&ps, "unexpected text after the setup");
    }
    return ADAPT_OK;
}

const char *comp_first(const comp_node *n)
{
    while (n && n->kind != COMP_SINGLE) n = n->n ? n->children[0] : NULL;
    return n ? n->name : NULL;
}

void comp_format(const comp_node *n, char *buf, size_t size)
{
    static const char *names[] = {"", "Stack", "Fuse", "BatchSplit", "Average", "Parallel", "Split"};
    if (!size) return;
    if (n->kind == COMP_SINGLE) {
        snprintf(buf, size, "%s", n->name);
        return;
    }
    size_t k = (size_t)snprintf(buf, size, "%s(", names[n->kind]);
    for (int i = 0; i < n->n && k < size; i++) {
        if (i) k += (size_t)snprintf(buf + k, size - k, ", ");
        if (k < size) comp_format(n->children[i], buf + k, size - k);
        k = strlen(buf);
    }
    if (n->kind == COMP_BATCHSPLIT)
        for (int i = 0; i < n->n && k < size; i++) {
            k += (size_t)snprintf(buf + k, size - k, "%s%d", i ? ", " : ", batch_sizes=[", n->batch_sizes[i]);
            if (i == n->n - 1 && k < size) k += (size_t)snprintf(buf + k, size - k, "]");
        }
    bool equal_weights = true; /* the default, left unwritten */
    for (int i = 1; n->kind == COMP_AVERAGE && i < n->n; i++) equal_weights = equal_weights && n->weights[i] == n->weights[0];
    if (!equal_weights)
        for (int i = 0; i < n->n && k < size; i++) {
            k += (size_t)snprintf(buf + k, size - k, "%s%.17g", i ? ", " : ", weights=[", n->weights[i]);
            if (i == n->n - 1 && k < size) k += (size_t)snprintf(buf + k, size - k, "]");
        }
    if (n->kind == COMP_SPLIT)
        for (int i = 0; i < n->n_splits && k < size; i++) {
            k += (size_t)snprintf(buf + k, size - k, "%s%d", i ? ", " : ", splits=[", n->splits[i]);
            if (i == n->n_splits - 1 && k < size) k += (size_t)snprintf(buf + k, size - k, "]");
        }
    if (k < size) snprintf(buf + k, size - k, ")");
}
