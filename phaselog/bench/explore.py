"""`phaselog bench explore`: what the exploration server costs. The latency of a 64-token chat reply, asked over HTTP
as the page asks it, and how much a server process beside a training loop slows it: training steps/sec alone,
with the server idle, and with the server busy answering a client that chats in a loop (both in processes of
their own, as in real use). The served run is the demo config's model with random weights (they cost the same
as trained ones) and a tokenizer trained on this repository's own text, in a temporary home. The three
conditions alternate in short blocks of steps, in a rotating order, so load from other processes on the machine
hits them alike; switching is pausing (SIGSTOP) and continuing (SIGCONT) the server and the client, so "alone"
has the server process paused, off the CPU entirely."""
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

from phaselog.bench.train import TRAIN_SHAPES, spread, time_training_steps
from phaselog.core.config import load_config
from phaselog.core.runs import register_run
from phaselog.core.store import Store
from phaselog.datasets.tokenizer import Tokenizer
from phaselog.model.checkpoint import save_checkpoint
from phaselog.model.gpt import GPT, GPTShape
from phaselog.ui import free_port

REPO = Path(__file__).resolve().parents[2]
RUN_ID = "bench-explore"
NEW_TOKENS = 64
CHAT = {"prompt": "What have you been reading lately?", "temperature": 1.0, "top_k": None,
        "max_new_tokens": NEW_TOKENS}
CLIENT = """
import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers={"Content-Type": "application/json"})
while True:
    urllib.request.urlopen(request).read()
"""


def make_home(home: Path) -> None:
    config = load_config(REPO / "configs" / "demo.yaml")
    run_dir = home / RUN_ID
    store = Store(home)
    store.migrate()
    register_run(store, RUN_ID, config, run_dir, "cpu", 1.0)
    texts = [p.read_text() for folder in ("phaselog", "model", "docs") for p in sorted((REPO / folder).glob("*.*"))
             if p.suffix in (".py", ".md")]
    tokenizer = Tokenizer.train(texts, config.tokenizer.vocab_size)
    tokenizer.save(run_dir / "tokenizer")
    model = GPT(GPTShape.from_config(config.model, tokenizer.vocab_size))
    model.init_weights(0)
    save_checkpoint(run_dir / "checkpoints", 0, {"model": model.state_dict()})


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def start_server(home: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen([sys.executable, "-m", "phaselog.cli", "explore", "--home", str(home), "--run", RUN_ID,
                               "--port", str(port), "--chats-per-minute", "1000000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/config", timeout=1)
            return server
        except OSError:
            if server.poll() is not None:
                raise RuntimeError(f"the explore server exited: {server.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
    raise RuntimeError("the explore server did not answer within 60 s")


def steps_per_sec(steps: int) -> float:
    return 1 / statistics.fmean(time_training_steps(TRAIN_SHAPES[0], torch.float32, steps, warmup=1)[0])


# which processes run in each condition; the others are paused (SIGSTOP), which takes them off the CPU at once
RUNNING = {"alone": (), "idle": ("server",), "busy": ("server", "client")}


def switch(processes: dict[str, subprocess.Popen], condition: str) -> None:
    for name, process in processes.items():
        process.send_signal(signal.SIGCONT if name in RUNNING[condition] else signal.SIGSTOP)
    time.sleep(0.2)  # a paused client's reply in flight finishes; a resumed one sends its next request


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.send_signal(signal.SIGCONT)  # a paused process handles the SIGTERM only once it runs again
    process.wait(timeout=30)


def bench_explore(rounds: int = 20, steps: int = 10) -> dict:
    home = Path(tempfile.mkdtemp(prefix="phaselog-bench-explore-"))
    processes: dict[str, subprocess.Popen] = {}
    rates = {condition: [] for condition in RUNNING}
    try:
        make_home(home)
        port = free_port()
        chat_url = f"http://127.0.0.1:{port}/api/runs/{RUN_ID}/chat"
        processes["server"] = start_server(home, port)
        post(chat_url, {**CHAT, "max_new_tokens": 4})  # loads the model
        round_trips, generation, tokens = [], [], []
        for _ in range(5):
            started = time.perf_counter()
            reply = post(chat_url, CHAT)
            round_trips.append(time.perf_counter() - started)
            generation.append(reply["seconds"])
            tokens.append(reply["tokens"])
        processes["client"] = subprocess.Popen([sys.executable, "-c", CLIENT, chat_url, json.dumps(CHAT)],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)  # the client's imports
        # short blocks in rotating order: the load of other processes on the machine drifts slower than a round
        for round_ in range(rounds):
            order = list(RUNNING)[round_ % 3:] + list(RUNNING)[:round_ % 3]
            for condition in order:
                switch(processes, condition)
                rates[condition].append(steps_per_sec(steps))
    finally:
        for process in processes.values():
            stop(process)
        shutil.rmtree(home, ignore_errors=True)
    alone, idle, busy = rates["alone"], rates["idle"], rates["busy"]

    # paired with the "alone" block of the same round, so drift in the machine's load cancels out
    slowdown = {name: statistics.median(100 * (1 - v / a) for v, a in zip(values, alone))
                for name, values in (("idle", idle), ("busy", busy))}
    shape = TRAIN_SHAPES[0]
    lines = [f"exploration server cost on {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
             f"(load average {os.getloadavg()[0]:.1f} at the end); "
             f"served model: demo config (random weights), server torch threads 1",
             f"  chat reply of {NEW_TOKENS} tokens over HTTP: median {statistics.median(round_trips):.3f} s "
             f"(min {min(round_trips):.3f}, max {max(round_trips):.3f}, n={len(round_trips)}); generation alone median "
             f"{statistics.median(generation):.3f} s; tokens per reply median {statistics.median(tokens):.0f}",
             f"  training beside it (demo model L{shape['n_layer']} d{shape['d_model']} T{shape['seq_len']} "
             f"B{shape['batch_size']}, fp32, {torch.get_num_threads()} threads, blocks of {steps} steps, "
             f"{rounds} rounds):"]
    for name, values in (("alone", alone), ("server idle", idle), ("server busy", busy)):
        lines.append(f"    {name:12}: median {statistics.median(values):6.1f} steps/s "
                     f"(min {min(values):.1f}, max {max(values):.1f}, n={len(values)})")
    lines.append(f"  slow-down against alone (median over rounds): idle {slowdown['idle']:+.1f}% (target <= 10%), "
                 f"busy {slowdown['busy']:+.1f}% (a client chatting without pause)")
    lines.append("rerun: phaselog bench explore [--json]")
    return {"benchmark": "explore", "new_tokens": NEW_TOKENS, "round_trip_seconds": spread(round_trips),
            "generation_seconds": spread(generation), "tokens": spread(tokens),
            "steps_per_sec": {"alone": spread(alone), "idle": spread(idle), "busy": spread(busy)},
            "slowdown_percent": slowdown, "summary": "\n".join(lines)}
