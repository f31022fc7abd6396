"""Token formats and the one service that issues tokens."""
