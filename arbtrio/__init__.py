"""arbtrio: hedged perp arbitrage on Trio."""
