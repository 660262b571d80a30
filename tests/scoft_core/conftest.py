"""Fixtures for scoft_core: the tiny pipeline, built once per test session in a temp folder."""

import os

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def scoft_cache(tmp_path_factory):
    """Keep built models out of the user's cache and share them across the session."""
    folder = tmp_path_factory.getbasetemp() / "scoft-cache"
    previous = os.environ.get("SCOFT_CACHE_DIR")
    os.environ["SCOFT_CACHE_DIR"] = str(folder)
    # Other helpers share the 2 cores; one intra-op thread keeps tests predictable.
    torch.set_num_threads(1)
    yield folder
    if previous is None:
        os.environ.pop("SCOFT_CACHE_DIR", None)
    else:
        os.environ["SCOFT_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def tiny_path(scoft_cache):
    from scoft_core.pipelines import tiny_pipeline_path

    return tiny_pipeline_path()


@pytest.fixture
def tiny_pipe(tiny_path):
    from scoft_core.pipelines import load_pipeline

    return load_pipeline(tiny_path)
