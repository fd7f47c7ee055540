#include "data/conll.h"
#include "data/text_reader.h"
#include "core/error.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool iob_tag_is_valid(const char *tag)
{
    if (strcmp(tag, "O") == 0) return true;
    return (tag[0] == 'B' || tag[0] == 'I') && tag[1] == '-' && tag[2] != 0;
}

adapt_status conll_scheme_parse(const char *name, conll_scheme *out)
{
    if (!strcasecmp(name, "iob2") || !strcasecmp(name, "bio")) *out = CONLL_IOB2;
    else if (!strcasecmp(name, "iob1") || !strcasecmp(name, "iob")) *out = CONLL_IOB1;
    else if (!strcasecmp(name, "plain") || !strcasecmp(name, "none")) *out = CONLL_PLAIN;
    else return adapt_fail(ADAPT_ERR_ARG, "unknown tag scheme \"%s\" (expected iob2, iob1 or plain)", name);
    return ADAPT_OK;
}

/* The words and tags of the sentence being read, as arena strings. */
typedef struct sentence_buf {
    const char **words, **tags;
    size_t n, cap;
    size_t first_line;
} sentence_buf;

static adapt_status sentence_add(sentence_buf *s, const char *path, size_t line, const char *word, const char *tag)
{
    if (s->n >= DATA_MAX_SENTENCE_WORDS)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: sentence longer than %zu words (missing blank line?)", path, line, DATA_MAX_SENTENCE_WORDS);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        const char **w = realloc(s->words, cap * sizeof *w);
        if (w) s->words = w;
        const char **t = w ? realloc(s->tags, cap * sizeof *t) : NULL;
        if (t) s->tags = t;
        if (!w || !t) return adapt_fail(ADAPT_ERR_NOMEM, "%s:%zu: out of memory", path, line);
        s->cap = cap;
    }
    if (s->n == 0) s->first_line = line;
    s->words[s->n] = word;
    s->tags[s->n] = tag;
    s->n++;
    return ADAPT_OK;
}

/* IOB1 lets I-X open an entity; IOB2 wants B-X there. An I-X opens an entity when the previous
 * tag is not of type X (or there is none). Applied to IOB2 tags it changes nothing. */
adapt_status iob1_to_iob2(dataset *ds, const char **tags, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *t = tags[i];
        if (t[0] != 'I' || t[1] != '-') continue;
        const char *prev = i ? tags[i - 1] : "O";
        if ((prev[0] == 'B' || prev[0] == 'I') && prev[1] == '-' && strcmp(prev + 2, t + 2) == 0) continue;
        char *b = dataset_strndup(ds, t, strlen(t));
        if (!b) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", ds->path ? ds->path : "dataset");
        b[0] = 'B';
        tags[i] = b;
    }
    return ADAPT_OK;
}

static adapt_status sentence_flush(dataset *ds, sentence_buf *s, conll_scheme scheme, bool with_tags)
{
    if (s->n == 0) return ADAPT_OK;
    if (with_tags && scheme == CONLL_IOB1) TRY(iob1_to_iob2(ds, s->tags, s->n));
    data_example *e = dataset_push(ds);
    if (!e) return ADAPT_ERR_NOMEM;
    e->line = s->first_line;
    e->n_tokens = s->n;
    const char **words = dataset_alloc(ds, s->n * sizeof *words);
    if (!words) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", ds->path);
    memcpy(words, s->words, s->n * sizeof *words);
    e->tokens = words;
    if (with_tags) {
        const char **tags = dataset_alloc(ds, s->n * sizeof *tags);
        int32_t *ids = dataset_alloc(ds, s->n * sizeof *ids);
        if (!tags || !ids) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", ds->path);
        memcpy(tags, s->tags, s->n * sizeof *tags);
        for (size_t i = 0; i < s->n; i++) ids[i] = -1;
        e->tags = tags;
        e->tag_ids = ids;
    }
    s->n = 0;
    return ADAPT_OK;
}

/* Splits a non-blank line (trailing blanks already cut) into its first and last column. */
static void split_columns(const char *line, size_t len, const char **word, size_t *word_len,
                          const char **tag, size_t *tag_len, size_t *n_cols)
{
    const char *tab = memchr(line, '\t', len);
    char sep = tab ? '\t' : ' ';
    if (!tab)
        while (*line == ' ') line++, len--;   /* space-separated files may indent */
    const char *first_end = memchr(line, sep, len);
    *word = line;
    *word_len = first_end ? (size_t)(first_end - line) : len;
    if (!first_end) {
        *n_cols = 1;
        *tag = NULL;
        *tag_len = 0;
        return;
    }
    const char *last = line + len;
    while (last > first_end && last[-1] != sep) last--;
    *tag = last;
    *tag_len = (size_t)(line + len - last);
    *n_cols = 2;
}

/* Space-separated fields of a line without a tab (0 for a tab-separated line). */
static size_t space_fields(const char *line, size_t len)
{
    if (memchr(line, '\t', len)) return 0;
    size_t fields = 0;
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && (i == 0 || line[i - 1] == ' ')) fields++;
    return fields;
}

