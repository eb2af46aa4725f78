"""The user's own pages: watchlists (watchlists.py) and chart annotations (annotations.py)."""
