"""Synthetic lumbosacral MR phantoms with ground truth (DESIGN.md, "Synthetic phantoms")."""

#: The contrasts ``lumboplan phantom --contrast`` makes: ``t2`` (T2 weighting with its
#: variations) and ``random`` (every tissue's intensity drawn at random, SynthSeg-style).
CONTRASTS = ("t2", "random")
#: The fields of view ``lumboplan phantom --field-of-view`` makes: ``drawn`` (with the case: wide
#: enough for the crests and the posterior skin) and ``slab`` (a clinic's sagittal lumbar slab,
#: 60-92 mm from left to right).
FIELDS_OF_VIEW = ("drawn", "slab")
