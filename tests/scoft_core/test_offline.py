"""Nothing in scoft_core reaches the network: every socket connection is refused here."""

import socket

import pytest

from scoft_core.captions import fill_generic_captions
from scoft_core.cli import main
from tests.scoft_core.community import make_data_set


@pytest.fixture
def no_network(monkeypatch):
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"test forbids network access (to {address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))
    return attempts


def test_the_hub_is_switched_off_for_the_tests():
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_training_negatives_and_sampling_run_without_the_network(tmp_path, no_network):
    community = make_data_set(tmp_path / "community", count=2, negatives=0)
    common = ["--model", "tiny", "--steps", "2", "--width", "32", "--height", "32", "--quiet"]
    assert main(["negatives", "--data", str(community), "--per-image", "1", *common]) == 0
    train = ["train", "--data", str(community), "--output", str(tmp_path / "adapter")]
    train += ["--variant", "scoft-mpc", "--model", "tiny", "--resolution", "32", "--max-steps", "1"]
    train += ["--lora-rank", "2", "--grad-accumulation", "1", "--unroll-steps", "2", "--quiet"]
    assert main(train) == 0
    sample = ["sample", "--adapter", str(tmp_path / "adapter"), "--prompt", "a market"]
    assert main([*sample, "--output", str(tmp_path / "images"), *common]) == 0
    assert no_network == []


def test_an_absent_captioning_model_fails_offline_instead_of_downloading(tmp_path, no_network):
    community = make_data_set(tmp_path, count=1, negatives=0, generic=False)
    with pytest.raises(ValueError, match="Could not load the captioning model"):
        list(fill_generic_captions(community, model="Salesforce/blip-image-captioning-base"))
    assert no_network == []
