"""Small simulated exports for the analysis tests; figures render off-screen."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from analysis.export import normalise_export
from analysis.rankings import rankings_from_export
from analysis.simulate import simulate_export


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def small_export():
    """Two countries, two items, four variants with a clear order (scoft-mpc best)."""
    return simulate_export(
        participants_per_country=6,
        pages_per_participant=5,
        countries=("Korea", "Nigeria"),
        items=("culture", "stereotypes"),
        image_sets_per_country=8,
        seed=3,
    )


@pytest.fixture
def small_rankings(small_export):
    return rankings_from_export(normalise_export(small_export))
