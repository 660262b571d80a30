"""generation's services, one module per step an image takes on its way to the survey.

- `plan`: the jobs of a study spec (variant x prompt x seed), batched and sharded;
- `generate`: `manage.py generate_batch`, drawing the images with scoft_core;
- `importing`: `manage.py import_batch`, images made elsewhere, from manifest CSVs;
- `archive`: image files and per-process manifests, written atomically;
- `register`: the image records (one row per image and per image set) in the database.

This package imports no torch at module level (the web process imports `register`);
`generate` reaches scoft_core only inside its functions.
"""
