/* An in-memory labelled dataset shared by the CoNLL, GLUE TSV and JSONL readers.
 *
 * Three kinds: token tagging (words + one tag per word), sentence (pair) classification, and
 * regression. Readers keep the label *names* they read; dataset_finish_labels() then builds the
 * label vocabulary (collected in a stable order, or a given list) and fills the label ids, so the
 * mapping is decided in one place for every format.
 *
 * All strings and per-example arrays live in an arena owned by the dataset: one dataset_free()
 * releases everything, and pointers stay valid for the dataset's lifetime. */
#ifndef ADAPT_DATA_DATASET_H
#define ADAPT_DATA_DATASET_H
#include "adapt.h"

/* Bounds that keep a malformed or hostile file from exhausting memory. */
#define DATA_MAX_LINE_BYTES     ((size_t)1 << 20)   /* one line of a CoNLL/TSV/JSONL file */
#define DATA_MAX_SENTENCE_WORDS ((size_t)100000)    /* words in one CoNLL sentence */
#define DATA_MAX_EXAMPLES       ((size_t)100000000)
#define DATA_MAX_LABELS         ((size_t)10000)
#define DATA_MAX_LABEL_BYTES    ((size_t)256)
#define DATA_MAX_SETUP_BYTES    1024 /* a record's composition ("setup") */
#define DATA_MAX_LORA_BYTES     63   /* a record's LoRA name ("lora") */
#define DATA_BASE_MODEL         "__base__" /* "lora": the base model, no LoRA (PEFT's name for it) */

/* The loss id for positions that carry no label (PyTorch's ignore_index). */
#define DATA_IGNORE_INDEX (-100)

typedef enum dataset_kind {
    DATASET_TAGGING,        /* tokens[] + tags[] */
    DATASET_CLASSIFICATION, /* text (+ text_pair) + label */
    DATASET_REGRESSION      /* text (+ text_pair) + target */
} dataset_kind;

typedef struct data_example {
    /* classification / regression */
    const char *text;
    const char *text_pair;         /* NULL for single-sentence tasks */
    const char *label_name;        /* NULL when unlabelled or regression */
    int32_t label;                 /* id in dataset.labels; -1 when unlabelled or regression */
    double target;                 /* regression target */
    /* tagging */
    const char *const *tokens;     /* n_tokens words */
    const char *const *tags;       /* n_tokens tag names, NULL when unlabelled */
    int32_t *tag_ids;              /* n_tokens ids in dataset.labels, NULL when unlabelled */
    size_t n_tokens;
    size_t line;                   /* 1-based line of the file where the example starts */
    const char *setup;             /* unlabelled JSON Lines' "setup": the composition this record runs
                                    * under (`adapt predict`), NULL: the command's */
    const char *lora;              /* unlabelled JSON Lines' "lora": the loaded LoRA it runs under,
                                    * DATA_BASE_MODEL for none; NULL: the command's */
} data_example;

/* An ordered list of label names: id = index. */
typedef struct label_vocab {
    char **names;
    size_t n;
} label_vocab;

/* Index of `name`, or -1. */
int32_t label_vocab_find(const label_vocab *v, const char *name);
/* Copies a list of names (duplicates and empty names are rejected with ADAPT_ERR_ARG). */
adapt_status label_vocab_from_list(label_vocab *v, const char *const *names, size_t n);
void label_vocab_free(label_vocab *v);

struct data_arena_block;

typedef struct dataset {
    dataset_kind kind;
    data_example *examples;
    size_t n, cap;
    label_vocab labels;            /* empty for regression */
    bool has_labels;               /* false when read without labels (prediction input) */
    bool iob;                      /* tagging labels follow IOB (complete B-/I- pairs when collecting) */
    char *path;                    /* source file, for messages */
    /* WikiANN's language prefix ("qu:") that every word of a CoNLL file carried, removed from
     * tokens[] on reading; writers put it back so output lines match the input. "" when none. */
    char word_prefix[24];
    /* A CoNLL file's line layout, so that tagged output can have a line for each input line
     * (scorers often pair output and gold line by line): the file's line count and the lines
     * that held -DOCSTART-. Every other line outside an example's tokens was blank.
     * n_lines == 0 when the reader kept no layout. */
    size_t n_lines;
    size_t *docstart_lines, n_docstart;
    /* A CoNLL file's word rows, and those without a tab holding 5 or more space-separated fields:
     * when most are, the file is likely text with a sentence per line given as CoNLL. */
    size_t conll_rows, conll_wide_rows;
    struct data_arena_block *arena;
} dataset;

/* Starts an empty dataset (no allocation). */
void dataset_init(dataset *ds, dataset_kind kind, const char *path);
void dataset_free(dataset *ds);

/* Appends a zeroed example (label = -1) and returns it, or NULL when out of memory or past
 * DATA_MAX_EXAMPLES (adapt_error() says which). */
data_example *dataset_push(dataset *ds);

/* Arena allocations that live as long as the dataset (NULL when out of memory). */
void *dataset_alloc(dataset *ds, size_t bytes);
char *dataset_strndup(dataset *ds, const char *s, size_t len);

/* Builds ds->labels and fills label / tag_ids from the names the reader stored.
 * given == NULL: collect the names seen. Tagging: "O" first, then the rest in strcmp order; with
 * ds->iob, a B-X without I-X (or the reverse) gets its partner added, so a model trained on one
 * file can predict every tag of its types. Classification: numeric order when every name is an
 * integer ("2" < "10"), strcmp order otherwise.
 * given != NULL: exactly that list; a name outside it is an ADAPT_ERR_FORMAT naming file:line.
 * Regression and unlabelled datasets only copy `given` (if any). */
adapt_status dataset_finish_labels(dataset *ds, const char *const *given, size_t n_given);

#endif
