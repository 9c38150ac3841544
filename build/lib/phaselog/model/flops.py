"""Peak FLOP/s for MFU. On a GPU we look the peak up in a table; on a CPU no table is honest, so we measure
the machine's own matmul throughput (the same kind of work a training step does) and take the median."""
import statistics
import time

import torch

# dense bf16 peaks from the vendors' datasheets, in FLOP/s
GPU_BF16_PEAK = {
    "H100": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12, "4090": 165e12, "3090": 71e12,
    "4070": 58e12, "3070": 40e12, "4060": 30e12, "3060": 25e12, "2080": 20e12,
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


def peak_flops(device: torch.device) -> float:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, flops in GPU_BF16_PEAK.items():
            if key in name:
                return flops
        return float("nan")  # an unknown GPU: better no MFU than a made-up one
    return measure_matmul_peak(torch.float32)
