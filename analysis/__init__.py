"""Rank statistics, checks, figures and a report from the rankings export; and a
sample-size planner. Never imports Django or torch (an import contract says so); the
only part of the project it imports is ``study.names``, the shared vocabulary.

Modules, by role, in the order the data flows:

- ``export``       read an export file and check its columns (one row = one ranked image)
- ``rankings``     check the rankings (one = one question's ordering of a page) and
                   leave out excluded participants: :class:`rankings.Rankings`
- ``bootstrap``    per-participant tallies, the participant bootstrap, the intervals,
                   and ``scope_item_table``, the one loop over countries and questions
- ``descriptive``  mean / median rank, share ranked first, pairwise preference
- ``significance`` Friedman, Wilcoxon-Holm, Nemenyi, position bias, country differences
- ``agreement``    Krippendorff's alpha; agreement with the leave-one-out consensus
- ``worth``        Plackett-Luce worths
- ``quality``      the participant-quality table (flags, never exclusions)
- ``tables``       the report's list of tables (TABLES) and ``analyse`` -> Analysis
- ``plots``, ``figures``  panels, and the figures at one- and two-column width
- ``document``     the report's text (Markdown and HTML) from an Analysis
- ``report``       build_report: read, analyse, write the folder atomically
- ``planner``      ``python -m analysis plan``: participants needed per country
- ``simulate``     simulated exports with a known truth (tests, benchmarks, planner)

Adding a statistic (three files):

1. Write the function in the module of its role, e.g. ``descriptive.py``. For a table
   per country and question, give :func:`bootstrap.scope_item_table` a function of
   ``(scope, i)`` returning the columns of that scope and question; the counts are in
   ``scope`` (:class:`bootstrap.Tallies`), their bootstrap replicates in its ``boot_*``
   arrays, and ``bootstrap.percentile_interval(replicates)`` gives the interval.
2. Add a ``Table(name, build, heading, sentence)`` to ``TABLES`` in ``tables.py``. The
   report then writes ``tables/<name>.csv`` and prints the section (heading,
   sentence, the all-countries rows) in report.md and report.html; nothing else
   changes.
3. Test it in ``tests/analysis/test_<module>.py`` against an independent computation
   (scipy, numpy on the raw rows, a hand-counted case).

docs/analysis.md tells a researcher how to read the report.
"""
