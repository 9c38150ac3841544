"""bench train measures bf16 only where the CPU has it natively, and says why when it does not; its reference is
nanoGPT's GPT-2 by a known figure."""
import math

import torch

from phaselog.bench.reference import ReferenceGPT
from phaselog.bench.train import TRAIN_SHAPES, random_batch
from phaselog.model.device import native_bf16


def test_bf16_rows_need_a_native_bf16_flag(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu avx2\n")
    has, why = native_bf16(cpuinfo)
    assert not has and "no native bf16" in why
    cpuinfo.write_text("processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16 amx_tile amx_bf16\n")
    assert native_bf16(cpuinfo) == (True, "native bf16 (amx_bf16, avx512_bf16)")
    assert native_bf16(tmp_path / "absent")[0] is False


def test_the_reference_is_gpt2_by_its_parameter_count_and_starts_at_chance():
    # GPT-2 124M in GPT-2's own layout (biases on): 124,439,808 parameters with the position table, 85.06M
    # without either embedding; built on the meta device, so no memory is touched
    with torch.device("meta"):
        gpt2 = ReferenceGPT(50257, 12, 768, 12, 1024, bias=True)
    total = sum(p.numel() for p in gpt2.parameters())
    assert total == 124_439_808
    assert total - gpt2.wte.weight.numel() - gpt2.wpe.weight.numel() == 85_056_000
    # the benchmark's layout: no biases anywhere, one gain per LayerNorm; normal(0.02) init puts the loss at
    # ln(vocab), chance
    torch.manual_seed(0)
    shape = TRAIN_SHAPES[0]
    model = ReferenceGPT(shape["vocab_size"], shape["n_layer"], shape["d_model"], shape["n_head"], shape["seq_len"])
    assert not [name for name, _ in model.named_parameters() if name.endswith("bias")]
    loss = model(*random_batch(shape, torch.device("cpu")))
    assert abs(loss.item() - math.log(shape["vocab_size"])) < 0.1
