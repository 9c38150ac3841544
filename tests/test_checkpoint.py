import torch

from phaselog.model.checkpoint import (checkpoint_path, is_good, latest_good_checkpoint, list_checkpoints, marker_path,
                                       prune_checkpoints, save_checkpoint)


def test_saved_checkpoint_is_good_and_loads(tmp_path):
    path = save_checkpoint(tmp_path, 10, {"w": torch.arange(5)})
    assert is_good(path)
    assert torch.equal(torch.load(path)["w"], torch.arange(5))


def test_file_without_marker_is_never_taken_as_good(tmp_path):
    save_checkpoint(tmp_path, 10, {"w": torch.zeros(3)})
    # a crash between writing the file and its marker leaves this state
    checkpoint_path(tmp_path, 20).write_bytes(b"partial")
    (tmp_path / "step_0000030.pt.tmp").write_bytes(b"half written")
    assert latest_good_checkpoint(tmp_path).step == 10


def test_truncated_latest_checkpoint_falls_back_and_says_so(tmp_path):
    save_checkpoint(tmp_path, 10, {"w": torch.zeros(1000)})
    latest = save_checkpoint(tmp_path, 20, {"w": torch.ones(1000)})
    latest.write_bytes(latest.read_bytes()[:100])
    messages = []
    found = latest_good_checkpoint(tmp_path, warn=messages.append)
    assert found.step == 10
    assert "corrupt" in messages[0] and "step_0000020.pt" in messages[0]


def test_at_most_limits_the_search(tmp_path):
    for step in (10, 20, 30):
        save_checkpoint(tmp_path, step, {"step": step})
    assert latest_good_checkpoint(tmp_path, at_most=25).step == 20


def test_prune_keeps_the_newest_and_the_protected(tmp_path):
    for step in (10, 20, 30, 40, 50):
        save_checkpoint(tmp_path, step, {"step": step})
    prune_checkpoints(tmp_path, keep_last=2, protected={20})
    assert [c.step for c in list_checkpoints(tmp_path)] == [20, 40, 50]
    assert not marker_path(checkpoint_path(tmp_path, 10)).exists()
