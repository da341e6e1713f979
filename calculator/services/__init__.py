"""Calculator services: the profitability model (pure functions, no database)."""
