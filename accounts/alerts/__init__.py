"""Alert rules. The pure core (``market``, ``conditions``, ``rules``, ``triggers``, and ``webhooks``
for signing and the URL policy) touches no database; ``rule_store``, ``inbox``, ``evaluation`` and
``delivery`` adapt the models to it and back (docs/alerts.md).
"""
