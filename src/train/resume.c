#include "train/resume.h"
#include "core/error.h"
#include "core/fileio.h"
#include "formats/safetensors.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAX_BYTES ((size_t)256 << 20)

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tree_quiet(const char *dir)
{
    if (path_exists(dir)) nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static char *join3(const char *a, const char *b, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", a, b);
    return buf;
}

/* ------------------------------------------------------------------ state.json */
static cJSON *u64_json(uint64_t v)
{
    char t[32];
    snprintf(t, sizeof t, "%016" PRIx64, v);
    return cJSON_CreateString(t);
}

/* JSON has no NaN or infinity: those losses are stored as the strings "nan", "inf", "-inf". */
static cJSON *double_json(double v)
{
    if (isnan(v)) return cJSON_CreateString("nan");
    if (isinf(v)) return cJSON_CreateString(v > 0 ? "inf" : "-inf");
    /* cJSON_CreateNumber prints 15 digits when they compare equal within DBL_EPSILON: not exact */
    char t[40];
    snprintf(t, sizeof t, "%.17g", v);
    return cJSON_CreateRaw(t);
}

static bool json_double(const cJSON *j, double *out)
{
    if (cJSON_IsNumber(j)) *out = j->valuedouble;
    else if (cJSON_IsString(j) && !strcmp(j->valuestring, "nan")) *out = NAN;
    else if (cJSON_IsString(j) && !strcmp(j->valuestring, "inf")) *out = INFINITY;
    else if (cJSON_IsString(j) && !strcmp(j->valuestring, "-inf")) *out = -INFINITY;
    else return false;
    return true;
}

static cJSON *array_json(const double *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++) {
        cJSON *x = double_json(v[i]);
        if (!x || !cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(x);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static char *state_to_json(const train_state *st)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    bool ok = cJSON_AddNumberToObject(o, "version", 1) && cJSON_AddNumberToObject(o, "step", (double)st->step) &&
              cJSON_AddNumberToObject(o, "micro_step", (double)st->micro) &&
              cJSON_AddNumberToObject(o, "cursor", (double)st->cursor) &&
              cJSON_AddNumberToObject(o, "train_examples", (double)st->n_train) &&
              cJSON_AddItemToObject(o, "rng", u64_json(st->rng)) && cJSON_AddItemToObject(o, "epoch_rng", u64_json(st->epoch_rng)) &&
              cJSON_AddItemToObject(o, "dropout_rng", u64_json(st->dropout_rng)) &&
              cJSON_AddItemToObject(o, "best_metric", double_json(st->best)) &&
              cJSON_AddNumberToObject(o, "best_step", (double)st->best_step) &&
              cJSON_AddNumberToObject(o, "bad_evals", st->bad_evals) &&
              cJSON_AddNumberToObject(o, "skipped_steps", (double)st->skipped) &&
              cJSON_AddItemToObject(o, "elapsed_seconds", double_json(st->elapsed)) &&
              cJSON_AddItemToObject(o, "tokens", double_json(st->tokens)) &&
              cJSON_AddItemToObject(o, "fusion_temperatures", array_json(st->temps, (size_t)st->n_temps)) &&
              cJSON_AddStringToObject(o, "options", st->fingerprint) &&
              cJSON_AddItemToObject(o, "eval_steps", array_json(st->eval_x, st->n_eval)) &&
              cJSON_AddItemToObject(o, "eval_metrics", array_json(st->eval_y, st->n_eval)) &&
              cJSON_AddItemToObject(o, "losses", array_json(st->losses, st->n_losses));
    char *text = ok ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    return text;
}

static bool get_u64(const cJSON *o, const char *key, uint64_t *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(j) || strlen(j->valuestring) != 16) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(j->valuestring, &end, 16);
    if (*end || errno) return false;
    *out = (uint64_t)v;
    return true;
}

static bool get_count(const cJSON *o, const char *key, double max, long *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(j) || !(j->valuedouble >= 0) || j->valuedouble > max || j->valuedouble != floor(j->valuedouble)) return false;
    *out = (long)j->valuedouble;
    return true;
}

static bool get_array(const cJSON *o, const char *key, size_t max, double **out, size_t *n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a)) return false;
    size_t k = (size_t)cJSON_GetArraySize(a);
    if (k > max) return false;
    double *v = malloc((k ? k : 1) * sizeof *v);
    if (!v) return false;
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a)
    {
        if (!json_double(x, &v[i++])) {
            free(v);
            return false;
        }
    }
    *out = v;
    *n = k;
    return true;
}

