"""REST endpoints of the market side beyond the map itself (the map and series are in heatmaps/v1.py)."""
