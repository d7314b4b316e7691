"""The engine: many MLPs trained as one compiled program.

An MLP for one member at the population's padded shape (``model``), the pure training function
and its vmapped, jitted and sharded form (``train``, ``placement``), the optimizers, LR schedules
and losses whose hyperparameters are per-member data, the random draws (``threefry``,
``shuffle``), and the LR range test (``lr_find``). It knows nothing of Optuna, search spaces or
files: it takes arrays and member hyperparameters and gives back scores.
"""