static adapt_status state_from_json(const char *path, const char *text, train_state *st)
{
    cJSON *o = cJSON_Parse(text);
    if (!o) return adapt_fail(ADAPT_ERR_FORMAT, "%s: not valid JSON", path);
    long step = 0, micro = 0, cursor = 0, n_train = 0, best_step = 0, bad = 0, skipped = 0, version = 0;
    const double big = 9e15;
    double *temps = NULL;
    size_t n_temps = 0;
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(o, "options");
    bool ok = get_count(o, "version", 1, &version) && version == 1 && get_count(o, "step", big, &step) &&
              get_count(o, "micro_step", big, &micro) && get_count(o, "cursor", big, &cursor) &&
              get_count(o, "train_examples", big, &n_train) && get_count(o, "best_step", big, &best_step) &&
              get_count(o, "bad_evals", 1e9, &bad) && get_count(o, "skipped_steps", big, &skipped) &&
              get_u64(o, "rng", &st->rng) && get_u64(o, "epoch_rng", &st->epoch_rng) && get_u64(o, "dropout_rng", &st->dropout_rng) &&
              json_double(cJSON_GetObjectItemCaseSensitive(o, "best_metric"), &st->best) &&
              json_double(cJSON_GetObjectItemCaseSensitive(o, "elapsed_seconds"), &st->elapsed) &&
              json_double(cJSON_GetObjectItemCaseSensitive(o, "tokens"), &st->tokens) && cJSON_IsString(opt) &&
              strlen(opt->valuestring) < sizeof st->fingerprint &&
              get_array(o, "fusion_temperatures", CKPT_MAX_TEMPS, &temps, &n_temps) &&
              get_array(o, "eval_steps", (size_t)big, &st->eval_x, &st->n_eval) &&
              get_array(o, "eval_metrics", st->n_eval, &st->eval_y, &st->n_eval) &&
              get_array(o, "losses", (size_t)step, &st->losses, &st->n_losses) && st->n_losses == (size_t)step;
    if (ok) {
        st->step = step, st->micro = micro, st->cursor = (size_t)cursor, st->n_train = (size_t)n_train;
        st->best_step = best_step, st->bad_evals = (int)bad, st->skipped = skipped;
        snprintf(st->fingerprint, sizeof st->fingerprint, "%s", opt->valuestring);
        st->n_temps = (int)n_temps;
        memcpy(st->temps, temps, n_temps * sizeof(double));
    }
    free(temps);
    cJSON_Delete(o);
    return ok ? ADAPT_OK : adapt_fail(ADAPT_ERR_FORMAT, "%s: missing or invalid training state", path);
}

void train_state_free(train_state *st)
{
    free(st->losses);
    free(st->eval_x);
    free(st->eval_y);
    st->losses = st->eval_x = st->eval_y = NULL;
    st->n_losses = st->n_eval = 0;
}

/* ------------------------------------------------------------------ saving */
static adapt_status save_tensors(const char *path, param_store *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++) n += s->items[i]->trainable;
    adapt_tensor_desc *d = calloc(3 * n + 1, sizeof *d);
    char **names = calloc(3 * n + 1, sizeof *names);
    adapt_status st = d && names ? ADAPT_OK : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
    size_t k = 0;
    static const char *const kinds[3] = {"param", "adam_m", "adam_v"};
    for (size_t i = 0; !st && i < s->count; i++) {
        param *p = s->items[i];
        if (!p->trainable) continue;
        /* moments start at zero (adamw_step allocates them lazily): a zero buffer is the same state */
        if (!p->adam_m) p->adam_m = alloc_floats(p->numel);
        if (!p->adam_v) p->adam_v = alloc_floats(p->numel);
        if (!p->adam_m || !p->adam_v) {
            st = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
            break;
        }
        const float *bufs[3] = {p->data, p->adam_m, p->adam_v};
        for (int j = 0; j < 3 && !st; j++, k++) {
            size_t len = strlen(kinds[j]) + strlen(p->name) + 2;
            names[k] = malloc(len);
            if (!names[k]) {
                st = adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
                break;
            }
            snprintf(names[k], len, "%s/%s", kinds[j], p->name);
            d[k].name = names[k];
            d[k].dtype = ADAPT_DTYPE_F32;
            d[k].ndim = p->ndim;
            for (int q = 0; q < p->ndim; q++) d[k].shape[q] = p->shape[q];
            d[k].data = bufs[j];
        }
    }
    const char *meta[2] = {"format", "adapt-train-checkpoint"};
    if (!st) st = adapt_safetensors_write(path, d, k, meta, 1);
    for (size_t i = 0; names && i < k; i++) free(names[i]);
    free(names);
    free(d);
    return st;
}

