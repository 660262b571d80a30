"""What every part of the project shares about a study: its names and its spec.

`study.names` holds the study's vocabulary (variant keys and labels, the published
survey's column names, the adapter folder's file names, the survey's languages) and
`study.spec` reads and checks the study spec (TOML). Neither imports Django, torch or
any other part of the project, so every part may import them (docs/ARCHITECTURE.md).
"""
