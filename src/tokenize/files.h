/* The files a tokenizer comes from: finding them (adapt_tokenizer_load's dispatch) and copying them
 * into a model folder, so that the folder loads with its tokenizer. */
#ifndef ADAPT_TOKENIZE_FILES_H
#define ADAPT_TOKENIZE_FILES_H
#include "adapt.h"

/* `path` itself when it is a file; for a folder its tokenizer.json, else vocab.txt, else the first
 * *.model. *file is malloc'd; *is_dir tells which case it was. */
adapt_status tokenizer_find_file(const char *path, char **file, bool *is_dir);

/* Copies the tokenizer of `path` into the folder `dir` (atomically): a JSON file becomes
 * dir/tokenizer.json, a vocabulary dir/vocab.txt, a SentencePiece model keeps its name; a folder's
 * tokenizer_config.json comes along (it sets do_lower_case for vocab.txt). Nothing is copied
 * onto itself. */
adapt_status tokenizer_copy_files(const char *path, const char *dir);

#endif
