"""The benchmark suite: ``python -m benchmarks [--quick] [--only NAME] [--out DIR]``.

Each benchmark is a module with ``run(quick: bool = False) -> dict`` (see ``report.py`` for the
shape of that dict). ``registry.py`` lists them; ``__main__.py`` runs them, prints a markdown
table per benchmark with the machine in the header, and writes the raw figures (JSON) and a chart
(PNG) per benchmark under ``--out``.

Every figure is the median of several repetitions, printed with its spread (min-max); every
comparison is a ratio of figures measured in the same run, on the same machine.
"""
