/* GLUE TSV files (no quoting: a field is everything between two tabs).
 *
 * Layouts, as found in ../shared/data/glue and in the original GLUE release:
 *   SST-2  header, sentence / label (0, 1)
 *   CoLA   no header, 4 columns: source, label (0, 1), original mark, sentence
 *   MRPC   header, Quality (0, 1) / #1 ID / #2 ID / #1 String / #2 String
 *   RTE    header, index / sentence1 / sentence2 / label (entailment, not_entailment)
 * and by header name: QNLI (question, sentence, label), QQP (question1, question2, is_duplicate),
 * MNLI (sentence1, sentence2, gold_label), WNLI (sentence1, sentence2, label), STS-B (sentence1,
 * sentence2, score; regression). Task "tsv" is any file with a header holding a text column
 * (sentence, sentence1, text, question or question1), optionally a pair column (sentence2,
 * text_pair, question2) and a "label" column; its labels are collected or given. */
#ifndef ADAPT_DATA_GLUE_H
#define ADAPT_DATA_GLUE_H
#include "data/dataset.h"

typedef struct glue_task {
    const char *name;            /* canonical name: "sst2", "cola", ... "tsv" */
    const char *display;         /* "SST-2" */
    bool has_header;
    /* Header layouts: column names (alternatives separated by '|'). Fixed layouts: indices. */
    const char *text_col, *pair_col, *label_col;
    int text_idx, pair_idx, label_idx, n_cols;
    bool regression;
    const char *const *labels;   /* fixed label list (id = index), NULL: collect */
    size_t n_labels;
    const char *metric;          /* the task's usual dev metric: "accuracy", "mcc", "f1", "pearson" */
} glue_task;

/* Finds a task by name, ignoring case and '-'/'_' ("SST-2", "sst2", "sts_b"); NULL if unknown. */
const glue_task *glue_task_find(const char *name);
/* Guesses the task from a path's folder name (".../glue/RTE/dev.tsv" -> RTE); NULL if none. */
const glue_task *glue_task_from_path(const char *path);

typedef struct glue_options {
    const char *const *labels;   /* overrides the task's list / collection (NULL: task default) */
    size_t n_labels;
    bool unlabeled;              /* prediction input: the label column may be absent, labels are ignored */
    bool regression;             /* task "tsv" only: the label column is a number */
} glue_options;

/* Reads `path` in the layout of `task` into `out` (initialised here; dataset_free it also after
 * an error). Errors name file:line: a row with too few columns, a header missing a needed
 * column, a label outside the task's list, a regression target that is not a finite number. */
adapt_status glue_read(const char *path, const glue_task *task, const glue_options *opt, dataset *out);

#endif
