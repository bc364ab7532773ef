"""Synthetic lumbosacral MR phantoms with ground truth (DESIGN.md, "Synthetic phantoms")."""

#: The contrasts ``lumboplan phantom --contrast`` makes: ``t2`` (T2 weighting with its
#: variations) and ``random`` (every tissue's intensity drawn at random, SynthSeg-style).
CONTRASTS = ("t2", "random")
