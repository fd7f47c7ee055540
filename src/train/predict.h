/* `adapt predict`: a trained setup (train/tagger.h) run over an unlabelled file, predictions written
 * atomically. Tagging heads read CoNLL (column 1) or JSON Lines {"tokens": [...]} and write
 * token<TAB>tag lines (blank line between sentences) or {"tokens", "tags"} records; plain text (one
 * sentence per line, --format text) is split into words first. Classification
 * and regression heads read GLUE TSV or JSON Lines {"text", "text_pair"} and write GLUE's submission
 * layout (a header "index<TAB>prediction", then one row per example: the label name, or the value
 * of a regression head) or {"text", "text_pair", "label"} records. JSON Lines output is chosen by an
 * output name ending in .jsonl, and can be read back as labelled data. */
#ifndef ADAPT_TRAIN_PREDICT_H
#define ADAPT_TRAIN_PREDICT_H
#include "data/task_data.h"
#include "train/tagger.h"

typedef struct predict_options {
    const char *input, *output;
    data_format format;            /* of the input; AUTO: from its name */
    const glue_task *task;         /* sequence heads: the TSV layout (NULL: "tsv", any header layout) */
    bool scores;                   /* tagging heads: each tag's probability too (a third column, or "scores") */
    bool *input_looks_like_text;   /* when not NULL: set when most rows of CoNLL input had 5+ space-separated
                                    * fields (a text file read a word per line; the caller may warn) */
} predict_options;

adapt_status predict_file(tagger *t, const predict_options *o);

#endif
