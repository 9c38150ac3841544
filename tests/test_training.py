"""Training segments without Prefect: the schedule and the data are functions of the global step, so cutting
a phase into segments, or stopping and resuming it, trains exactly like one uninterrupted run."""
import math
import shutil

import pytest

from phaselog.core.errors import PhaselogError
from phaselog.datasets.mixing import MixEntry, weights_at
from phaselog.datasets.prepare import prepare_data
from phaselog.model.checkpoint import checkpoint_path
from phaselog.model.device import check_precision, native_bf16
from phaselog.model.train import lr_multiplier, train_segment

PEAK = 1e11


@pytest.fixture
def prepared(tiny_config, tmp_path):
    config = tiny_config()
    run_dir = tmp_path / "run"
    prepare_data(config, run_dir)
    return config, run_dir


def losses_of(run_dir):
    import pyarrow.parquet as pq
    rows = []
    for path in sorted((run_dir / "metrics").glob("upto_*.parquet")):
        rows += pq.read_table(path, columns=["step", "loss"]).to_pylist()
    return {r["step"]: r["loss"] for r in rows}


def test_schedule_is_continuous_across_segment_boundaries(tiny_config):
    t = tiny_config(end_step=1000, warmup_steps=10).train
    values = [lr_multiplier(s, t) for s in range(t.start_step, t.end_step)]
    assert values[0] == pytest.approx(0.1)
    assert max(values) == 1.0
    assert values[-1] == pytest.approx(t.final_lr_fraction, abs=0.01)
    # no jump anywhere, in particular not at the segment boundaries 20, 40, ...
    assert max(abs(a - b) for a, b in zip(values[10:], values[11:])) < 0.01


def test_philosophy_weight_is_zero_before_its_start_step():
    mix = [MixEntry("general", 1.0, 0, None), MixEntry("philosophy", 0.5, 20, None)]
    assert weights_at(mix, 19) == {"general": 1.0}
    assert weights_at(mix, 20) == pytest.approx({"general": 2 / 3, "philosophy": 1 / 3})


def test_segments_train_exactly_like_one_run(prepared, tmp_path):
    config, run_dir = prepared
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    train_segment(run_dir, config, 0, 40, PEAK)                # one piece
    train_segment(other, config, 0, 20, PEAK)                  # two segments
    train_segment(other, config, 20, 40, PEAK)
    assert losses_of(run_dir) == losses_of(other)
    assert sorted(losses_of(run_dir)) == list(range(1, 41))


def uninterrupted_and_resumed(config, tmp_path, log=lambda line: None) -> tuple[dict, dict, dict]:
    """Steps 0-20 trained in one go, and again as if killed after step 13 (the checkpoint at 10 the newest good
    one, the metrics past it stale) then resumed: (the first's losses, the second's, the resume's summary)."""
    run_dir, other = tmp_path / "run", tmp_path / "other"
    prepare_data(config, run_dir)
    shutil.copytree(run_dir, other)
    train_segment(run_dir, config, 0, 20, PEAK, log=log)
    train_segment(other, config, 0, 20, PEAK)
    checkpoint_path(other / "checkpoints", 20).with_suffix(".json").unlink()
    summary = train_segment(other, config, 0, 20, PEAK)
    return losses_of(run_dir), losses_of(other), summary


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_resume_from_an_inner_checkpoint_gives_identical_losses(tiny_config, tmp_path, optimizer):
    uninterrupted, resumed, summary = uninterrupted_and_resumed(tiny_config(optimizer=optimizer), tmp_path)
    assert summary["resumed_from"] == 10
    assert uninterrupted == resumed


def test_loss_falls_on_real_text(prepared):
    config, run_dir = prepared
    train_segment(run_dir, config, 0, 60, PEAK)
    losses = losses_of(run_dir)
    assert losses[1] > math.log(512) - 1
    assert sum(losses[s] for s in range(51, 61)) / 10 < losses[1] - 1.0


def test_next_segment_without_previous_checkpoint_is_a_clear_error(prepared):
    config, run_dir = prepared
    with pytest.raises(PhaselogError, match="previous segment did not finish"):
        train_segment(run_dir, config, 20, 40, PEAK)


