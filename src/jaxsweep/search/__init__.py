"""The search: Optuna's proposals turned into populations and trained by the engine.

The search-space schema (``space``), member configs turned into population arrays and cohort
keys (``population``), slots refilled as trials end (``slots``), the ask/train/tell loop
(``sweep`` and the modules beside it), the budgets of trials and time (``stopping``), and the
stages around the search: the LR range test's windows (``lr_stage``) and the schedule stage
(``schedule_stage``).
"""
