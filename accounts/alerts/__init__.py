"""Alert rules: the pure core (market inputs, condition batches, triggers) and webhook delivery.

Nothing here touches the database; models and tasks adapt their rows to these types.
"""
