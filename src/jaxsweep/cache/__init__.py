"""What a repeated sweep need not redo: compiled programs kept as exported StableHLO
(``programs``), prepared built-in datasets (``datasets``), and the release-stamped files both are
kept in (``disk``).
"""
