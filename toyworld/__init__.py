"""A toy world in which SCoFT's claim can be tested on a CPU.

Five invented cultures, each with its own visual motif, drawn procedurally; a biased
"web" corpus and a faithful community set; a tiny base model trained on the web corpus
that really has a stereotype to unlearn; detectors and measures for the ablation table.
Never imports Django or the web apps.
"""
