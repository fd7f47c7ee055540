/* Scoring a trained setup (train/infer.h) on a labelled file: entity F1 (seqeval) on CoNLL or JSON
 * Lines for tagging heads; accuracy, Matthews correlation, F1 and macro F1 on GLUE TSV or JSON Lines
 * for classification heads; Pearson and Spearman correlation (and the MSE) for regression heads (a
 * classification head with one output). The gold labels are mapped onto the head's own label list
 * (head_config.json), so a label the head does not know is an error naming file:line. */
#ifndef ADAPT_TRAIN_EVALUATE_H
#define ADAPT_TRAIN_EVALUATE_H
#include "data/task_data.h"
#include "train/examples.h"
#include "train/metrics.h"
#include "train/tagger.h"

typedef struct eval_result {
    const char *metric_name;     /* "entity_f1", "pearson", or the GLUE task's metric ("accuracy", "mcc", "f1") */
    double metric;               /* that metric x 100 */
    size_t n_examples;
    prf_scores entity;           /* tagging: micro precision / recall / F1 (0..1) */
    double token_accuracy;       /* tagging */
    double accuracy, mcc, f1, macro_f1; /* classification (0..1); f1 of label id 1, when 2 labels */
    double pearson, spearman, mse;      /* regression */
} eval_result;

/* max_examples 0: all. format AUTO: from the file name (.jsonl: JSON Lines). */
adapt_status eval_tagging_file(tagger *t, const char *path, data_format format, ner_mode mode, size_t max_examples, eval_result *out);
adapt_status eval_classification_file(tagger *t, const glue_task *task, const char *path, data_format format, size_t max_examples,
                                      eval_result *out);
/* task: a regression task (stsb) or "tsv", whose label column / "label" key is then the target. */
adapt_status eval_regression_file(tagger *t, const glue_task *task, const char *path, data_format format, size_t max_examples,
                                  eval_result *out);

/* The sequence head's outputs [n, num_labels] for every example of an encoded set. */
adapt_status sequence_head_outputs(tagger *t, const encoded_set *enc, float *out);
/* Class predictions (argmax of the classification head) for every example of an encoded set. */
adapt_status classify_encoded(tagger *t, const encoded_set *enc, int32_t *pred);

#endif
