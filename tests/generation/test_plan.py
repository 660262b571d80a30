"""Seed and shard arithmetic: which images a study needs and which process makes each."""

import pytest

from generation.services.plan import batches, plan_jobs, shard, shard_bounds


def test_jobs_are_every_variant_times_prompt_times_seed(write_spec):
    spec = write_spec(variants=("a", "b", "c"), countries={"CN": 2, "NG": 1}, seeds=(7, 8))
    jobs = plan_jobs(spec)
    assert len(jobs) == 3 * 3 * 2
    assert len({job.key for job in jobs}) == len(jobs)
    assert len({job.relative_path for job in jobs}) == len(jobs)


def test_every_variant_of_a_prompt_uses_the_same_seeds(write_spec):
    spec = write_spec(variants=("a", "b"), countries={"CN": 2}, seeds=(11, 12, 13))
    seeds = {}
    for job in plan_jobs(spec):
        seeds.setdefault((job.variant_key, job.prompt_id), []).append(job.seed)
    assert seeds[("a", "cn-0")] == seeds[("b", "cn-0")] == [11, 12, 13]
    assert seeds[("a", "cn-1")] == seeds[("b", "cn-1")] == [11, 12, 13]


def test_jobs_are_grouped_by_variant_in_spec_order(write_spec):
    spec = write_spec(variants=("z", "a"), countries={"CN": 2, "KR": 2})
    keys = [job.variant_key for job in plan_jobs(spec)]
    assert keys == ["z"] * 8 + ["a"] * 8


@pytest.mark.parametrize("total", [0, 1, 5, 16, 17, 1060])
@pytest.mark.parametrize("processes", [1, 2, 3, 8])
def test_shards_partition_the_jobs_evenly_and_in_order(total, processes):
    bounds = [shard_bounds(total, processes, i) for i in range(processes)]
    assert bounds[0][0] == 0 and bounds[-1][1] == total
    assert all(stop == start for (_, stop), (start, _) in zip(bounds, bounds[1:], strict=False))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)  # the first processes take the extra jobs


def test_four_variants_on_four_processes_load_one_pipeline_each(write_spec):
    spec = write_spec(variants=("a", "b", "c", "d"), countries={"CN": 3}, seeds=(1, 2))
    jobs = plan_jobs(spec)
    shards = [shard(jobs, num_processes=4, process_index=i) for i in range(4)]
    assert [{job.variant_key for job in part} for part in shards] == [{"a"}, {"b"}, {"c"}, {"d"}]
    assert [job for part in shards for job in part] == jobs


def test_an_impossible_shard_is_refused():
    with pytest.raises(ValueError):
        shard_bounds(10, 0, 0)
    with pytest.raises(ValueError):
        shard_bounds(10, 2, 2)


def test_batches_hold_up_to_batch_size_images_of_one_variant(write_spec):
    spec = write_spec(variants=("a", "b"), countries={"CN": 5}, seeds=(1,))
    calls = list(batches(plan_jobs(spec), 2))
    assert [len(call) for call in calls] == [2, 2, 1, 2, 2, 1]
    assert all(len({job.variant_key for job in call}) == 1 for call in calls)
    with pytest.raises(ValueError):
        next(batches(plan_jobs(spec), 0))
