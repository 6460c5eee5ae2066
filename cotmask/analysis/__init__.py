"""Analyses of fine-tuned models beyond accuracy: the paper's dependency mechanism (Secs. 2.2 and 3.4).

* :mod:`cotmask.analysis.dependency`: the dependency-distance analysis (Sec. 2.2, Fig. 1, App. D): perturb
  an earlier number of a teacher-forced test sequence and see whether the greedy prediction at a later
  number changes; :mod:`cotmask.analysis.dependency_table` aggregates its per-run files.
* the case study of Table 4 and Figs. 4-5 (:mod:`cotmask.analysis.case_study_paper` and its companions).

Submodules are imported by name; this package imports nothing itself.
"""
