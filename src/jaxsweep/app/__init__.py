"""The application: the ``jaxsweep`` commands (``cli``), the run of the stages (``runner``), the
results folder (``results``, ``summary``, ``plots``), checkpoints and ``load_best``/``load_model``
(``checkpoint``), retraining (``retrain``) and predictions from raw rows (``predict``).
"""
