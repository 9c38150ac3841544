"""bench train measures bf16 only where the CPU has it natively, and says why when it does not."""
from phaselog.bench_train import native_bf16


def test_bf16_rows_need_a_native_bf16_flag(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu avx2\n")
    has, why = native_bf16(cpuinfo)
    assert not has and "no native bf16" in why
    cpuinfo.write_text("processor\t: 0\nflags\t\t: avx2 avx512f avx512_bf16 amx_tile amx_bf16\n")
    assert native_bf16(cpuinfo) == (True, "native bf16 (amx_bf16, avx512_bf16)")
    assert native_bf16(tmp_path / "absent")[0] is False
