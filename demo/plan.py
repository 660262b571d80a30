"""What one demo run makes and where: the settings of a run and its folder layout."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from toyworld.recipe import ToyRecipe
from toyworld.sampling import TOY_SAMPLER

PROJECT_DIR = Path(__file__).resolve().parent.parent
TOY_BASE_MODEL = PROJECT_DIR / "toyworld" / "weights" / "base"
TOY_DETECTORS = PROJECT_DIR / "toyworld" / "weights" / "detectors.safetensors"

# The four variants of the published survey, in display order; None = no adapter.
VARIANTS: tuple[tuple[str, str, str | None], ...] = (
    ("pretrained", "Toy base model (pretrained)", None),
    ("scoft-m", "SCoFT+M", "scoft-m"),
    ("scoft-mp", "SCoFT+MP", "scoft-mp"),
    ("scoft-mpc", "SCoFT+MPC", "scoft-mpc"),
)


@dataclass(frozen=True)
class DemoPlan:
    """The settings of a demo run; the defaults are the full demo of `make demo`."""

    var: Path = PROJECT_DIR / "var"  # everything the demo writes lives here (gitignored)
    base_model: str = str(TOY_BASE_MODEL)  # a diffusers folder, or "tiny" (untrained, tests)
    detectors: Path = TOY_DETECTORS  # the toy world's motif and stereotype detectors
    study_slug: str = "toy-demo"
    cultures: int = 5  # the toy world has five
    categories: int = 4  # prompts per culture: one per toy-world category
    seeds: tuple[int, ...] = (1024, 2048)  # image sets per prompt
    # The community set, its negatives and the fine-tuning: the toy world's recipe.
    recipe: ToyRecipe = field(default_factory=ToyRecipe)
    sampler_steps: int = TOY_SAMPLER.steps  # DPM-Solver steps for the survey images
    threads: int = 1  # torch threads: 1 is fastest when other jobs share the cores
    pages_per_participant: int = 6
    answers_per_image_set: int = 5
    bootstrap: int = 1000  # report bootstrap replicates
    progress: bool = True  # progress bars

    @property
    def resolution(self) -> int:
        """The toy model's pixels."""
        return self.recipe.resolution

    @property
    def demo_dir(self) -> Path:
        return self.var / "demo"

    @property
    def spec_path(self) -> Path:
        return self.demo_dir / "study.toml"

    @property
    def community_dir(self) -> Path:
        return self.demo_dir / "community"

    def adapter_dir(self, variant: str) -> Path:
        return self.demo_dir / "adapters" / variant

    @property
    def report_dir(self) -> Path:
        return self.demo_dir / "report"

    @property
    def password_file(self) -> Path:
        return self.var / "researcher-password.txt"

    @property
    def database(self) -> Path:
        return self.var / "db.sqlite3"

    @property
    def media(self) -> Path:
        return self.var / "media"

    @property
    def image_sets_expected(self) -> int:
        return self.cultures * self.categories * len(self.seeds)