def test_loss_and_grad_norm_reach_the_host_once_per_step(tiny_config, tmp_path, monkeypatch):
    """Every device-to-host read the training loop itself makes (item, tolist, float, bool of a tensor), counted
    over a real segment with 4 micro-batches per step: one per step, however many micro-batches."""
    import sys

    import torch

    config = tiny_config(grad_accum=4, batch_size=2)
    run_dir = tmp_path / "run"
    prepare_data(config, run_dir)
    reads = []
    for method in ("item", "tolist", "__float__", "__bool__"):
        real = getattr(torch.Tensor, method)

        def counted(self, *args, _real=real, _method=method):
            if sys._getframe(1).f_code.co_filename.endswith("model/train.py"):
                reads.append(_method)
            return _real(self, *args)
        monkeypatch.setattr(torch.Tensor, method, counted)
    train_segment(run_dir, config, 0, 20, PEAK)
    assert reads == ["tolist"] * 20
    assert sorted(losses_of(run_dir)) == list(range(1, 21))


def test_a_continued_run_may_switch_to_muon_with_fresh_optimizer_state(prepared, tiny_config, tmp_path):
    """Muon's momentum and AdamW's moments mean nothing to each other: the weights and RNG streams carry over,
    the new optimizer starts empty, and the log says so."""
    config, run_dir = prepared
    train_segment(run_dir, config, 0, 20, PEAK)
    child = tmp_path / "child"
    shutil.copytree(run_dir / "tokenizer", child / "tokenizer")
    shutil.copytree(run_dir / "shards", child / "shards")
    switched = tiny_config(optimizer="muon", start_step=20, end_step=40, schedule_start=0, schedule_end=60,
                           continue_from=str(checkpoint_path(run_dir / "checkpoints", 20)))
    said = []
    train_segment(child, switched, 20, 40, PEAK, log=said.append)
    assert said[0] == "training eager (train.compile: false), fp32 on cpu (train.precision: auto)"
    assert said[1] == f"Muon's Newton-Schulz in {'bf16' if native_bf16()[0] else 'fp32'} (train.muon_precision: auto)"
    assert any("optimizer changed from adamw to muon" in line for line in said)
    losses = losses_of(child)
    assert sorted(losses) == list(range(21, 41))
    # the weights carried over: the first continued step's loss is the parent's last, not an untrained model's
    parent = losses_of(run_dir)
    assert abs(losses[21] - parent[20]) < 0.3 < parent[1] - losses[21], (parent, losses)


def test_cpu_bf16_is_refused_in_one_line_where_the_cpu_would_emulate_it(tiny_config, tmp_path):
    emulated, native = tmp_path / "emulated", tmp_path / "native"
    emulated.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    native.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16\n")
    with pytest.raises(PhaselogError) as refused:
        check_precision(tiny_config(precision="bf16"), emulated)
    assert str(refused.value).startswith("train.precision bf16: no native bf16 on this CPU")
    assert "\n" not in str(refused.value)
    check_precision(tiny_config(precision="bf16"), native)
    check_precision(tiny_config(), emulated)  # auto: fp32 on any CPU
    with pytest.raises(PhaselogError) as refused:
        check_precision(tiny_config(optimizer="muon", muon_precision="bf16"), emulated)
    assert str(refused.value).startswith("train.muon_precision bf16: no native bf16 on this CPU")
    check_precision(tiny_config(optimizer="muon", muon_precision="bf16"), native)



def test_muon_newton_schulz_runs_in_bf16_where_the_cpu_computes_it_natively(tiny_config, tmp_path):
    import torch

    from phaselog.model.device import newton_schulz_dtype

    emulated, native = tmp_path / "emulated", tmp_path / "native"
    emulated.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    native.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    cpu, auto = torch.device("cpu"), tiny_config(optimizer="muon").train
    assert newton_schulz_dtype(auto, cpu, native) == torch.bfloat16
    assert newton_schulz_dtype(auto, cpu, emulated) == torch.float32
    assert newton_schulz_dtype(auto, torch.device("cuda"), emulated) == torch.bfloat16
    assert newton_schulz_dtype(tiny_config(optimizer="muon", muon_precision="fp32").train, cpu, native) \
        == torch.float32


@pytest.mark.skipif(not native_bf16()[0], reason="train.precision bf16 needs a CPU with native bf16: "
                    + native_bf16()[1])
