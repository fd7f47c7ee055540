/* A BERT vocab.txt converted as transformers' BertConverter does: BertNormalizer (do_lower_case
 * from tokenizer_config.json, default true), BertPreTokenizer, WordPiece, [CLS] A [SEP] B [SEP]. */
#include "tokenize/tokenizer.h"
#include "tokenize/convert.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include <stdlib.h>
#include <string.h>

static bool config_lowercase(const char *dir)
{
    bool lc = true;
    if (!dir) return lc;
    char *p = path_join(dir, "tokenizer_config.json");
    cJSON *cfg;
    if (p && path_exists(p) && json_load_file(p, &cfg) == ADAPT_OK) {
        json_get_bool_opt(cfg, "do_lower_case", p, &lc);
        cJSON_Delete(cfg);
    }
    free(p);
    return lc;
}

static cJSON *special_piece(const char *id, int type_id)
{
    cJSON *o = cJSON_CreateObject(), *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "id", id);
    cJSON_AddNumberToObject(b, "type_id", type_id);
    cJSON_AddItemToObject(o, "SpecialToken", b);
    return o;
}

static cJSON *sequence_piece(const char *id, int type_id)
{
    cJSON *o = cJSON_CreateObject(), *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "id", id);
    cJSON_AddNumberToObject(b, "type_id", type_id);
    cJSON_AddItemToObject(o, "Sequence", b);
    return o;
}

/* TemplateProcessing "cls A sep" / "cls A sep [sep] B sep" (double_sep for RoBERTa-style pairs). */
cJSON *tk_template_json(const char *cls, int cls_id, const char *sep, int sep_id, bool double_sep, int pair_type);
cJSON *tk_template_json(const char *cls, int cls_id, const char *sep, int sep_id, bool double_sep, int pair_type)
{
    cJSON *pp = cJSON_CreateObject();
    cJSON_AddStringToObject(pp, "type", "TemplateProcessing");
    cJSON *single = cJSON_AddArrayToObject(pp, "single");
    cJSON_AddItemToArray(single, special_piece(cls, 0));
    cJSON_AddItemToArray(single, sequence_piece("A", 0));
    cJSON_AddItemToArray(single, special_piece(sep, 0));
    cJSON *pair = cJSON_AddArrayToObject(pp, "pair");
    cJSON_AddItemToArray(pair, special_piece(cls, 0));
    cJSON_AddItemToArray(pair, sequence_piece("A", 0));
    cJSON_AddItemToArray(pair, special_piece(sep, 0));
    if (double_sep) cJSON_AddItemToArray(pair, special_piece(sep, 0));
    cJSON_AddItemToArray(pair, sequence_piece("B", pair_type));
    cJSON_AddItemToArray(pair, special_piece(sep, pair_type));
    cJSON *st = cJSON_AddObjectToObject(pp, "special_tokens");
    const char *names[2] = {cls, sep};
    int ids[2] = {cls_id, sep_id};
    for (int i = 0; i < 2; i++) {
        cJSON *e = cJSON_AddObjectToObject(st, names[i]);
        cJSON_AddStringToObject(e, "id", names[i]);
        cJSON *a = cJSON_AddArrayToObject(e, "ids");
        cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
        cJSON *t = cJSON_AddArrayToObject(e, "tokens");
        cJSON_AddItemToArray(t, cJSON_CreateString(names[i]));
    }
    return pp;
}

cJSON *tk_added_json(const char *content, int id, bool lstrip);
cJSON *tk_added_json(const char *content, int id, bool lstrip)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "id", id);
    cJSON_AddStringToObject(a, "content", content);
    cJSON_AddBoolToObject(a, "single_word", false);
    cJSON_AddBoolToObject(a, "lstrip", lstrip);
    cJSON_AddBoolToObject(a, "rstrip", false);
    cJSON_AddBoolToObject(a, "normalized", false);
    cJSON_AddBoolToObject(a, "special", true);
    return a;
}

adapt_status tokenizer_from_vocab_txt(const char *path, const char *dir, adapt_tokenizer **out)
{
    char *text; size_t len;
    TRY(file_read_all(path, (size_t)1 << 30, &text, &len));
    cJSON *root = cJSON_CreateObject();
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "WordPiece");
    cJSON_AddStringToObject(model, "unk_token", "[UNK]");
    cJSON_AddStringToObject(model, "continuing_subword_prefix", "##");
    cJSON_AddNumberToObject(model, "max_input_chars_per_word", 100);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    strmap ids; strmap_init(&ids);
    size_t id = 0;
    for (char *line = text; line < text + len && id <= TK_MAX_ID;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        size_t l = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
        char save = line[l];
        line[l] = 0;
        cJSON_AddItemToObject(vocab, line, cJSON_CreateNumber((double)id));
        strmap_put(&ids, line, l, (int32_t)id);
        line[l] = save;
        id++;
        line += l + 1;
    }
    free(text);
    const char *specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    int32_t sid[5];
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    for (int i = 0; i < 5; i++) {
        if (!strmap_get(&ids, specials[i], strlen(specials[i]), &sid[i])) sid[i] = -1;
        else cJSON_AddItemToArray(added, tk_added_json(specials[i], sid[i], false));
    }
    strmap_free(&ids);
    if (sid[2] < 0 || sid[3] < 0 || sid[1] < 0) {
        cJSON_Delete(root);
        return adapt_fail(ADAPT_ERR_FORMAT, "%s: a BERT vocab.txt needs [UNK], [CLS] and [SEP]", path);
    }
    cJSON *norm = cJSON_AddObjectToObject(root, "normalizer");
    cJSON_AddStringToObject(norm, "type", "BertNormalizer");
    cJSON_AddBoolToObject(norm, "clean_text", true);
    cJSON_AddBoolToObject(norm, "handle_chinese_chars", true);
    cJSON_AddNullToObject(norm, "strip_accents");
    cJSON_AddBoolToObject(norm, "lowercase", config_lowercase(dir));
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "BertPreTokenizer");
    cJSON_AddItemToObject(root, "post_processor", tk_template_json("[CLS]", sid[2], "[SEP]", sid[3], false, 1));
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    cJSON_AddStringToObject(dec, "type", "WordPiece");
    cJSON_AddStringToObject(dec, "prefix", "##");
    cJSON_AddBoolToObject(dec, "cleanup", true);
    adapt_status st = tokenizer_from_json(root, path, out);
    cJSON_Delete(root);
    return st;
}
