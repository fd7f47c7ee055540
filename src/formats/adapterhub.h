/* AdapterHub's saved file sets, read and written exactly as the Python `adapters` library does:
 *   adapter:  adapter_config.json + adapter.safetensors
 *   head:     head_config.json + model_head.safetensors
 *   fusion:   adapter_fusion_config.json + model_adapter_fusion.safetensors
 * Tensor names carry the bert./roberta. prefix (or none, on load); legacy names
 * (*_text_task_adapters, *_text_lang_adapters, invertible_lang_adapters) are renamed on load. */
#ifndef ADAPT_FORMATS_ADAPTERHUB_H
#define ADAPT_FORMATS_ADAPTERHUB_H
#include "formats/param_io.h"
#include "model/heads.h"
#include <cjson/cJSON.h>

/* Loads an adapter folder; load_as (NULL: the saved name) renames it. name_out (optional)
 * receives the name it was loaded under. */
adapt_status adapterhub_load_adapter(adapt_model *m, const char *dir, const char *load_as, char *name_out, size_t name_size);
adapt_status adapterhub_save_adapter(adapt_model *m, const char *dir, const char *name);

/* Loads a head folder (tagging or classification); load_as renames it. */
adapt_status adapterhub_load_head(adapt_model *m, const char *dir, const char *load_as, head *h);
/* labels: num_labels names (NULL: LABEL_i). */
adapt_status adapterhub_save_head(adapt_model *m, const char *dir, const head *h, const char *const *labels);

/* Loads a fusion folder; its adapters must be loaded already. */
adapt_status adapterhub_load_fusion(adapt_model *m, const char *dir);
adapt_status adapterhub_save_fusion(adapt_model *m, const char *dir, const char *const *names, int n);

/* Reading the file sets' parts, for adapterhub_lora.c too. A config's hidden_size (when present)
 * must be the model's. */
adapt_status adapterhub_check_hidden(const cJSON *root, const char *path, const adapt_model *m);
/* A file's tensor name with the model's prefix ("bert.encoder..."): kept when it has it, added
 * when it has none; the other model type's prefix fails, naming path and the file's tensor. */
adapt_status adapterhub_prefixed_name(const adapt_model *m, const char *name, char *out, size_t size, const char *path,
                                      const char *file_name);
/* dir/file's tensors into the store through `rename`, which gets f (the first member of its own
 * context) with f->path set to the file, and reports a refused tensor in f->status; a folder with
 * only pytorch_adapter.bin is told to convert it. */
typedef struct adapterhub_file {
    const char *path;
    adapt_status status;
} adapterhub_file;
adapt_status adapterhub_load_tensors(adapt_model *m, const char *dir, const char *file, param_rename_fn rename, adapterhub_file *f);

/* The metadata keys every AdapterHub config file carries (hidden_size, model_class, name, ...). */
void adapterhub_add_common(cJSON *root, const adapt_model *m, const char *name);
/* Writes root as dir/file (atomically). */
adapt_status adapterhub_write_json(const char *dir, const char *file, cJSON *root);

/* "BertAdapterModel", "RobertaAdapterModel", "XLMRobertaAdapterModel". */
const char *adapterhub_model_class(const adapt_model *m);

#endif
