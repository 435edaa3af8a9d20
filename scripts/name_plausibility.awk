# How much a list of generated names reads like real names, judged by a model that never saw dlm:
# an interpolated character-trigram model of 80% of the real names (every line whose number is not a
# multiple of 5) scores the samples and the other 20% (the held-out real names). It prints
#   score RATIO samples NLL_SAMPLES heldout NLL_HELDOUT
# where each NLL is nats per character (the end of the name counts as a character) and RATIO is their
# quotient: 1.0 reads like held-out real names, more reads less like names.
#   awk -f scripts/name_plausibility.awk data/names.txt samples.txt
# Interpolation weights are fixed (trigram 0.85, bigram 0.12, unigram 0.025, uniform 0.005): of the
# sets tried, they gave the held-out names the lowest NLL, and a score compares two lists under one model.

function nll(name,    c, n, i, a, b, x, p, w, total) {
  n = split(name, c, "")
  c[n + 1] = "$"
  a = "^"; b = "^"
  total = 0
  for (i = 1; i <= n + 1; i++) {
    x = c[i]
    # An unseen context passes its weight on: the weights in use are renormalised to sum to 1.
    p = 0.005 / vocab + 0.025 * uni[x] / uni_total; w = 0.03
    if (ctx1[b] > 0) { p += 0.12 * bi[b SUBSEP x] / ctx1[b]; w += 0.12 }
    if (ctx2[a SUBSEP b] > 0) { p += 0.85 * tri[a SUBSEP b SUBSEP x] / ctx2[a SUBSEP b]; w += 0.85 }
    total -= log(p / w)
    a = b; b = x
  }
  chars += n + 1
  return total
}

FNR == NR {
  if (FNR % 5 == 0) { held[++nheld] = $0; next }
  n = split($0, c, "")
  c[n + 1] = "$"
  a = "^"; b = "^"
  for (i = 1; i <= n + 1; i++) {
    x = c[i]
    if (!(x in uni)) vocab++
    uni[x]++; uni_total++
    bi[b SUBSEP x]++; ctx1[b]++
    tri[a SUBSEP b SUBSEP x]++; ctx2[a SUBSEP b]++
    a = b; b = x
  }
  next
}

{ samples[++nsamples] = $0 }

END {
  if (nsamples == 0 || uni_total == 0) { print "name_plausibility: no samples or no names" > "/dev/stderr"; exit 2 }
  vocab += 1  # one symbol the real names never use
  chars = 0; s = 0
  for (i = 1; i <= nheld; i++) s += nll(held[i])
  heldout = s / chars
  chars = 0; s = 0
  for (i = 1; i <= nsamples; i++) s += nll(samples[i])
  sampled = s / chars
  printf "score %.3f samples %.4f heldout %.4f\n", sampled / heldout, sampled, heldout
}
