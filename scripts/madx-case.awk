# How Quechua text writes a word, for the MAD-X awk scripts, loaded before them
# (`awk -f madx-case.awk -f madx-silver.awk ...`). mawk matches bytes: the accented capitals are
# spelled out.
function upper(w) { return w ~ /^([A-Z]|Á|É|Í|Ó|Ú|Ñ)/ }
# the word as a lookup key, case folded
function key(w) {
  w = tolower(w); gsub(/Á/, "á", w); gsub(/É/, "é", w); gsub(/Í/, "í", w); gsub(/Ó/, "ó", w)
  gsub(/Ú/, "ú", w); gsub(/Ñ/, "ñ", w); return w
}