adapt_status ckpt_save(const char *out_dir, param_store *s, const train_state *st)
{
    char tmp[4200], cur[4200], old[4200], file[4400];
    join3(out_dir, "checkpoint.tmp", tmp, sizeof tmp);
    join3(out_dir, "checkpoint", cur, sizeof cur);
    join3(out_dir, "checkpoint.old", old, sizeof old);
    if (path_exists(old) && !path_exists(cur)) { /* an interrupted fallback swap: keep the complete one */
        if (rename(old, cur) != 0) return adapt_fail(ADAPT_ERR_IO, "%s: cannot rename: %s", old, strerror(errno));
        fsync_dir(out_dir);
    }
    remove_tree_quiet(tmp);
    remove_tree_quiet(old);
    if (mkdir(tmp, 0755) != 0) return adapt_fail(ADAPT_ERR_IO, "%s: cannot create folder: %s", tmp, strerror(errno));
    TRY(save_tensors(join3(tmp, "tensors.safetensors", file, sizeof file), s));
    char *json = state_to_json(st);
    if (!json) return adapt_fail(ADAPT_ERR_NOMEM, "out of memory for the training state");
    adapt_status r = file_write_atomic(join3(tmp, "state.json", file, sizeof file), json, strlen(json));
    free(json);
    TRY(r);
    fsync_dir(tmp);
    if (!path_exists(cur)) {
        if (rename(tmp, cur) != 0) return adapt_fail(ADAPT_ERR_IO, "%s: cannot rename: %s", tmp, strerror(errno));
    } else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, cur, RENAME_EXCHANGE) != 0) {
        /* no RENAME_EXCHANGE here: between these renames only checkpoint.old exists (complete) */
        if (rename(cur, old) != 0) return adapt_fail(ADAPT_ERR_IO, "%s: cannot rename: %s", cur, strerror(errno));
        fsync_dir(out_dir);
        if (rename(tmp, cur) != 0) return adapt_fail(ADAPT_ERR_IO, "%s: cannot rename: %s", tmp, strerror(errno));
    }
    fsync_dir(out_dir);
    remove_tree_quiet(tmp); /* after an exchange: the previous checkpoint */
    remove_tree_quiet(old);
    return ADAPT_OK;
}

/* ------------------------------------------------------------------ loading */
static adapt_status load_tensors(const char *path, param_store *s)
{
    st_file f;
    TRY(st_open(path, &f));
    adapt_status st = ADAPT_OK;
    static const char *const kinds[3] = {"param", "adam_m", "adam_v"};
    size_t expected = 0;
    char name[1024];
    for (size_t i = 0; !st && i < s->count; i++) {
        param *p = s->items[i];
        if (!p->trainable) continue;
        for (int j = 0; j < 3 && !st; j++) {
            snprintf(name, sizeof name, "%s/%s", kinds[j], p->name);
            const st_tensor *t = st_find(&f, name);
            expected++;
            if (!t) {
                st = adapt_fail(ADAPT_ERR_FORMAT, "%s: no tensor \"%s\" (the checkpoint is for another setup)", path, name);
                break;
            }
            bool same = t->dtype == ADAPT_DTYPE_F32 && t->ndim == p->ndim && t->numel == p->numel;
            for (int q = 0; same && q < p->ndim; q++) same = t->shape[q] == p->shape[q];
            if (!same) {
                st = adapt_fail(ADAPT_ERR_FORMAT, "%s: \"%s\" has another shape or type than the model's", path, name);
                break;
            }
            float **dst = j == 0 ? &p->data : j == 1 ? &p->adam_m : &p->adam_v;
            if (!*dst) *dst = alloc_floats(p->numel);
            st = *dst ? st_to_f32(&f, t, *dst) : adapt_fail(ADAPT_ERR_NOMEM, "out of memory");
        }
    }
    if (!st && expected != f.count)
        st = adapt_fail(ADAPT_ERR_FORMAT, "%s: %zu tensors, the model trains %zu (the checkpoint is for another setup)", path, f.count, expected);
    st_close(&f);
    return st;
}

adapt_status ckpt_load(const char *out_dir, param_store *s, train_state *st, bool *found)
{
    char tmp[4200], cur[4200], old[4200], file[4400];
    join3(out_dir, "checkpoint.tmp", tmp, sizeof tmp);
    join3(out_dir, "checkpoint", cur, sizeof cur);
    join3(out_dir, "checkpoint.old", old, sizeof old);
    *found = false;
    if (!path_exists(cur) && path_exists(old)) {
        if (rename(old, cur) != 0) return adapt_fail(ADAPT_ERR_IO, "%s: cannot rename: %s", old, strerror(errno));
        fsync_dir(out_dir);
    }
    remove_tree_quiet(tmp);
    remove_tree_quiet(old);
    if (!path_exists(cur)) return ADAPT_OK;
    char *text;
    size_t len;
    TRY(file_read_all(join3(cur, "state.json", file, sizeof file), STATE_MAX_BYTES, &text, &len));
    adapt_status r = state_from_json(file, text, st);
    free(text);
    if (!r) r = load_tensors(join3(cur, "tensors.safetensors", file, sizeof file), s);
    if (r) {
        train_state_free(st);
        return r;
    }
    *found = true;
    return ADAPT_OK;
}
