"""The site's learning loop (issue 22): corrected cases train the model the window then uses.

- :mod:`.training_cases`: ``lumboplan export-training``, case files to the folders
  ``lumboplan train`` reads;
- :mod:`.model_choice`: which model the window segments with (the shipped one or a fine-tuned
  one), remembered in LumboPlan's settings.
"""
