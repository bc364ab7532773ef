"""The numbers of Zhu et al., Pain Physician 2024;27:E245 that ``lumboplan validate`` reproduces.

Only numbers the paper states are here; what it does not state is absent (not zero).
"""

from __future__ import annotations

#: Test-set Dice per structure (the paper's Table 1, mean over 5-fold cross-validation).
TEST_DICE: dict[str, float] = {
    "L5": 0.921,
    "DISC": 0.885,
    "S1": 0.924,
    "NERVES": 0.808,
    "ILIUM": 0.886,
    "SKIN": 0.816,
}

#: AI-3D vs GT-3D measurements: (mean GT, mean AI, Wilcoxon P). Line A on every foramen;
#: alpha and Line B on the foramina both call Group A.
MEASUREMENTS: dict[str, tuple[float, float, float]] = {
    "line_a_mm": (13.60, 13.47, 0.262),
    "alpha_deg": (40.65, 40.33, 0.386),
    "line_b_mm": (89.52, 90.15, 0.582),
}

#: Group agreement over 100 foramina.
FORAMINA = 100
GT_GROUP_A = 49
AI_GROUP_A = 39
GT_A_CALLED_B = 12
GT_B_CALLED_A = 2
