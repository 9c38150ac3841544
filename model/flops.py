"""Peak FLOP/s for MFU. On a GPU we look the peak up in a table; on a CPU no table is honest, so we measure
the machine's own matmul throughput (the same kind of work a training step does) and take the median."""
import statistics
import time

import torch

# dense bf16 peaks (fp32 accumulate, as autocast trains) from the vendors' datasheets and architecture
# whitepapers, in FLOP/s; the Ti cards' figures are the whitepaper's per-SM rate x SMs x boost clock
GPU_BF16_PEAK = {
    "H100": 989e12, "A100": 312e12, "L4": 121e12, "L40S": 362e12, "A10": 125e12, "4090": 165e12, "3090": 71e12,
    "4070": 58e12, "3070": 40e12, "3070 Ti": 43.5e12, "4060": 30e12, "4060 Ti": 44e12, "3060": 25e12,
    "3060 Ti": 32e12, "2080": 20e12,
}


def measure_matmul_peak(dtype: torch.dtype = torch.float32, sizes: tuple[int, ...] = (1024, 2048),
                        repeats: int = 9) -> float:
    """FLOP/s of square matmuls on this CPU (2 x n^3 FLOPs per product): the median over repeats for each size,
    then the best size, since the fastest shape is what "peak" means and the median shrugs off noisy neighbours."""
    medians = []
    for size in sizes:
        a = torch.randn(size, size, dtype=dtype)
        b = torch.randn(size, size, dtype=dtype)
        torch.mm(a, b)  # warm the kernels and caches before timing
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            rates.append(2 * size ** 3 / (time.perf_counter() - t0))
        medians.append(statistics.median(rates))
    return max(medians)


def peak_flops(device: torch.device, bf16: bool = False) -> float:
    """What MFU is measured against: the card's datasheet bf16 peak, or this CPU's measured matmul peak in the
    precision the step runs in (train.precision bf16: bf16 products)."""
    if device.type == "cuda":
        return datasheet_peak(torch.cuda.get_device_name(device))
    return measure_matmul_peak(torch.bfloat16 if bf16 else torch.float32)


def datasheet_peak(name: str) -> float:
    """The table's peak for a CUDA device name; the longest name that matches, so that an "RTX 4060 Ti" is not
    read as a 4060. An unknown GPU gets NaN: better no MFU than a made-up one."""
    matches = [key for key in GPU_BF16_PEAK if key.lower() in name.lower()]
    return GPU_BF16_PEAK[max(matches, key=len)] if matches else float("nan")