def test_cpu_bf16_trains_and_resumes_exactly(tiny_config, tmp_path):
    """train.precision bf16 on a CPU that computes bf16: the step runs under autocast (the log's first line
    says so), the loss falls, and a resume from an inner checkpoint repeats the losses exactly."""
    said = []
    losses, resumed, summary = uninterrupted_and_resumed(tiny_config(precision="bf16"), tmp_path, said.append)
    assert said[0] == "training eager (train.compile: false), bf16 autocast on cpu (train.precision: bf16)"
    assert summary["resumed_from"] == 10
    assert losses == resumed
    assert all(math.isfinite(v) for v in losses.values())
    assert sum(losses[s] for s in range(16, 21)) / 5 < losses[1] - 0.5


def test_muon_orthogonalises_in_fp32_on_cpu_and_q_k_v_apart():
    """Newton-Schulz takes every singular value near 1 (the quintic's band is about 0.7-1.2) without leaving
    fp32 on a CPU, and each of a fused q/k/v matrix's three maps is orthogonal on its own."""
    import torch

    from phaselog.model.train import orthogonalise

    scales = torch.tensor([1.0, 10.0, 0.1])[:, None, None]  # three maps of very different sizes
    stacked = torch.randn(3, 16, 16, generator=torch.Generator().manual_seed(0)) * scales
    out = orthogonalise(stacked)
    assert out.dtype == torch.float32
    singular = torch.linalg.svdvals(out)
    assert singular.min() > 0.5 and singular.max() < 1.3
    tall = orthogonalise(torch.randn(64, 16, generator=torch.Generator().manual_seed(1)))
    assert torch.linalg.svdvals(tall).min() > 0.5 and torch.linalg.svdvals(tall).max() < 1.3
    # in bf16 (train.muon_precision: bf16, or CUDA) the iteration lands in the same band, returned in fp32
    halved = orthogonalise(stacked, dtype=torch.bfloat16)
    assert halved.dtype == torch.float32
    assert torch.linalg.svdvals(halved).min() > 0.5 and torch.linalg.svdvals(halved).max() < 1.3


def test_muon_step_batches_by_shape_as_if_each_map_were_orthogonalised_alone(tiny_config):
    """Muon orthogonalises all same-shaped maps in one batched call (tall ones turned wide, q, k and v apart):
    the weights it takes must be those of orthogonalising each map on its own, as its definition says."""
    import torch

    from phaselog.model.gpt import GPT, GPTShape
    from phaselog.model.train import Muon, build_optimizer, orthogonalise

    model = GPT(GPTShape(64, 2, 32, 2, 16))
    model.init_weights(0)
    optimizer = build_optimizer(model, tiny_config(optimizer="muon").train)
    muon = optimizer.muon
    group = muon.param_groups[0]
    group["lr"] = 0.02  # a step large enough to see (the config's lr is scaled down to this tiny batch)
    generator = torch.Generator().manual_seed(2)
    for p in group["params"]:
        p.grad = torch.randn(p.shape, generator=generator)
    before = [p.detach().clone() for p in group["params"]]
    muon.step()
    first = Muon.MOMENTUM_START + (Muon.MOMENTUM - Muon.MOMENTUM_START) / Muon.MOMENTUM_WARMUP
    for p, old in zip(group["params"], before):
        # step 1: the buffer is (1 - momentum) g, and the Nesterov look-ahead g.lerp(buffer, momentum)
        nesterov = p.grad.lerp(p.grad * (1 - first), first)
        parts = muon.slices.get(p, 1)
        rows = p.size(0) // parts
        maps = [orthogonalise(m, dtype=muon.dtype) for m in nesterov.split(rows)]
        expected = old * (1 - group["lr"] * group["weight_decay"]) \
            - group["lr"] * max(1.0, rows / p.size(1)) ** 0.5 * torch.cat(maps)
        assert not torch.allclose(p.detach(), old, atol=1e-4)  # the step moved it
        assert torch.allclose(p.detach(), expected, atol=1e-6), p.shape
    shapes = {m.shape for p in group["params"] for m in p.split(p.size(0) // muon.slices.get(p, 1))}
    assert {tuple(s) for s in shapes} == {(32, 32), (128, 32), (32, 128)}  # square, tall and wide maps all met
