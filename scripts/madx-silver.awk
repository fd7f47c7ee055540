# Silver NER data from a teacher's tags of raw Quechua text (scripts/madx-self-train.sh, step 2).
# Input: the teacher's `adapt predict --format text --scores` output (word, tag, probability; a
# blank line ends a sentence), read three times: `awk -f madx-case.awk -f madx-silver.awk
# -v out=SILVER [-v min=0.7] [-v max=N] [-v per_template=10] T T T`.
# No labels: the rules use how the text itself writes words and what the teacher says elsewhere.
#   - Quechua writes names capitalised: a lower-case word is not a name, and a sentence's first
#     word is one only when the text writes it capitalised more often than not elsewhere.
#   - One name, one type: a word the teacher tags confidently in most of its mid-sentence uses
#     takes its majority type everywhere, also where the teacher missed it or typed it otherwise
#     (WikiANN itself propagates a link's type to the other mentions).
#   - Wikipedia names places with a lower-case head noun ("Wanta pruwinsya", "Puno suyu") and
#     WikiANN's spans are those titles (as English "Landes department"): the heads are the
#     lower-case last words of article titles ("X head nisqaqa" opening a sentence) that mostly
#     name things or name their titles' class ("Beni mayu nisqaqa ... huk mayum", a river)
#     (finish_heads); such a head right after a name continues the entity, a suffix
#     allowed ("Puno suyupi"), and a title "Names head nisqaqa" is an entity of the head's type;
#     with -v head_names_rule=1 (measured, not the default: docs/madx.md), also after
#     capitalised words that nothing typed and the text never writes lower-case (a list item
#     ": Abiseo mayu", a sentence's opening), it makes them an entity of its type.
#   - An article's first sentence says what its title is: "Waqrawiri nisqaqa ... huk urqum" (a
#     mountain). A predicate noun whose titles are mostly names elsewhere in the text (written
#     capitalised mid-sentence, seldom lower-case; 5 or more, at most a third common) names
#     things (finish_predicates); a capitalised title with such a predicate, none of its words
#     written lower-case more often than not, is an entity of the type the teacher gives those
#     names (70% of the typed ones), also when the title is a word the text writes nowhere else.
#   - Where a name ends: adjacent capitalised words of one type are one name, as a WikiANN link
#     is ("Carlos Alberto Reutemann", where the teacher starts a second one), unless the first
#     carries a case suffix ("Perúpi Lima": Quechua ends a noun phrase with it); names of two
#     types side by side leave their sentence out; a first word that the text writes nowhere
#     lower-case and the teacher puts in the name after it is part of it ("Wilhelm Richard").
#     Inside a sentence, a capitalised word the teacher left out beside a name is part of it when
#     the text writes it capitalised more often than not ("Hukllachasqa Qhapaq Suyu", "Buenos
#     Aires"; a capitalised head such as "Suyu" continues the name as a lower-case one does).
#   - An institution's name is an organisation: an entity with a word naming an institution or a
#     building ("Partido", "Universidad", "Museo", "Yachay Suntur", "Tantanakuy"), suffixed too,
#     is ORG, as WikiANN-en types such names (University 98%, Church 99%), where the teacher,
#     trained on English, calls Quechua and Spanish ones persons or places.
#   - A biography's first sentence names its person: the capitalised words opening a sentence
#     ("de", "von" and such inside) before "sutiyuq runaqa" (the person named) or before a
#     parenthesis that says when they were born ("Günter Theodor Netzer (* 14 ... 1944 watapi
#     paqarisqa ...)") are one PER entity, whatever the teacher said (the round-1 teacher tagged
#     116 of 388 such openings so: "Luigi/O Einaudi/LOC"), and count as PER in the type vote.
#   - A sentence opening with a name that nothing typed is left out: WikiANN sentences often
#     open with an entity, and O there would teach the student to miss it. So is one whose title
#     the text writes nowhere else and nothing typed ("Kuélap nisqaqa"): most such titles are
#     names, where titles the text also writes lower-case are mostly common nouns ("Inti").
#   - Wikipedia's boilerplate ("X nisqaqa multimidya kapuyninkunayuqmi kay hawa : Y", the Commons
#     link of thousands of articles) would outweigh the prose: a sentence's template (its names
#     and numbers masked) is used per_template times at most, and a template differing only in
#     numbers once.
# A sentence of 2-40 words is kept when it has an entity, every entity word the teacher alone
# decided has probability >= min and no name opening a sentence is left untyped; at most max of
# them are used, and as many entity-free ones.
# a sentence starts at the first word and after a full stop, but not after an initial ("Augusto B . Leguía")
function starts(i) { return i == 1 || (word[i - 1] ~ /^[.:?!]$/ && !(word[i - 1] == "." && i > 2 && word[i - 2] ~ /^[A-Z]$/)) }
function name_like(w) { return name_case[key(w)] > common_case[key(w)] }
# a word the text writes nowhere but at a sentence's start
function unseen(w) { return name_case[key(w)] + common_case[key(w)] == 0 }
function type_of(t) { return t == "O" ? "" : substr(t, 3) }
# the head a lower-case word starts with ("suyupi" -> "suyu"), or "" (longest first)
function head_of(w,   h, best) {
  best = ""
  for (h in head_titles) if (length(h) > length(best) && substr(w, 1, length(h)) == h) best = h
  return best
}
# a name's propagated type: tagged (probability >= min) in at least half of its mid-sentence uses
# (3 or more), 70% of them with one type
function known_type(w,   k, best, t) {
  k = key(w); best = ""
  if (tagged[k] < 3 || 2 * tagged[k] < name_case[k]) return ""
  for (t in type_names) if (typed[k, t] >= 0.7 * tagged[k]) best = t
  return best
}
# the title opening the sentence: words before "nisqaqa" / "nisqa" (a parenthesis skipped), 0 if none
function title_end(   i, end) {
  end = 0
  for (i = 1; i <= n && i <= 12; i++) {
    if (word[i] == "nisqaqa" || word[i] == "nisqa") return end
    if (word[i] == "(") { while (i <= n && word[i] != ")") i++; continue }
    if (end == i - 1) end = i
  }
  return 0
}
# the predicate noun of a title sentence: after the first "huk" (a, one) after the title, the
# first of 3 lower-case words that carries the assertive suffix -m / -mi ("huk nina urqum", a
# volcano -> "urqu"; "huk piruwanu qillqaqmi", a Peruvian writer -> "qillqaq"), or ""
function predicate(e,   i, j, p) {
  for (i = e + 1; i < n; i++) if (word[i] == "huk") break
  for (j = i + 1; j < n && j <= i + 3 && !upper(word[j]); j++)
    if (word[j] ~ /[^aeiou]mi$|[aeiou]m$/) { p = word[j]; sub(/mi?$/, "", p); return p }
  return ""
}
# every title word capitalised, none written lower-case more often than not elsewhere
function title_nameable(e,   i, k) {
  for (i = 1; i <= e; i++) { k = key(word[i]); if (!upper(word[i]) || common_case[k] > name_case[k]) return 0 }
  return 1
}
function stats_pass(   i, k, t, e, b) {
  b = person_end()
  for (i = 1; i <= n; i++) {
    if (starts(i)) continue
    k = key(word[i])
    if (!upper(word[i])) { common_case[k]++; continue }
    name_case[k]++
    if (i < n && upper(word[i + 1])) before_name[k]++
    t = i <= b ? "PER" : type_of(tag[i])
    if (t != "" && (i <= b || score[i] + 0 >= min)) { tagged[k]++; typed[k, t]++; type_names[t] = 1 }
  }
  e = title_end()
  if (e >= 2 && !upper(word[e]) && upper(word[e - 1])) { titles++; title_head[titles] = word[e]; title_name[titles] = word[e - 1] }
}
function heads_pass(   i, h, t, e, p, kt) {
  if ((e = title_end()) >= 1 && upper(word[e]) && (p = predicate(e)) != "") {
    if (name_like(word[e])) { predicate_names[p]++; if ((kt = known_type(word[e])) != "") { predicate_typed[p]++; predicate_type_count[p, kt]++ } }
    else if (common_case[key(word[e])] > 0) predicate_common[p]++
  }
  # a title named by its class noun: "Beni mayu nisqaqa ... huk mayum" (a river)
  if (e >= 2 && !upper(word[e]) && upper(word[e - 1]) && predicate(e) == word[e]) self_named[word[e]]++
  for (i = 2; i <= n; i++) {
    if (upper(word[i]) || starts(i - 1) || (h = head_of(word[i])) == "") continue
    uses[h]++
    if (!upper(word[i - 1])) continue
    follows[h]++
    t = type_of(tag[i - 1])
    if (t != "") { follows_name[h]++; head_typed[h, t]++ }
  }
}
# a head is kept when the teacher tags the capitalised word before it at least half the time and
# most of its uses follow a capitalised word, or it names at least 3 titles' class ("Beni mayu
# nisqaqa ... huk mayum": "mayu" (river), "qucha" (lake) are mostly common nouns, but their
# titles say they are what they name); "simi" (language) follows "runa", "qhichwa", "kastinlla"
# more often than names, and "Aymara simi" is "huk rimaymi"; its type is the majority's
function finish_heads(   h, t, best) {
  for (h in head_titles) {
    if ((2 * follows[h] < uses[h] && self_named[h] < 3) || 2 * follows_name[h] < follows[h] || follows[h] < 3) { delete head_titles[h]; continue }
    best = ""
    for (t in type_names) if (best == "" || head_typed[h, t] > head_typed[h, best]) best = t
    head_type[h] = best
  }
}
function finish_predicates(   p, t) {
  for (p in predicate_names) {
    if (predicate_names[p] < 5 || 3 * predicate_common[p] > predicate_names[p] || predicate_typed[p] == 0) continue
    for (t in type_names) if (predicate_type_count[p, t] >= 0.7 * predicate_typed[p]) predicate_type[p] = t
  }
}
# a name carrying a case suffix or enclitic ("Perúpa", "Iwrupapi", "Chinapipas"): a name the text
# writes bare, plus a suffix, and seldom followed by another name (unlike "Santa", in form "San"
# + -ta, which opens "Santa Cruz"). Quechua ends a noun phrase with its suffix, so a name after
# it starts a new entity; without one, adjacent capitalised words of one type are one name
# ("Carlos Alberto", "Abya Yala"), as WikiANN's links are
function suffixed(w,   rest, k, round) {
  k = key(w)
  if (name_case[k] > 0 && 2 * before_name[k] >= name_case[k]) return 0
  rest = w
  for (round = 0; round < 2; round++) {
    if (!match(rest, /(manta|kama|paq|pas|wan|man|pi|pa|ta|qa|p)$/)) return 0
    rest = substr(rest, 1, RSTART - 1)
    if (length(rest) >= 3 && name_case[key(rest)] >= 2) return 1
  }
  return 0
}
# the last word of the person's name opening a biography's first sentence, or 0 (see above)
function person_end(   j, k) {
  for (j = 1; j <= n && (upper(word[j]) || (j > 1 && word[j] ~ /^(de|del|la|da|dos|von|van|der|y)$/)); j++) ;
  if (j == 1 || j > n || !upper(word[j - 1])) return 0
  k = word[j] == "," ? j + 1 : j
  if (k < n && word[k] == "sutiyuq" && word[k + 1] ~ /^(runaqa|qhariqa|warmiqa)$/) return j - 1
  if (word[j] == "(") for (k = j + 1; k <= n && word[k] != ")"; k++) if (word[k] ~ /^paqari/) return j - 1
  return 0
}
# a capitalised word the text never writes lower-case and that no enclitic ends ("Apiaqa",
# "Qhichwapiqa"): a name, wherever it stands
function name_only(w) { return upper(w) && common_case[key(w)] == 0 && w !~ /(qa|si|mi|taq|chus|chu|pas|manta|ri)$/ }
# a capitalised word inside a sentence that the text writes capitalised more often than not
function joinable(i) { return upper(word[i]) && !starts(i) && name_like(word[i]) }
# word i continues the entity of word i - 1: the same type, and no head or case suffix ended the
# noun phrase before it, except inside a title typed as a whole (words 1..whole) or a biography's
# person (words 1..person)
function ended(i) { return i > 1 && (head[i - 1] || (final[i - 1] != "" && suffixed(word[i - 1]))) }
function continues(i, whole, person) {
  if (i == 1 || final[i] == "" || final[i - 1] != final[i]) return 0
  return i <= whole || i <= person || !ended(i)
}
# a word naming an institution or a building, alone or with a case suffix ("Partidonpa"): the
# Spanish, English and Quechua nouns whose English counterparts WikiANN-en types ORG in at least
# 80% of the entities they occur in (University 98%, Party 99%, Church 99%, Museum 96%, Stadium
# 89%; Congress, 48%, and Council, 69%, are not); "yachay wasi" (school) is two words
function institution_word(w, next_word,   k, s) {
  k = key(w); next_word = key(next_word)
  if (k == "yachay" && substr(next_word, 1, 4) == "wasi" && case_suffixes(substr(next_word, 5))) return 1
  for (s in institution_nouns)
    if (substr(k, 1, length(s)) == s && case_suffixes(substr(k, length(s) + 1))) return 1
  return 0
}
function case_suffixes(rest) { return rest ~ /^(n|ni|y|yki|nchik|kuna|q|p|pa|pi|ta|man|manta|wan|paq|pak|kama|qa|ka|pas|pash|mi|m|taq|chu|lla|ri)*$/ }
function title_capitalised(e,   i) {
  for (i = 1; i < e; i++) if (!upper(word[i])) return 0
  return 1
}
function output_pass(   i, j, k, e, h, p, b, t, kt, ok, ents, text, prev, same, whole, tag_out, template, masked) {
  if (n < 2 || n > 40) return
  b = person_end()
  e = title_end()
  h = (e >= 2 && !upper(word[e]) && title_capitalised(e) && name_like(word[e - 1])) ? head_of(word[e]) : ""
  # a title that its predicate types is one entity, as one with a head noun
  p = (h == "" && e >= 1 && title_nameable(e) && (p = predicate(e)) in predicate_type) ? p : ""
  ok = 1
  for (i = 1; i <= n; i++) {
    t = type_of(tag[i]); teacher[i] = 1; head[i] = 0
    kt = upper(word[i]) ? known_type(word[i]) : ""
    if (kt != "" && (!starts(i) || name_like(word[i]))) { t = kt; teacher[i] = 0 }
    else if (!upper(word[i]) || (starts(i) && !name_like(word[i]))) t = ""
    if (h != "" && i <= e) { t = head_type[h]; teacher[i] = 0; head[i] = i == e }
    else if (p != "" && i <= e) { t = predicate_type[p]; teacher[i] = 0 }
    else if ((!upper(word[i]) || (!starts(i) && kt == "")) && i > 1 && final[i - 1] != "" && upper(word[i - 1]) && head_of(key(word[i])) != "") {
      # a head continues the name before it and decides the entity's type ("Antonio Raymondi
      # pruwinsya" is a place), also written capitalised ("Hukllachasqa Qhapaq Suyu") unless it
      # is a name of its own ("Mayutata", a region, is "mayu" + more)
      t = head_type[head_of(key(word[i]))]; teacher[i] = 0; head[i] = 1
      for (j = i - 1; j >= 1 && final[j] != "" && upper(word[j]); j--) final[j] = t
    }
    else if (head_names_rule && !upper(word[i]) && i > 1 && final[i - 1] == "" && i - 1 > b && name_only(word[i - 1]) && head_of(key(word[i])) != "") {
      # a head also names the capitalised words before it that nothing typed, when the text never
      # writes them lower-case: list items and openings (": Abiseo mayu", "• Tumpis mayu"), where
      # a sentence's first word is otherwise left untyped
      t = head_type[head_of(key(word[i]))]; teacher[i] = 0; head[i] = 1
      for (j = i - 1; j >= 1 && j > b && final[j] == "" && name_only(word[j]); j--) { final[j] = t; teacher[j] = 0 }
    }
    if (i <= b) { t = "PER"; teacher[i] = 0; head[i] = 0 }
    final[i] = t
  }
  # a first word that the teacher puts in the name after it, and that the text never writes
  # lower-case, is part of that name ("Wilhelm Richard Wagner sutiyuq runaqa": the text writes
  # "Wilhelm" nowhere else), unless an enclitic ends it ("Apiaqa Samoaq")
  for (i = 1; i < n; i++)
    if (starts(i) && final[i] == "" && name_only(word[i]) &&
        upper(word[i + 1]) && final[i + 1] != "" && !head[i + 1] && type_of(tag[i]) == final[i + 1]) {
      final[i] = final[i + 1]; teacher[i] = 0
    }
  # a capitalised word inside a sentence that the teacher left out beside a name, and that the
  # text writes capitalised more often than not, is part of it ("Hukllachasqa Qhapaq Suyu", the
  # United Kingdom, "Buenos Aires", where the teacher tags "Qhapaq", "Buenos" alone), unless a case
  # suffix ends the noun phrase; not the capitalised common nouns of legal texts ("Kamachiy", law)
  for (i = n - 1; i >= 1; i--)
    if (final[i] == "" && joinable(i) && final[i + 1] != "" && upper(word[i + 1]) && !suffixed(word[i])) { final[i] = final[i + 1]; teacher[i] = 0 }
  for (i = 2; i <= n; i++)
    if (final[i] == "" && joinable(i) && final[i - 1] != "" && upper(word[i - 1]) && !suffixed(word[i - 1])) { final[i] = final[i - 1]; teacher[i] = 0 }
  # an institution's name is an organisation, as WikiANN types it ("Suwit Huñup Comunista
  # Partidonpa", "San Marcos Hatun Yachay Suntur", which the teacher calls persons)
  whole = (h != "" || p != "") ? e : 0
  for (i = 1; i <= n; i = j + 1) {
    for (j = i; j < n && continues(j + 1, whole, b); j++) ;
    if (final[i] == "" || final[i] == "ORG" || i <= b) continue
    for (k = i; k <= j && !institution_word(word[k], k < j ? word[k + 1] : ""); k++) ;
    if (k <= j) for (k = i; k <= j; k++) { final[k] = "ORG"; teacher[k] = 0 }
  }
  ents = 0; text = ""; prev = ""; masked = ""
  for (i = 1; i <= n; i++) {
    t = final[i]
    masked = masked " " ((t != "" || upper(word[i])) ? "X" : word[i])
    if (t != "" && teacher[i] && score[i] + 0 < min) ok = 0
    # a name opening the sentence that nothing typed: unsure
    if (t == "" && starts(i) && upper(word[i]) && name_like(word[i])) ok = 0
    # an article's title that the text writes nowhere else and nothing typed: most are names
    if (t == "" && i <= e && upper(word[i]) && unseen(word[i])) ok = 0
    # one entity: the same type, no head or suffixed name before it (a title is one, and so is a
    # biography's person)
    same = continues(i, whole, b)
    # two names of different types side by side, no suffix between ("Salvador/LOC Allende/PER"):
    # the teacher is unsure where the name ends
    if (t != "" && prev != "" && t != prev && !ended(i)) ok = 0
    tag_out = t == "" ? "O" : (same ? "I-" : "B-") t
    if (tag_out ~ /^B-/) ents++
    prev = t
    text = text word[i] "\t" tag_out "\n"
  }
  # templated stubs ("964 wataqa Hulyanu kalindaryukama ...") once, whatever their numbers
  template = text; gsub(/[0-9]+/, "0", template)
  gsub(/[0-9]+/, "0", masked)
  if (!ok || template in seen || masked_uses[masked] >= per_template) return
  seen[template] = 1
  masked_uses[masked]++
  if (ents > 0) named[kept_e++] = text
  else plain[kept_o++] = text
}
function sentence() {
  if (n == 0) return
  if (pass == 1) stats_pass(); else if (pass == 2) heads_pass(); else output_pass()
  n = 0
}
BEGIN {
  split("universidad escuela colegio partido iglesia catedral museo estadio club asociación instituto academia " \
        "sociedad compañía empresa corporación asamblea cámara senado tribunal ministerio comisión comité " \
        "federación confederación hospital teatro banco movimiento fundación organización liga ferrocarril " \
        "biblioteca hotel gobierno estación university college school party church cathedral museum " \
        "stadium fc association institute academy society company corporation ministry commission committee " \
        "federation theatre theater bank records inc movement foundation organization league airlines railway " \
        "assembly station library suntur yachaywasi tantanakuy huñunakuy", nouns, " ")
  for (k in nouns) institution_nouns[nouns[k]] = 1
  FS = "\t"; n = 0; pass = 0; kept_e = 0; kept_o = 0; if (min == "") min = 0.7; if (per_template == "") per_template = 10 }
