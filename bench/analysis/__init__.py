"""What is drawn from results files after a run: the advice, the capacity model, comparisons.

Imports point one way: `rules` (what "kept up" means, which architecture is the recipe) is imported
by the others and imports none of them; `advice` uses `model`; nothing here imports `advice`.
"""
