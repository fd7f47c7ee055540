/* The silver-data rules of MAD-X self-training (scripts/madx-silver.awk) on a teacher's tags
 * written for the purpose (tests/data/madx-silver/teacher.conll), against the silver data they
 * must give (silver.conll beside it):
 *   - "Wanta", tagged LOC in three of its four mid-sentence uses, is LOC everywhere (also where
 *     the teacher said PER, and where it missed the name: the sentence-initial title);
 *   - "suyu" follows names in article titles ("Wanta suyu nisqaqa"), so it continues a name,
 *     suffixed too ("Wanta suyupi"), makes the whole title one entity, and retypes the name
 *     before it ("Antonio Raymondi suyupi" is a place, after another entity: a new one);
 *   - "simi" opens titles after names too, but fewer than half of its uses follow a name ("runa
 *     simi", "kastinlla simipi"): not a head ("Aymara simipi" stays "Aymara");
 *   - lower-case words leave entities ("Perú mama llaqtapi"), a sentence with an unsure entity word
 *     the teacher alone decided is dropped ("Arequipa", 0.5), and so is one opening with a name
 *     nothing typed ("Kichwa simi nisqaqa"); templates are kept once ("964 wataqa" / "965
 *     wataqa"), and entity-free sentences as many as there are;
 *   - boilerplate (boilerplate.conll: the Commons line of three articles, names masked the same
 *     sentence; "Commons" also written mid-sentence, a name) is used per_template times at most.
 * Article titles typed by their predicate (titles.conll -> titles-silver.conll): "llaqta" (town)
 * closes the first sentence of five articles whose titles the text writes as names and the
 * teacher types LOC, so a title with it is a LOC entity: "Ayawiri", written nowhere else and
 * missed by the teacher, and "Santa Rosa", which the teacher split into a PER and a LOC; not
 * "Pampa", written lower-case elsewhere (a common noun: O). "Wiñaymarka", whose predicate
 * ("qucha") has no titles to learn from, is written nowhere else and nothing types it: most such
 * titles are names, so its sentence is left out. A word after an initial ("Augusto B . Leguía")
 * does not open a sentence: the teacher's tag stands. A head that is mostly a common noun is kept
 * when it names its titles' class (heads.conll -> heads-silver.conll): "Beni mayu nisqaqa ... huk
 * mayum" (a river) three times, so "mayu" continues "Beni", "Ramis", "Tampu", in titles and
 * mid-sentence, though most of its uses are common ("hatun mayu"); "Aymara simi nisqaqa ... huk
 * rimaymi" (a language) does not make "simi" a head. With head_names_rule=1, a head also names
 * the capitalised words before it that nothing typed, where a list item or a sentence opens with
 * them (head-names.conll -> head-names-silver.conll): ": Abiseo mayu", "• Tumpis mayuman",
 * "Jach'a Juqhu mayuman"; not "Hatun mayu" (big river: "hatun" is written lower-case elsewhere)
 * or "Limapiqa mayu" (the enclitic ends the noun phrase); without it (the default) those stay O
 * (head-names-default.conll).
 * Where names end (names.conll -> names-silver.conll): adjacent names of one type are one entity
 * where the teacher split them ("Carlos Alberto Reutemann", "Santa Cruz": "Santa" is "San" + -ta
 * in form, but the text writes it before names), and a name with a case suffix after a name the
 * text writes bare ends its entity where the teacher ran on ("Perúpi" | "Lima"); adjacent names
 * of two types leave their sentence out ("Salvador Allende"); a first word the text writes
 * nowhere else that the teacher puts in the name after it joins that name ("Wilhelm Richard
 * Wagner"), unless an enclitic ends it ("Apiaqa Samoa": O, then the name).
 * A biography's person (persons.conll -> persons-silver.conll): the capitalised words opening a
 * sentence before "sutiyuq runaqa" / ", sutiyuq qhariqa" or before a parenthesis with "paqarisqa"
 * (born) are one PER entity, particles inside ("Jöns Jacob von Berzelius"), where the teacher
 * left out the first word, typed a word LOC or split the name; those words vote PER, so "Einaudi"
 * mid-sentence, typed LOC by the teacher, is PER. A parenthesis without a birth ("Puno ( Piruw )")
 * and "sutiyuq" before a place word ("Wanka sutiyuq llaqtaqa") leave the teacher's tags.
 * Capitalised neighbours (joins.conll -> joins-silver.conll): a capitalised word inside a sentence
 * that the teacher left out beside a name, written capitalised more often than not, is part of it
 * ("Buenos Aires", "Hukllachasqa Qhapaq Suyu", where a capitalised head, "Suyu", continues the
 * name as a lower-case one does); not a capitalised common noun ("Kamachiy", written lower-case
 * twice), a word after a case suffix ("Perúpi" | "Wankar") or a sentence's first word ("Inka").
 * Institutions (institutions.conll -> institutions-silver.conll): an entity with a noun naming an
 * institution or a building is an organisation, as WikiANN types them: "Comunista Partidonpa"
 * (Spanish "partido" with Quechua suffixes) and "Ayllu Yachay Wasi" (a school) where the teacher
 * said PER, "San Marcos Hatun Yachay Sunturpi" (a university) and "Universidad Católica" where it
 * said LOC; not "Julio Iglesias" (a surname, not "iglesia" + a suffix), a biography's person
 * ("Rosa Museo sutiyuq warmiqa"), "Inka Wasi" (a place: "wasi" alone names no institution), or
 * the place before a lower-case "yachay wasipi"; "Limapi", with its case suffix, stays a place.
 * And the WikiANN-style fragments of silver sentences (scripts/madx-fragments.awk) on
 * fragments-in.conll: per_sentence (1, or 2) per sentence with entities, opening with its
 * entities in turn, alone or (every other one) with up to 4 words after it, never ending inside
 * the next entity; with markup_every=3, every third again in WikiANN's bold or italic markup
 * (fragments-markup.conll). And the self-training script's refusal of a fragment count, markup rate or
 * seed that is not a number. */
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>