FNR == 1 {
  sentence(); pass++
  if (pass == 2) for (j = 1; j <= titles; j++) if (name_like(title_name[j])) head_count[title_head[j]]++
  if (pass == 2) for (hh in head_count) if (head_count[hh] >= 3 && hh ~ /^[a-z]/) head_titles[hh] = 1
  if (pass == 3) { finish_heads(); finish_predicates() }
}
NF == 0 { sentence(); next }
{ n++; word[n] = $1; tag[n] = $2; score[n] = $3 }
END {
  sentence()
  # at most max sentences with entities and as many without, spread over the text
  use_e = (max != "" && kept_e > max + 0) ? max + 0 : kept_e
  for (k = 0; k < use_e; k++) print named[int(k * kept_e / use_e)] > out
  use = kept_o < use_e ? kept_o : use_e
  for (k = 0; k < use; k++) print plain[int(k * kept_o / use)] > out
  printf "kept %d of %d sentences with entities and %d of %d without; name heads:", use_e, kept_e, use, kept_o
  for (hh in head_titles) printf " %s (%s, %d/%d/%d)", hh, head_type[hh], follows_name[hh], follows[hh], uses[hh]
  printf "; title predicates:"
  for (pp in predicate_type) printf " %s (%s, %d/%d/%d)", pp, predicate_type[pp], predicate_typed[pp], predicate_names[pp], predicate_common[pp]
  printf "\n"
}
