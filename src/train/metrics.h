/* Evaluation metrics, computed the way the reference Python tools compute them:
 *  - entity-level precision / recall / F1 as seqeval 1.x (micro average over entities), in its
 *    default mode (lenient: I-X after O, or after another type, opens an entity) and its strict
 *    IOB2 mode (mode="strict", scheme=IOB2: only B-X opens an entity, I-X must continue it);
 *  - accuracy, macro F1, binary F1 and Matthews correlation as scikit-learn;
 *  - Pearson and Spearman (average ranks for ties) as scipy.stats.
 * Where the Python tools return NaN (constant input to a correlation), these return 0 so that
 * "keep the best checkpoint" comparisons stay well defined. */
#ifndef ADAPT_TRAIN_METRICS_H
#define ADAPT_TRAIN_METRICS_H
#include "adapt.h"

/* ------------------------------------------------------------------ entity-level (seqeval) */

typedef enum ner_mode {
    NER_MODE_DEFAULT,   /* seqeval's default (conlleval-like) chunking */
    NER_MODE_STRICT     /* seqeval mode="strict", scheme=IOB2 */
} ner_mode;

typedef struct prf_scores {
    double precision, recall, f1;
} prf_scores;

typedef struct ner_type_stats {
    char *type;                      /* entity type, e.g. "PER" */
    size_t n_true, n_pred, n_correct;
} ner_type_stats;

/* An accumulator: add sentences one at a time (each sentence's entities stay inside it, as
 * seqeval's list-of-lists input guarantees), then read the scores. */
typedef struct ner_eval {
    ner_mode mode;
    size_t n_true, n_pred, n_correct;        /* entities, over all types */
    size_t n_tokens, n_tokens_correct;       /* tag accuracy (seqeval accuracy_score) */
    ner_type_stats *types;                   /* in order of first appearance */
    size_t n_types, cap_types;
    void *scratch;                           /* entity buffers reused between sentences */
    size_t scratch_cap;
} ner_eval;

void ner_eval_init(ner_eval *ev, ner_mode mode);
void ner_eval_free(ner_eval *ev);

/* One sentence of n gold and n predicted tags. Tags seqeval would not read as entity tags are an
 * ADAPT_ERR_ARG: default mode takes O, B, I, E, S, and B-/I-/E-/S- followed by a type (seqeval
 * only warns there); strict IOB2 mode takes a first letter of B, I or O (seqeval raises). */
adapt_status ner_eval_add(ner_eval *ev, const char *const *gold, const char *const *pred, size_t n);

/* The same with label ids (id2label[id] gives the tag). Positions whose gold id is -100 (sub-tokens
 * after the first, special tokens) are skipped, as Hugging Face's compute_metrics does. */
adapt_status ner_eval_add_ids(ner_eval *ev, const int32_t *gold, const int32_t *pred, size_t n,
                              const char *const *id2label, size_t n_labels);

/* Micro-averaged scores over all entities (seqeval's f1_score etc.; 0 where undefined). */
prf_scores ner_eval_scores(const ner_eval *ev);
/* Scores of one type (index into ev->types). */
prf_scores ner_eval_type_scores(const ner_eval *ev, size_t i);
/* Unweighted mean over types of per-type scores (seqeval average="macro"). */
prf_scores ner_eval_macro(const ner_eval *ev);
/* Tag-level accuracy (seqeval accuracy_score); 0 when no tokens. */
double ner_eval_accuracy(const ner_eval *ev);

/* ------------------------------------------------------------------ classification (sklearn) */

/* Labels must lie in [0, n_classes); n == 0 gives 0. */
adapt_status metric_accuracy(const int32_t *gold, const int32_t *pred, size_t n, double *out);
/* Macro F1 over the labels present in gold or pred (sklearn f1_score average="macro"). */
adapt_status metric_macro_f1(const int32_t *gold, const int32_t *pred, size_t n, int n_classes, double *out);
/* F1 of one class (sklearn f1_score average="binary", pos_label=positive; GLUE MRPC/QQP). */
adapt_status metric_binary_f1(const int32_t *gold, const int32_t *pred, size_t n, int32_t positive, double *out);
/* Matthews correlation, multiclass form (sklearn matthews_corrcoef; GLUE CoLA). */
adapt_status metric_matthews(const int32_t *gold, const int32_t *pred, size_t n, int n_classes, double *out);

/* ------------------------------------------------------------------ regression (scipy) */

/* Non-finite inputs are an ADAPT_ERR_NUMERIC; fewer than 2 points or a constant side gives 0. */
adapt_status metric_pearson(const double *x, const double *y, size_t n, double *out);
adapt_status metric_spearman(const double *x, const double *y, size_t n, double *out);
/* Ranks 1..n with ties given their average rank (scipy.stats.rankdata, method="average"). */
adapt_status metric_rank_average(const double *x, size_t n, double *ranks);

#endif