/* runs madx-silver.awk with these awk options on the teacher's tags (tests/data/madx-silver/
 * TEACHER.conll, read three times), writing the silver data to TMP/OUT and its log to TMP/log */
static int run_silver(const char *tmp, const char *teacher, const char *options, const char *out)
{
    return run_command("t=tests/data/madx-silver/%s.conll; awk -f scripts/madx-case.awk -f scripts/madx-silver.awk %s -v out='%s' $t $t $t > '%s'", teacher,
                       options, path_in(tmp, out), path_in(tmp, "log"));
}

/* 0 when madx-silver.awk with these awk options turns the teacher's tags into exactly the silver
 * data EXPECTED (in tests/data/madx-silver) and logs exactly LOG */
static int silver_with_options_is(const char *teacher, const char *options, const char *expected, const char *log)
{
    char *tmp = make_temp_dir();
    int rc = run_silver(tmp, teacher, options, "silver.conll") ||
             run_command("diff tests/data/madx-silver/%s '%s' >&2 && grep -qxF '%s' '%s'", expected, path_in(tmp, "silver.conll"), log, path_in(tmp, "log"));
    remove_tree(tmp);
    free(tmp);
    return rc;
}

static int silver_is(const char *teacher, const char *expected, const char *log)
{
    return silver_with_options_is(teacher, "", expected, log);
}

