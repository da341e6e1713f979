"""HTTP collectors of market and network data: one module per source, typed results, explicit timeouts."""