static adapt_status note_docstart(dataset *ds, size_t line)
{
    size_t *grown = realloc(ds->docstart_lines, (ds->n_docstart + 1) * sizeof *grown);
    if (!grown) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", ds->path);
    grown[ds->n_docstart++] = line;
    ds->docstart_lines = grown;
    return ADAPT_OK;
}

static adapt_status read_lines(text_reader *tr, const conll_options *opt, dataset *ds, sentence_buf *s)
{
    const char *path = ds->path;
    bool with_tags = !opt->tokens_only;
    for (;;) {
        const char *line;
        size_t len;
        TRY(text_reader_next(tr, &line, &len));
        if (!line) break;
        size_t lno = text_reader_line_number(tr);
        ds->n_lines = lno;
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
        size_t lead = 0;
        while (lead < len && line[lead] == ' ') lead++;
        if (lead == len) {                                  /* blank: end of sentence */
            TRY(sentence_flush(ds, s, opt->scheme, with_tags));
            continue;
        }
        const char *word, *tag;
        size_t word_len, tag_len, n_cols;
        split_columns(line, len, &word, &word_len, &tag, &tag_len, &n_cols);
        if (word_len == 10 && memcmp(word, "-DOCSTART-", 10) == 0) {
            TRY(sentence_flush(ds, s, opt->scheme, with_tags));
            TRY(note_docstart(ds, lno));
            continue;
        }
        if (word_len == 0) return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: empty word in the first column", path, lno);
        ds->conll_rows++;
        ds->conll_wide_rows += space_fields(line, len) >= 5;
        const char *w = dataset_strndup(ds, word, word_len);
        const char *t = NULL;
        if (with_tags) {
            if (n_cols < 2 || tag_len == 0)
                return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: missing tag column (expected a word and a tag separated by a tab or spaces)", path, lno);
            if (tag_len > DATA_MAX_LABEL_BYTES)
                return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: tag longer than %zu bytes", path, lno, DATA_MAX_LABEL_BYTES);
            t = dataset_strndup(ds, tag, tag_len);
            if (t && opt->scheme != CONLL_PLAIN && !iob_tag_is_valid(t))
                return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: tag \"%s\" has an unknown IOB prefix (expected O, B-TYPE or I-TYPE)", path, lno, t);
        }
        if (!w || (with_tags && !t)) return adapt_fail(ADAPT_ERR_NOMEM, "%s:%zu: out of memory", path, lno);
        TRY(sentence_add(s, path, lno, w, t));
    }
    return sentence_flush(ds, s, opt->scheme, with_tags);
}

/* Length of a WikiANN language prefix at the start of `word` ("qu:", "zh-min-nan:"; as in the
 * original pan-x files, "en:Sioux"), or 0. The word must go on after it. */
static size_t language_prefix_length(const char *word)
{
    size_t i = 0;
    while (word[i] >= 'a' && word[i] <= 'z') i++;
    if (i < 2 || i > 3) return 0;
    while (word[i] == '-' && word[i + 1] >= 'a' && word[i + 1] <= 'z') {
        i++;
        while (word[i] >= 'a' && word[i] <= 'z') i++;
    }
    if (word[i] != ':' || i + 1 >= sizeof ((dataset *)0)->word_prefix || word[i + 1] == 0) return 0;
    return i + 1;
}

/* When every word of the file starts with the same language prefix, the words are read without
 * it: the model never saw "qu:Qusqu", and a file with a language per word is not WikiANN's. */
static void strip_language_prefix(dataset *ds)
{
    if (ds->n == 0 || ds->examples[0].n_tokens == 0) return;
    const char *first = ds->examples[0].tokens[0];
    size_t len = language_prefix_length(first);
    if (len == 0) return;
    for (size_t i = 0; i < ds->n; i++)
        for (size_t w = 0; w < ds->examples[i].n_tokens; w++) {
            const char *word = ds->examples[i].tokens[w];
            if (language_prefix_length(word) != len || memcmp(word, first, len) != 0) return;
        }
    memcpy(ds->word_prefix, first, len);
    ds->word_prefix[len] = 0;
    for (size_t i = 0; i < ds->n; i++) {
        const char **words = (const char **)ds->examples[i].tokens; /* the reader's own arena array */
        for (size_t w = 0; w < ds->examples[i].n_tokens; w++) words[w] += len;
    }
}

adapt_status conll_read(const char *path, const conll_options *opt, dataset *out)
{
    static const conll_options defaults = {CONLL_IOB2, NULL, 0, false};
    if (!opt) opt = &defaults;
    dataset_init(out, DATASET_TAGGING, path);
    out->iob = opt->scheme != CONLL_PLAIN;
    out->has_labels = !opt->tokens_only;
    if (!out->path) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    text_reader *tr;
    TRY(text_reader_open(path, 0, &tr));
    sentence_buf s = {0};
    adapt_status st = read_lines(tr, opt, out, &s);
    free(s.words);
    free(s.tags);
    text_reader_close(tr);
    TRY(st);
    strip_language_prefix(out);
    return dataset_finish_labels(out, opt->labels, opt->n_labels);
}
