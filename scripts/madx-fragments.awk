# WikiANN-style fragments of silver NER sentences (scripts/madx-self-train.sh, step 2):
# `awk -f madx-fragments.awk [-v per_sentence=1] [-v markup_every=0] SILVER.conll > FRAGMENTS.conll`.
# WikiANN's sentences are often titles and list items around a link: 59% of its English training
# sentences open with an entity and 32% are nothing but entities, against 15% and 0.2% of the
# silver sentences cut from running Quechua text. A task adapter that reads Quechua only from
# running text learns that a capitalised word opening a sentence is seldom a name, and misses
# "Titiqaqa qucha" or "Tupaq Amaru" standing alone. So every sentence with entities also gives
# per_sentence fragments that open with one of its entities (the fragments take the sentence's
# entities in turn): the entity alone, or, every other fragment, the entity and up to 4 words
# after it (never half of the next entity). Tags are the sentence's own; input and output are
# token<TAB>tag with a blank line after each sentence.
# WikiANN keeps the wiki markup of the text as tokens: an article's bold title is "' '' Name '' '",
# an italic one "'' Name ''" (11% of its English training sentences open so, about as many bold as
# italic), where the raw Quechua text has none. With markup_every=N (0, the default: none), every
# Nth fragment is given twice: as it is, and with its entity in that markup (bold and italic in
# turn, tagged O).
# words from..to, the entity from..last in the markup of style ("bold", "italic" or "")
function emit(from, last, to, style,   k) {
  markup(style, "open")
  for (k = from; k <= to; k++) {
    printf "%s\t%s\n", word[k], tag[k]
    if (k == last) markup(style, "close")
  }
  printf "\n"
}
function markup(style, side) {
  if (style == "bold") printf(side == "open" ? "'\tO\n''\tO\n" : "''\tO\n'\tO\n")
  else if (style == "italic") printf "''\tO\n"
}
function fragments(   i, entities, f) {
  entities = 0
  for (i = 1; i <= n; i++) if (tag[i] ~ /^B-/) starts_at[++entities] = i
  if (entities == 0) return
  for (f = 0; f < per_sentence; f++) fragment(entities)
}
function fragment(entities,   first, last, end) {
  first = starts_at[made % entities + 1]
  for (last = first; last < n && tag[last + 1] ~ /^I-/; last++) {}
  end = last
  if (made % 2 == 1) {
    end = last + 4 < n ? last + 4 : n
    # a window ending inside an entity would tag its first half as the whole
    if (end < n && tag[end + 1] ~ /^I-/) {
      while (end > last && tag[end] !~ /^B-/) end--
      if (end > last) end--
    }
  }
  emit(first, last, end, "")
  # every markup_every-th fragment is also given in markup, bold and italic in turn
  if (markup_every > 0 && made % markup_every == markup_every - 1) emit(first, last, end, (int(made / markup_every) % 2 == 0) ? "bold" : "italic")
  made++
}
BEGIN { FS = "\t"; n = 0; made = 0; if (per_sentence == "") per_sentence = 1; markup_every += 0 }
NF == 0 { fragments(); n = 0; next }
{ n++; word[n] = $1; tag[n] = $2 }
END { fragments() }
