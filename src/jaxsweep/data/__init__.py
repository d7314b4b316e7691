"""A user's table to arrays: files and built-in sets read into typed columns (``tables``),
preprocessing fitted on the training split and stored as plain data (``preprocessing``), and the
split, task and arrays a sweep trains on (``dataset``).
"""
