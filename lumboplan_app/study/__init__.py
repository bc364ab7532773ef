"""The paper's validation study (Zhu et al. 2024): AI segmentation and AI-derived plans vs truth.

``lumboplan validate`` runs it: :mod:`.cases` finds the labelled cases and compares each one
(segmentation scores, and the plans made on the AI labels and on the true labels);
:mod:`.statistics` holds the paired statistics (Wilcoxon, Pearson, ICC, Bland-Altman);
:mod:`.summary` turns the case folders into ``segmentation.csv``, ``plans.csv`` and
``summary.json``; :mod:`.report` writes ``report.pdf`` beside :mod:`.paper`'s numbers.
"""
