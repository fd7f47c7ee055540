/* The public API's adapters, fusions, LoRA and compositions (adapt.h): checked arguments around
 * the registry (adapters/setup.h) and the file formats (formats/adapterhub.h, formats/peft.h). */
#include "adapters/lora.h"
#include "adapters/setup.h"
#include "core/error.h"
#include "formats/adapterhub.h"
#include "formats/adapterhub_lora.h"
#include "formats/peft.h"
#include <string.h>

#define NEED(cond, ...) \
    do { \
        if (!(cond)) return adapt_fail(ADAPT_ERR_ARG, __VA_ARGS__); \
    } while (0)

adapt_status adapt_model_load_adapter(adapt_model *model, const char *dir, const char *load_as, char *name_out,
                                      size_t name_size)
{
    NEED(model && dir, "adapt_model_load_adapter: no model or no folder");
    return adapterhub_load_adapter(model, dir, load_as, name_out, name_size);
}

adapt_status adapt_model_add_adapter(adapt_model *model, const char *name, const char *config, uint64_t seed)
{
    NEED(model && name && config, "adapt_model_add_adapter: no model, name or config");
    TRY(setup_check_new_adapter_name(model, name));
    adapter_setup *s;
    TRY(model_setup(model, &s));
    s->rng = seed ^ 0x9e3779b97f4a7c15ull; /* a zero seed still draws */
    return setup_add_adapter_from_string(model, name, config);
}

adapt_status adapt_model_save_adapter(adapt_model *model, const char *name, const char *dir)
{
    NEED(model && name && dir, "adapt_model_save_adapter: no model, name or folder");
    return adapterhub_save_adapter(model, dir, name);
}

adapt_status adapt_model_delete_adapter(adapt_model *model, const char *name)
{
    NEED(model && name, "adapt_model_delete_adapter: no model or name");
    return setup_delete_adapter(model, name);
}

int adapt_model_num_adapters(const adapt_model *model)
{
    return model && model->setup ? model->setup->n_adapters : 0;
}

const char *adapt_model_adapter_name(const adapt_model *model, int k)
{
    if (k < 0 || k >= adapt_model_num_adapters(model)) return NULL;
    return model->setup->adapters[k].name;
}

adapt_status adapt_model_load_fusion(adapt_model *model, const char *dir)
{
    NEED(model && dir, "adapt_model_load_fusion: no model or no folder");
    return adapterhub_load_fusion(model, dir);
}

adapt_status adapt_model_load_lora(adapt_model *model, const char *dir)
{
    NEED(model && dir, "adapt_model_load_lora: no model or no folder");
    return peft_load(model, dir);
}

adapt_status adapt_model_load_lora_as(adapt_model *model, const char *dir, const char *name)
{
    NEED(model && dir && name, "adapt_model_load_lora_as: no model, folder or name");
    return peft_load_as(model, dir, name);
}

adapt_status adapt_model_set_lora(adapt_model *model, const char *name)
{
    NEED(model, "adapt_model_set_lora: no model");
    return lora_activate(model, name);
}

const char *adapt_model_active_lora(const adapt_model *model)
{
    return model && model->lora ? model->lora->name : NULL;
}

int adapt_model_num_loras(const adapt_model *model)
{
    return model ? model->n_loras : 0;
}

const char *adapt_model_lora_name(const adapt_model *model, int i)
{
    return i >= 0 && i < adapt_model_num_loras(model) ? model->loras[i]->name : NULL;
}

static adapt_status save_active_lora(adapt_model *model, void *dir)
{
    return peft_save(model, dir, NULL);
}

adapt_status adapt_model_save_lora(adapt_model *model, const char *name, const char *dir)
{
    NEED(model && name && dir, "adapt_model_save_lora: no model, name or folder");
    return lora_while_active(model, name, save_active_lora, (void *)dir); /* its modules_to_save values in the model's tensors */
}

static adapt_status save_active_lora_adapterhub(adapt_model *model, void *dir)
{
    return adapterhub_save_lora(model, dir);
}

adapt_status adapt_model_save_lora_adapterhub(adapt_model *model, const char *name, const char *dir)
{
    NEED(model && name && dir, "adapt_model_save_lora_adapterhub: no model, name or folder");
    return lora_while_active(model, name, save_active_lora_adapterhub, (void *)dir);
}

adapt_status adapt_model_add_weighted_lora(adapt_model *model, const char *const *loras, const double *weights, int n,
                                           const char *name, const char *combination)
{
    NEED(model && loras && weights && name, "adapt_model_add_weighted_lora: no model, LoRA names, weights or new name");
    return lora_add_weighted(model, loras, weights, n, name, combination);
}

adapt_status adapt_model_combine_loras(adapt_model *model, const char *const *loras, const double *weights, int n,
                                       const char *name, const adapt_lora_combination *how)
{
    NEED(model && loras && weights && name && how, "adapt_model_combine_loras: no model, LoRA names, weights, new name or options");
    return lora_combine(model, loras, weights, n, name, how);
}

adapt_status adapt_model_delete_lora(adapt_model *model, const char *name)
{
    NEED(model && name, "adapt_model_delete_lora: no model or name");
    return lora_delete(model, name);
}

adapt_status adapt_model_merge_lora(adapt_model *model)
{
    NEED(model && model->lora, "no active LoRA to merge");
    return lora_merge(model);
}

adapt_status adapt_model_unmerge_lora(adapt_model *model)
{
    NEED(model && model->lora, "no active LoRA to unmerge");
    return lora_unmerge(model);
}

adapt_status adapt_model_set_setup(adapt_model *model, const char *composition)
{
    NEED(model, "adapt_model_set_setup: no model");
    return setup_activate(model, composition);
}

int adapt_model_setup_channels(const adapt_model *model)
{
    return model && model->setup ? comp_parallel_channels(model->setup->active) : 1;
}

adapt_status adapt_model_encode_channels(adapt_model *model, int B, int T, const int32_t *ids, const int32_t *mask,
                                         const int32_t *type_ids, float *hidden_out)
{
    NEED(model && hidden_out, "adapt_model_encode_channels: no model or no output");
    int channels;
    TRY(model_forward_channels(model, B, T, ids, mask, type_ids, &channels));
    memcpy(hidden_out, model->fw.hidden[model->cfg.layers], (size_t)channels * B * T * model->cfg.hidden * sizeof(float));
    return ADAPT_OK;
}

size_t adapt_model_get_setup(const adapt_model *model, char *buf, size_t size)
{
    char text[4096] = "";
    if (model && model->setup && model->setup->active) comp_format(model->setup->active, text, sizeof text);
    if (buf && size) {
        strncpy(buf, text, size - 1);
        buf[size - 1] = 0;
    }
    return strlen(text);
}