static void test_silver_rules(void **state)
{
    (void)state;
    assert_int_equal(silver_is("teacher", "silver.conll",
                               "kept 15 of 15 sentences with entities and 4 of 4 without; name heads: suyu (LOC, 7/7/9); title predicates:"),
                     0);
    char *tmp = make_temp_dir();
    /* max caps the sentences with entities, spread over the text, and the entity-free ones with them */
    assert_int_equal(run_silver(tmp, "teacher", "-v max=3", "capped.conll"), 0);
    assert_int_equal(run_command("grep -q '^kept 3 of 15 sentences with entities and 3 of 4 without' '%s'", path_in(tmp, "log")), 0);
    assert_int_equal(run_command("test $(grep -c '^$' '%s') -eq 6", path_in(tmp, "capped.conll")), 0);
    assert_int_equal(run_command("head -n 5 '%s' | cut -f2 | tr '\\n' ' ' | grep -qx 'O B-LOC I-LOC O O '", path_in(tmp, "capped.conll")), 0);
    for (int per_template = 1; per_template <= 3; per_template++) {
        char options[32];
        snprintf(options, sizeof options, "-v per_template=%d", per_template);
        assert_int_equal(run_silver(tmp, "boilerplate", options, "boiler.conll"), 0);
        assert_int_equal(run_command("grep -q '^kept %d of %d sentences with entities' '%s' && test $(grep -c '^Commons.B-ORG' '%s') -eq %d && "
                                     "grep -q '^Lima.B-LOC' '%s'",
                                     per_template + 1, per_template + 1, path_in(tmp, "log"), path_in(tmp, "boiler.conll"), per_template,
                                     path_in(tmp, "boiler.conll")),
                         0);
    }
    remove_tree(tmp);
    free(tmp);
}

static void test_title_rules(void **state)
{
    (void)state;
    assert_int_equal(silver_is("titles", "titles-silver.conll",
                               "kept 11 of 11 sentences with entities and 3 of 3 without; name heads:; title predicates: llaqta (LOC, 5/6/1)"),
                     0);
    assert_int_equal(silver_is("heads", "heads-silver.conll", "kept 9 of 9 sentences with entities and 8 of 8 without; name heads: mayu (LOC, 3/3/10); title predicates:"), 0);
    assert_int_equal(silver_with_options_is("head-names", "-v head_names_rule=1", "head-names-silver.conll",
                                            "kept 10 of 10 sentences with entities and 2 of 2 without; name heads: mayu (LOC, 4/6/10); title predicates:"),
                     0);
    /* off by default: the untyped names before a head stay O */
    assert_int_equal(silver_is("head-names", "head-names-default.conll",
                               "kept 8 of 8 sentences with entities and 4 of 4 without; name heads: mayu (LOC, 4/6/10); title predicates:"),
                     0);
}

static void test_name_boundaries(void **state)
{
    (void)state;
    assert_int_equal(silver_is("names", "names-silver.conll", "kept 11 of 11 sentences with entities and 1 of 1 without; name heads:; title predicates:"), 0);
}

static void test_persons(void **state)
{
    (void)state;
    assert_int_equal(silver_is("persons", "persons-silver.conll", "kept 12 of 12 sentences with entities and 1 of 1 without; name heads:; title predicates:"), 0);
}

static void test_capitalised_neighbours(void **state)
{
    (void)state;
    assert_int_equal(silver_is("joins", "joins-silver.conll", "kept 14 of 14 sentences with entities and 2 of 2 without; name heads: suyu (LOC, 3/3/6); title predicates:"), 0);
}

static void test_institutions(void **state)
{
    (void)state;
    assert_int_equal(silver_is("institutions", "institutions-silver.conll", "kept 13 of 13 sentences with entities and 1 of 1 without; name heads:; title predicates:"),
                     0);
}

/* 0 when madx-fragments.awk with these awk options writes exactly these fragments, each given
 * as " word word" and followed by '|' */
static int fragments_are(const char *options, const char *expected)
{
    return run_command("awk -f scripts/madx-fragments.awk %s tests/data/madx-silver/fragments-in.conll | "
                       "awk 'BEGIN { RS = \"\"; FS = \"\\n\" } { s = \"\"; for (i = 1; i <= NF; i++) { split($i, a, \"\\t\"); s = s \" \" a[1] } "
                       "print s }' | tr '\\n' '|' | grep -qx '%s'",
                       options, expected);
}

