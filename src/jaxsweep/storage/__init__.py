"""Where a study lives: storage URLs (SQLite, a journal file, PostgreSQL), the heartbeat that
fails and retries a killed worker's trials, and ``optuna_internals``, the one place that may
touch Optuna's private API (version-checked at import, each hook covered by a contract test).
"""
