/* Where a model's tensors come from: one model.safetensors, or the shards that
 * model.safetensors.index.json names. Lookup by tensor name across all files. */
#ifndef ADAPT_FORMATS_CHECKPOINT_H
#define ADAPT_FORMATS_CHECKPOINT_H
#include "formats/safetensors.h"

typedef struct tensor_source {
    st_file *files;
    size_t nfiles;
} tensor_source;

/* Opens DIR/model.safetensors, else DIR/model.safetensors.index.json and its shards. */
adapt_status tensor_source_open_dir(const char *dir, tensor_source *src);
/* Opens one safetensors file as a source. */
adapt_status tensor_source_open_file(const char *path, tensor_source *src);
void tensor_source_close(tensor_source *src);
/* Finds a tensor by name; *file (optional) receives the file holding it. */
const st_tensor *tensor_source_find(const tensor_source *src, const char *name, const st_file **file);

#endif
