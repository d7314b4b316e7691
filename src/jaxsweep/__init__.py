"""jaxsweep: hyperparameter sweeps for MLPs, with whole populations trained at once in JAX."""

__version__ = "0.1.0"
