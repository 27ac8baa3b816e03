"""A seeded chaos campaign: many exports under random faults, every invariant checked after each.

``python -m sandbox chaos --runs N --seed S``: plan.py draws each run's dataset and faults,
injection.py and faults.py inject them into that run alone, invariants.py reads the real state
after each run and at the end, report.py sums it up (docs/reliability.md, "Chaos campaign").
"""
