"""Which image set a participant ranks next: the rule alone, without the database.

survey.selectors reads the country's image sets with their counted answers and live
holds (`ImageSetLoad`); survey.services locks the rows and calls `choose_image_set`.
The rule, in order (docs/assignment.md):

1. only sets with room: fewer counted answers than the target and at most one live
   hold beyond what the set still needs (so a set ends with at most target + 1);
   sets whose answers and holds are below the target come before those that would
   take that one extra hold;
2. a prompt the participant has not seen (image sets of one prompt with other seeds
   are other sets, but the same description), while any is left;
3. the least loaded set (answers + holds of pages shown): the least-answered balance;
4. a category other than the previous page's, then not among the last two, then the
   participant's least-seen category: pages of one category are spread out;
5. the prompt whose sets are least loaded overall, so the prompts fill evenly and
   the least-loaded sets stay spread over prompts a participant has not seen;
6. at random among what is still tied.
"""

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageSetLoad:
    """One image set of a country: what it shows and how full it is."""

    pk: int
    prompt_id: str
    category: str
    answers: int  # answered pages that count toward the target (valid or pending)
    holds: int  # pages shown and not answered whose hold is live
    reserved: int = 0  # first pages reserved on admission, not shown yet (live holds too)

    @property
    def load(self) -> int:
        """Answers and every live hold: what admission and room count."""
        return self.answers + self.holds + self.reserved

    @property
    def balance_load(self) -> int:
        """Answers and holds of pages shown: what the least-answered order counts. A
        reservation is chosen again when first shown, so it does not steer others."""
        return self.answers + self.holds

    def has_room(self, target: int) -> bool:
        """Short of the target, with at most one hold beyond what it still needs."""
        return self.answers < target and self.load <= target


@dataclass(frozen=True)
class ShownSoFar:
    """What one participant has been shown, in page order."""

    image_sets: frozenset[int] = frozenset()
    prompts: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()
    answered: int = 0  # pages answered

    @property
    def pages(self) -> int:
        """Pages assigned, answered or not."""
        return len(self.categories)


def choose_image_set(
    sets: Sequence[ImageSetLoad], *, shown: ShownSoFar, target: int, rng: random.Random
) -> ImageSetLoad | None:
    """The set this participant ranks next under the rule above, or None when none has room."""
    prompt_loads = Counter()
    for image_set in sets:
        prompt_loads[image_set.prompt_id] += image_set.balance_load
    candidates = [s for s in sets if s.pk not in shown.image_sets and s.has_room(target)]
    if not candidates:
        return None
    seen_categories = Counter(shown.categories)
    previous = shown.categories[-1:]
    recent = shown.categories[-2:]

    def key(image_set: ImageSetLoad) -> tuple:
        return (
            image_set.load >= target,
            image_set.prompt_id in shown.prompts,
            image_set.balance_load,
            image_set.category in previous,
            image_set.category in recent,
            seen_categories[image_set.category],
            prompt_loads[image_set.prompt_id],
            rng.random(),
        )

    return min(candidates, key=key)


def any_room(sets: Sequence[ImageSetLoad], *, target: int) -> bool:
    """Whether a newcomer could be given a page: some set has room."""
    return any(image_set.has_room(target) for image_set in sets)
