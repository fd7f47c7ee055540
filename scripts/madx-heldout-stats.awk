# Label-free statistics of a setup's tags of held-out Quechua text (scripts/madx-self-train.sh,
# step 4): `awk -F'\t' -f madx-case.awk -f madx-heldout-stats.awk TAGS` on `adapt predict
# --format text --scores` output: entities per sentence, mean tag probability, and the share of
# entities whose first word is written lower-case (Quechua capitalises names).
NF == 0 { sentences++; prev = "O"; next }
{
  probability += $3; words++
  if ($2 ~ /^B-/ || ($2 ~ /^I-/ && substr(prev, 3) != substr($2, 3))) { entities++; if (!upper($1)) lower_case++ }
  prev = $2
}
END {
  if (words == 0) { print "no tagged words"; exit }
  printf "entities/sentence %.2f  mean tag probability %.3f  entities starting lower-case %.1f%%\n", entities / (sentences ? sentences : 1),
    probability / words, 100 * lower_case / (entities ? entities : 1)
}
