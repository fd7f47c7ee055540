/* Tokenizers built from older formats, the way transformers' converters build them. */
#ifndef ADAPT_TOKENIZE_CONVERT_H
#define ADAPT_TOKENIZE_CONVERT_H
#include "adapt.h"

/* BERT vocab.txt; `dir` (may be NULL) is searched for tokenizer_config.json (do_lower_case). */
adapt_status tokenizer_from_vocab_txt(const char *path, const char *dir, adapt_tokenizer **out);
/* SentencePiece unigram .model, converted as XLM-RoBERTa (fairseq ids, <mask> last). */
adapt_status tokenizer_from_spm(const char *path, const char *dir, adapt_tokenizer **out);
#endif
