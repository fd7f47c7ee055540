/* The label names of a saved AdapterHub head (head_config.json "config"."label2id", in id order),
 * needed to print predictions, to map a labelled dev file onto the head's ids, and to save a copied
 * or averaged head with the same labels. */
#ifndef ADAPT_FORMATS_HEAD_LABELS_H
#define ADAPT_FORMATS_HEAD_LABELS_H
#include "adapt.h"

/* *labels receives config.num_labels malloc'd names (free with head_labels_free); *head_type the
 * head_type (copied into a buffer of type_size bytes; may be NULL). Every id in [0, num_labels)
 * must have exactly one name. */
adapt_status head_labels_read(const char *dir, char ***labels, int *n_labels, char *head_type, size_t type_size);
void head_labels_free(char **labels, int n);

#endif
