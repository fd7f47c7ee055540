/* One entry point for the data files of a task, for training, evaluation and prediction:
 *   ner (tagging)                      CoNLL, or JSON Lines {"tokens": [...], "tags": [...]}
 *   GLUE tasks / "tsv" (sentence pairs) GLUE TSV, or JSON Lines {"text", "text_pair", "label"}
 * The format comes from the file name (".jsonl" / ".jsonl.xz": JSON Lines; otherwise CoNLL for ner
 * and TSV for the rest) unless one is given. A JSON Lines file must hold the records the task
 * needs: "text" records for a GLUE task, "tokens" records for ner. */
#ifndef ADAPT_DATA_TASK_DATA_H
#define ADAPT_DATA_TASK_DATA_H
#include "data/glue.h"

/* TEXT: raw sentences, one per line (data/plain_text.h), only as unlabelled tagging input. */
typedef enum data_format { DATA_FORMAT_AUTO, DATA_FORMAT_CONLL, DATA_FORMAT_TSV, DATA_FORMAT_JSONL, DATA_FORMAT_TEXT } data_format;

/* "auto", "conll", "tsv", "jsonl", "text" (case-insensitive). */
adapt_status data_format_parse(const char *name, data_format *out);
/* The format a file is read in: `given` unless DATA_FORMAT_AUTO, else from its name. */
data_format data_format_resolve(const char *path, data_format given, bool tagging);

typedef struct task_data_options {
    const glue_task *glue;        /* NULL: ner (tagging) */
    data_format format;
    bool regression;              /* task "tsv": numeric targets (a regression task such as stsb implies it) */
    const char *const *labels;    /* label list to map onto (NULL: the task's list, else collected) */
    size_t n_labels;
    bool unlabeled;               /* prediction input: labels / tags are not read */
} task_data_options;

/* Reads `path` into `out` (initialised here; dataset_free it also after an error). Errors name the
 * file: a format the task cannot use, records of the wrong kind, and every reader's own checks. */
adapt_status task_data_read(const char *path, const task_data_options *o, dataset *out);

#endif
