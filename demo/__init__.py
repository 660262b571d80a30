"""The demo: one command runs a whole SCoFT study on the toy world, on a CPU.

`python -m demo` (what `make demo` runs) sets up the database, writes the study spec of
the toy world's five cultures, fine-tunes the three SCoFT variants from the shipped toy
base model, generates the image sets, sets up the survey and serves it. With
`--simulate N` it also lets N simulated participants take the survey over HTTP and
writes the analysis report. Every step reuses what an earlier run finished.

This package only orchestrates: each step is a real command of the other packages
(`python -m scoft_core`, `manage.py generate_batch`, `setup_study`, `analyze_study`),
and nothing else in the project imports it.
"""