static void test_fragments(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    int rc = run_command("awk -f scripts/madx-fragments.awk tests/data/madx-silver/fragments-in.conll > '%s'", path_in(tmp, "out.conll"));
    assert_int_equal(rc, 0);
    assert_int_equal(run_command("diff tests/data/madx-silver/fragments.conll '%s' >&2", path_in(tmp, "out.conll")), 0);
    /* the entity-free sentence gives none */
    assert_int_equal(fragments_are("", " Lima| Wanta pruwinsya nisqaqa x y| Ayakuchu suyupi| Qusqu x y z Lima|"), 0);
    /* two per sentence: the kinds and the entities still taken in turn, across sentences */
    assert_int_equal(fragments_are("-v per_sentence=2", " Lima| Lima x| Ayakuchu suyupi| Qusqu Wanta pruwinsya nisqaqa x| Wanta pruwinsya| "
                                                        "Ayakuchu suyupi huk| Qusqu| Lima w Piruw|"),
                     0);
    /* every third fragment is given again with its entity in WikiANN's markup, bold ("' ''" ..
     * "'' '") and italic ("''" .. "''") in turn, tagged O, the words after the entity outside it */
    rc = run_command("awk -f scripts/madx-fragments.awk -v per_sentence=2 -v markup_every=3 tests/data/madx-silver/fragments-in.conll > '%s'",
                     path_in(tmp, "markup.conll"));
    assert_int_equal(rc, 0);
    assert_int_equal(run_command("diff tests/data/madx-silver/fragments-markup.conll '%s' >&2", path_in(tmp, "markup.conll")), 0);
    remove_tree(tmp);
    free(tmp);
}

/* the self-training script refuses a fragment count, markup rate or seed that is not a number before it starts */
static void test_self_train_arguments(void **state)
{
    (void)state;
    char *tmp = make_temp_dir();
    int rc = run_command("ADAPT=/bin/true SELF_TRAIN_FRAGMENTS=two bash scripts/madx-self-train.sh 2> '%s' >&2", path_in(tmp, "err"));
    assert_int_equal(rc, 2);
    assert_int_equal(run_command("grep -q \"SELF_TRAIN_FRAGMENTS must be a count of fragments per sentence (0: none), not 'two'\" '%s'",
                                 path_in(tmp, "err")),
                     0);
    rc = run_command("ADAPT=/bin/true SELF_TRAIN_SEED=7x bash scripts/madx-self-train.sh 2> '%s' >&2", path_in(tmp, "err"));
    assert_int_equal(rc, 2);
    assert_int_equal(run_command("grep -q \"SELF_TRAIN_SEED must be a non-negative integer, not '7x'\" '%s'", path_in(tmp, "err")), 0);
    rc = run_command("ADAPT=/bin/true SELF_TRAIN_MARKUP=-1 bash scripts/madx-self-train.sh 2> '%s' >&2", path_in(tmp, "err"));
    assert_int_equal(rc, 2);
    assert_int_equal(run_command("grep -q \"SELF_TRAIN_MARKUP must say every how many fragments carry markup (0: none), not '-1'\" '%s'", path_in(tmp, "err")),
                     0);
    rc = run_command("ADAPT=/bin/true SELF_TRAIN_HEAD_NAMES=yes bash scripts/madx-self-train.sh 2> '%s' >&2", path_in(tmp, "err"));
    assert_int_equal(rc, 2);
    assert_int_equal(run_command("grep -q \"SELF_TRAIN_HEAD_NAMES must be 0 or 1, not 'yes'\" '%s'", path_in(tmp, "err")), 0);
    remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_silver_rules), cmocka_unit_test(test_title_rules), cmocka_unit_test(test_name_boundaries),
                                       cmocka_unit_test(test_persons), cmocka_unit_test(test_capitalised_neighbours), cmocka_unit_test(test_institutions),
                                       cmocka_unit_test(test_fragments),
                                       cmocka_unit_test(test_self_train_arguments)};
    return cmocka_run_group_tests_name("MAD-X silver data", tests, NULL, NULL);
}
