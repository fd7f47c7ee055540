/* Splitting raw sentences into words the way CoNLL files have them: whitespace separates words,
 * and punctuation marks become words of their own ("Lima," -> "Lima" ","). */
#ifndef ADAPT_DATA_WORDS_H
#define ADAPT_DATA_WORDS_H
#include <stddef.h>

/* Returns malloc'd words (each malloc'd); *n receives the count. NULL on allocation failure. */
char **split_words(const char *sentence, size_t *n);
void free_words(char **words, size_t n);

#endif
