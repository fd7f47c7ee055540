/* Moving tensors between safetensors files and the parameter store by name. */
#ifndef ADAPT_FORMATS_PARAM_IO_H
#define ADAPT_FORMATS_PARAM_IO_H
#include "core/store.h"

/* Renames a file's tensor name into a store name (write into out, return false to skip it). */
typedef bool (*param_rename_fn)(const char *file_name, char *out, size_t out_size, void *ctx);

/* Loads every (float) tensor of a safetensors file into the store: existing tensors must have the
 * same shape; new ones are added. `rename` may be NULL (names as in the file). */
adapt_status store_load_safetensors(param_store *s, const char *path, param_rename_fn rename, void *ctx, size_t *loaded);

/* Saves the named subset of the store (names[i] in the store, file_names[i] in the file; file_names
 * may be NULL for the same names) as F32, atomically. */
adapt_status store_save_safetensors(const param_store *s, const char *path, const char *const *names,
                                    const char *const *file_names, size_t n, const char *const *metadata, size_t n_meta);

#endif
