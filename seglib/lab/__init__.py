"""Lab: the six exercises (13-1 ... 13-6), their questions, answer checking and the measurements behind them."""
