/* Character classes as the Rust library defines them, derived from utf8proc categories. */
#ifndef ADAPT_TOKENIZE_UCHAR_H
#define ADAPT_TOKENIZE_UCHAR_H
#include <stdint.h>
#include <stdbool.h>

int uc_category(uint32_t c);
bool uc_is_whitespace(uint32_t c);   /* Rust char::is_whitespace (White_Space property) */
bool uc_is_punctuation(uint32_t c);  /* ASCII punctuation or general category P* */
bool uc_is_bert_control(uint32_t c); /* BertNormalizer: C* except \t \n \r */
bool uc_is_chinese(uint32_t c);      /* the CJK ranges BERT pads with spaces */
bool uc_is_alnum(uint32_t c);        /* Rust char::is_alphanumeric */
bool uc_is_digit(uint32_t c);        /* Rust char::is_numeric (N*) */
bool uc_is_mark_nonspacing(uint32_t c);
bool uc_is_mark(uint32_t c);
/* Rust char::to_lowercase into out (1..3 chars); returns the count. */
int uc_lower(uint32_t c, uint32_t *out);
#endif
