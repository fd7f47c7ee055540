/* CoNLL-style NER files: one word per line, the word in the first column and its tag in the last,
 * columns separated by tabs (or, on lines without a tab, by runs of spaces); a blank line ends a
 * sentence; "-DOCSTART-" lines are skipped. Plain or xz (see text_reader.h).
 * WikiANN in ../shared/data/ner is `word<TAB>tag`, IOB2, PER/ORG/LOC; the original WikiANN files
 * prefix every word with its language ("qu:Qusqu"), which is removed on reading when every word of
 * the file has the same one (dataset.word_prefix keeps it for output). */
#ifndef ADAPT_DATA_CONLL_H
#define ADAPT_DATA_CONLL_H
#include "data/dataset.h"

typedef enum conll_scheme {
    CONLL_IOB2,    /* tags are O, B-X, I-X; kept as written */
    CONLL_IOB1,    /* same prefixes, but I-X may open an entity: converted to IOB2 on reading */
    CONLL_PLAIN    /* any tag strings (POS tags...): no prefix check, no conversion */
} conll_scheme;

typedef struct conll_options {
    conll_scheme scheme;
    /* Label list to use (id = index), e.g. the one saved with a trained model; NULL collects the
     * tags seen ("O" first, then sorted; see dataset_finish_labels). */
    const char *const *labels;
    size_t n_labels;
    /* Read only the first column (prediction input); tags, when present, are ignored. */
    bool tokens_only;
} conll_options;

/* Reads a whole file into `out` (initialised here; free with dataset_free, also after an error).
 * opt == NULL means IOB2, collected labels, tags required. Errors name file:line: a line with
 * a single column, an unknown IOB prefix, a sentence past DATA_MAX_SENTENCE_WORDS... */
adapt_status conll_read(const char *path, const conll_options *opt, dataset *out);

/* Parses an IOB scheme name: "iob2"/"bio", "iob1"/"iob", "plain"/"none" (case-insensitive). */
adapt_status conll_scheme_parse(const char *name, conll_scheme *out);

/* True when `tag` is "O", "B-X" or "I-X" with a non-empty X. */
bool iob_tag_is_valid(const char *tag);

/* Rewrites IOB1 tags to IOB2 in place: an I-X that does not continue a B-X/I-X becomes B-X (new
 * strings come from the dataset's arena). IOB2 input is left unchanged. */
adapt_status iob1_to_iob2(dataset *ds, const char **tags, size_t n);

#endif
