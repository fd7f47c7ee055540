/* JSON Lines datasets, one object per line (blank lines skipped), plain or xz:
 *   {"text": "...", "text_pair": "..." (optional), "label": "pos" | 3 | 0.75}
 *   {"tokens": ["EU", "rejects", ...], "tags": ["B-ORG", "O", ...]}   ("ner_tags" also accepted)
 * The first record decides the kind (tokens -> tagging, text -> classification, or regression when
 * asked), unless the caller requires one; every later record must be of the same kind. An integer label is taken as its decimal
 * name ("3"), so integer-labelled files get the numeric label order. */
#ifndef ADAPT_DATA_JSONL_H
#define ADAPT_DATA_JSONL_H
#include "data/conll.h"

typedef enum jsonl_records { JSONL_ANY_RECORDS, JSONL_TEXT_RECORDS, JSONL_TOKEN_RECORDS } jsonl_records;

typedef struct jsonl_options {
    const char *const *labels;   /* label list to use (NULL: collect) */
    size_t n_labels;
    bool regression;             /* "label" is a number target */
    bool unlabeled;              /* prediction input: "label"/"tags" are ignored when present */
    conll_scheme scheme;         /* for "tags": IOB2 (default), IOB1 (converted) or plain */
    jsonl_records expect;        /* the records required (ANY: the first record decides) */
    const char *expect_for;      /* who requires them, for messages ("task ner"); NULL: "this file" */
} jsonl_options;

/* Reads `path` into `out` (initialised here; dataset_free it also after an error). Errors name
 * file:line: malformed JSON, a missing or mistyped key, tokens and tags of different lengths. */
adapt_status jsonl_read(const char *path, const jsonl_options *opt, dataset *out);

#endif
