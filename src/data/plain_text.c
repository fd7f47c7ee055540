/* See plain_text.h. */
#include "data/plain_text.h"
#include "core/error.h"
#include "data/text_reader.h"
#include "data/words.h"
#include <string.h>

/* One line's words copied into the dataset's arena as an unlabelled example. */
static adapt_status add_sentence(dataset *ds, const char *path, size_t line_no, char **words, size_t n)
{
    if (n > DATA_MAX_SENTENCE_WORDS)
        return adapt_fail(ADAPT_ERR_FORMAT, "%s:%zu: %zu words in one sentence (at most %zu)", path, line_no, n,
                          DATA_MAX_SENTENCE_WORDS);
    data_example *e = dataset_push(ds);
    const char **tokens = e ? dataset_alloc(ds, n * sizeof *tokens) : NULL;
    if (!tokens) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    for (size_t w = 0; w < n; w++)
        if (!(tokens[w] = dataset_strndup(ds, words[w], strlen(words[w])))) return adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
    e->tokens = tokens;
    e->n_tokens = n;
    e->line = line_no;
    return ADAPT_OK;
}

adapt_status plain_text_read(const char *path, dataset *out)
{
    text_reader *r;
    TRY(text_reader_open(path, 0, &r));
    adapt_status s = ADAPT_OK;
    for (;;) {
        const char *line;
        size_t len;
        if ((s = text_reader_next(r, &line, &len)) || !line) break;
        size_t n = 0;
        char **words = split_words(line, &n);
        if (!words) {
            s = adapt_fail(ADAPT_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        if (n) s = add_sentence(out, path, text_reader_line_number(r), words, n);
        free_words(words, n);
        if (s) break;
    }
    text_reader_close(r);
    if (!s && out->n == 0) s = adapt_fail(ADAPT_ERR_FORMAT, "%s: no sentences (one per line expected)", path);
    return s;
}
