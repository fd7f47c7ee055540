/* AdapterHub's saved file sets, read and written exactly as the Python `adapters` library does:
 *   adapter:  adapter_config.json + adapter.safetensors
 *   head:     head_config.json + model_head.safetensors
 *   fusion:   adapter_fusion_config.json + model_adapter_fusion.safetensors
 * Tensor names carry the bert./roberta. prefix (or none, on load); legacy names
 * (*_text_task_adapters, *_text_lang_adapters, invertible_lang_adapters) are renamed on load. */
#ifndef ADAPT_FORMATS_ADAPTERHUB_H
#define ADAPT_FORMATS_ADAPTERHUB_H
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

/* The metadata keys every AdapterHub config file carries (hidden_size, model_class, name, ...). */
void adapterhub_add_common(cJSON *root, const adapt_model *m, const char *name);
/* Writes root as dir/file (atomically); adapterhub_make_dir creates dir when missing. */
adapt_status adapterhub_write_json(const char *dir, const char *file, cJSON *root);
adapt_status adapterhub_make_dir(const char *dir);

/* "BertAdapterModel", "RobertaAdapterModel", "XLMRobertaAdapterModel". */
const char *adapterhub_model_class(const adapt_model *m);

#endif
