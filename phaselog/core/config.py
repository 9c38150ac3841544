"""The phase configuration: one pydantic model that the YAML file, the `--set` overrides, the Prefect UI form
and the run record all share. Sizes derive from a few dials (model depth, segment length); anything set
explicitly shows up in the YAML."""
import hashlib
import json
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from phaselog.core.errors import PhaselogError
from phaselog.core.lake import parse_store_url


class Strict(BaseModel):
    # an unknown key is a typo until proven otherwise
    model_config = ConfigDict(extra="forbid")


class SourceConfig(Strict):
    name: str
    path: str = Field(description="directory or file; relative paths are resolved against data.corpus_dir")
    format: Literal["txt", "parquet", "jsonl"] | None = None
    text_column: str = "text"
    weight: float = Field(1.0, gt=0)
    start_step: int = Field(0, ge=0, description="global step from which this source joins the mix")
    end_step: int | None = Field(None, description="global step at which it leaves the mix (exclusive)")


class DataConfig(Strict):
    corpus_dir: str = Field("", description="root for relative source paths; $PHASELOG_CORPUS when empty")
    sources: list[SourceConfig] = Field(min_length=1)
    val_fraction: float = Field(0.05, gt=0, lt=0.5)
    min_doc_chars: int = 200
    chunk_chars: int = 4000

    @model_validator(mode="after")
    def names_unique(self):
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        return self


class TokenizerConfig(Strict):
    vocab_size: int = Field(4096, ge=260, le=65536)
    sample_chars: int = Field(5_000_000, gt=0, description="characters of the mix the tokenizer is trained on")


class DataQualityConfig(Strict):
    """Great Expectations thresholds for documents and token shards after data prep; docs/data.md."""
    max_bad_char_share: float = Field(0.01, ge=0, le=1, description="replacement characters or mojibake marks per "
                                      "character above which a text file is refused and a document is bad")
    clean_doc_share: float = Field(1.0, gt=0, le=1, description="share of kept documents that must be under "
                                   "max_bad_char_share (1.0: every one; web corpora may want 0.999)")
    val_share_range: tuple[float, float] = Field((0.005, 0.34), description="allowed share of each source's "
                                                 "documents in its val split")
    sample_rows: int = Field(200_000, gt=0, description="rows per suite GX checks at most (a stride sample per "
                             "source and split beyond that, so every source stays in)")


class ModelConfig(Strict):
    depth: int = Field(4, ge=1, description="the one dial: width, heads and learning rates follow from it")
    aspect_ratio: int = Field(64, description="d_model = depth * aspect_ratio, unless d_model is set")
    head_dim: int = 64
    d_model: int | None = None
    seq_len: int = Field(256, ge=8)

    @property
    def width(self) -> int:
        return self.d_model or self.depth * self.aspect_ratio

    @property
    def n_head(self) -> int:
        return max(1, self.width // self.head_dim)

    @model_validator(mode="after")
    def heads_divide_width(self):
        if self.width % self.n_head:
            raise ValueError(f"d_model {self.width} is not a multiple of head_dim {self.head_dim}")
        if (self.width // self.n_head) % 2:
            raise ValueError("head size must be even for rotary embeddings")
        return self


class TrainConfig(Strict):
    start_step: int = Field(0, ge=0, description="global step the phase starts at (phase 1 starts at 10,000)")
    end_step: int = Field(3000, gt=0, description="global step the phase ends at (exclusive)")
    segment_steps: int = Field(1000, gt=0)
    batch_size: int = Field(8, gt=0, description="sequences per micro-batch")
    grad_accum: int = Field(1, gt=0)
    optimizer: Literal["adamw", "muon"] = Field("adamw", description="adamw: AdamW on everything; muon: Muon "
                                                "(model/train.py) on the blocks' matrices, AdamW on the embedding "
                                                "and the head, as nanochat trains (docs/benchmarks.md: race levers)")
    lr: float = Field(3e-3, gt=0, description="peak learning rate of the transformer matrices under AdamW")
    muon_lr: float = Field(0.02, gt=0, description="peak learning rate of the transformer matrices under Muon at "
                           "2^19 tokens a step; scaled by sqrt(tokens a step / 2^19), as nanochat does")
    embedding_lr: float = Field(1e-2, gt=0)
    head_lr: float = Field(3e-3, gt=0)
    weight_decay: float = 0.0
    warmup_steps: int = 100
    warmdown_fraction: float = Field(0.3, ge=0, le=1, description="share of the phase spent decaying the lr")
    final_lr_fraction: float = Field(0.1, ge=0, le=1)
    grad_clip: float = 1.0
    checkpoint_every: int = Field(250, gt=0)
    keep_checkpoints: int = Field(3, ge=1, description="checkpoints inside segments to keep (segment ends are kept)")
    val_tokens: int = Field(32_768, gt=0, description="validation tokens per bpb evaluation")
    seed: int = 1337
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compile: bool = False
    precision: Literal["auto", "bf16"] = Field("auto", description="auto: bf16 autocast on CUDA, fp32 on CPU; bf16: "
                                               "bf16 autocast on CPU too, only where the CPU computes bf16 natively "
                                               "(AMX or AVX-512 BF16): 2x the fp32 step at width 512, no faster at "
                                               "the demo's width 128 (docs/benchmarks.md)")
    muon_precision: Literal["auto", "fp32", "bf16"] = Field("auto", description="the dtype of Muon's Newton-Schulz: "
                                                            "auto: bf16 on CUDA and on a CPU that computes bf16 "
                                                            "natively (AVX-512 BF16, AMX), fp32 on others; fp32 or "
                                                            "bf16 force one (bf16 refused where it is emulated); "
                                                            "docs/benchmarks.md: Muon's cost")
    init_from: str | None = Field(None, description="a run id or a checkpoint path to start from (weights only)")
    continue_from: str | None = Field(None, description="checkpoint of the run this one continues, set by `phaselog "
                                      "continue`: weights, optimizer state and RNG streams carry over, and the "
                                      "parent's tokenizer and shards are reused")
    schedule_start: int | None = Field(None, ge=0, description="global step the lr schedule's warmup counts from; "
                                       "None: start_step (a continued run keeps its parent's)")
    schedule_end: int | None = Field(None, gt=0, description="global step the lr warmdown ends at; None: end_step")
    nproc_per_node: int = Field(1, ge=1, description="processes per segment: 1 trains in the flow's process; more "
                                "runs the segment under torchrun with DDP (one per GPU; gloo on CPU); docs/scale.md")

    @model_validator(mode="after")
    def steps_consistent(self):
        if self.end_step <= self.start_step:
            raise ValueError(f"end_step {self.end_step} must be greater than start_step {self.start_step}")
        if self.schedule_start is not None and self.schedule_start > self.start_step:
            raise ValueError(f"schedule_start {self.schedule_start} is after start_step {self.start_step}")
        if self.schedule_end is not None and self.schedule_end <= self.lr_schedule()[0]:
            raise ValueError(f"schedule_end {self.schedule_end} must be after the schedule's start")
        if self.init_from and self.continue_from:
            raise ValueError("init_from and continue_from exclude each other: continue_from already brings the weights")
        return self

    def lr_schedule(self) -> tuple[int, int]:
        """The global steps the lr schedule spans: warmup from the first, warmdown ending at the second."""
        start = self.start_step if self.schedule_start is None else self.schedule_start
        return start, self.end_step if self.schedule_end is None else self.schedule_end

    @model_validator(mode="after")
    def grad_accum_splits_across_processes(self):
        # each process takes every nproc-th micro-batch of a step, so the global batch stays the same
        if self.grad_accum % self.nproc_per_node:
            raise ValueError(f"grad_accum {self.grad_accum} must be a multiple of nproc_per_node "
                             f"{self.nproc_per_node}: each process takes grad_accum / nproc_per_node micro-batches")
        return self


class UnderstandingConfig(Strict):
    """Monitoring and health thresholds; docs/understanding.md gives the source and reasoning of each."""
    probe_every: int = Field(50, ge=0, description="steps between probes (activations, gradients, updates); 0 = off")
    probe_windows: int = Field(4, gt=0, description="validation windows per source in the fixed probe batch")
    loss_spike_factor: float = Field(2.0, gt=1, description="loss >= this x its rolling mean counts as a spike")
    loss_spike_window: int = Field(100, gt=0, description="steps in the rolling mean of the loss")
    loss_spike_steps: int = Field(4, ge=0, description="a spike must last more than this many steps")
    grad_explosion_factor: float = Field(10.0, gt=1, description="grad norm >= this x its rolling median")
    rms_growth_factor: float = Field(3.0, gt=1, description="layer RMS >= this x the median of its own history")
    update_ratio_low: float = Field(1e-5, gt=0, description="update/weight ratio below this: the layer is stalled")
    update_ratio_high: float = Field(1e-1, gt=0, description="update/weight ratio above this: updates too large")
    entropy_floor: float = Field(0.05, ge=0, description="normalised attention entropy below this: collapse")
    uniform_tolerance: float = Field(1.2, ge=1, description="max/min layer activity below this: uniform learning")
    concept_active_range: tuple[float, float] = Field((0.01, 0.5), description="share of probe tokens a unit "
                                                      "fires on to count as a concept (alive, yet selective)")
    concept_maturing: float = Field(0.8, gt=0, le=1, description="stability from which a concept is maturing")
    concept_freeze: float = Field(0.95, gt=0, le=1, description="stability, twice in a row, for candidate_to_freeze")
    freeze: bool = Field(False, description="freeze candidate_to_freeze units in the following segments")
    pause_on: list[Literal["bias", "health_critical", "health_attention"]] = Field(
        ["bias"], description="what may pause the run for a review (review.mode says how): bias findings, a "
        "critical health verdict (also a non-finite loss, after training stopped before the bad update), or "
        "needs_attention for `pause_attention_segments` segments in a row")
    pause_attention_segments: int = Field(2, gt=0, description="consecutive needs_attention segments (since the "
                                          "last review) before health_attention pauses")


class EvaluationConfig(Strict):
    """What runs at every segment end besides val bpb (always): the CORE-style suite; docs/evaluation.md."""
    enabled: bool = Field(True, description="run the CORE-style task bundle at segment ends")
    bundle: str = Field("evals/core_mini", description="bundle directory (DCLM/nanochat layout); a relative path "
                        "is looked up in the current directory, then in the phaselog checkout")
    max_items_per_task: int | None = Field(None, gt=0, description="a seeded sample of this many items per task; "
                                           "None = all")
    process: Literal["in_process", "subprocess"] = Field(
        "in_process", description="subprocess: evaluate the saved checkpoint in a fresh process, so even a hard "
        "crash of evaluation leaves the run going (costs a few seconds of start-up)")
    start_batch_size: int = Field(32, gt=0, description="rows per forward pass to start with; halved on "
                                  "out-of-memory down to 1")


class SelfPlayConfig(Strict):
    """Reflections the model writes from a versioned prompt after every segment; docs/selfplay.md."""
    enabled: bool = True
    prompt_version: str = Field("v1.4", description="a file `prompts/reflection/<version>.md`")
    prompts_dir: str = Field("", description="folder holding reflection/ and framing/; empty: the checkout's prompts/")
    samples: int = Field(4, ge=1, description="reflections per segment end")
    max_new_tokens: int = Field(128, gt=0, description="cut to what fits in model.seq_len after the prompt")
    temperature: float = Field(0.8, ge=0, description="0 is greedy")
    top_k: int | None = Field(50, gt=0)
    top_p: float | None = Field(0.95, gt=0, le=1)
    seed: int | None = Field(None, description="sampling seed; None: train.seed + the step, so reruns match")
    framing_after_review: str | None = Field(None, description="a file `prompts/framing/<name>.md` put before the "
                                             "prompt for the self-play right after a review pause")


class ReviewConfig(Strict):
    """Loops and bias after every segment, and when the run pauses for a person; docs/detectors.md."""
    enabled: bool = Field(True, description="False: record loop and bias events but never pause")
    data_windows: int = Field(16, ge=0, description="training-text windows scanned per active source per segment")
    data_window_tokens: int = Field(256, gt=0, description="tokens per scanned window")
    data_rate: float = Field(0.05, ge=0, le=1, description="pause when more than this share of a source's windows "
                             "has a high-severity finding, counted over the run since the last answered review")
    data_min_windows: int = Field(64, ge=1, description="a data rate means nothing over fewer windows: no data "
                                  "pause before this many windows of the source were scanned")
    data_min_count: int = Field(3, ge=1, description="and none before this many of them had a high finding")
    probe: bool = Field(True, description="run the paired-sentence likelihood probe at every segment end")
    probe_shift_se: float = Field(3.0, ge=0, description="pause when a category's probe preference moves, against "
                                  "the other categories, by more than this many standard errors since the previous "
                                  "segment end, the error rate held across all categories (Holm); 0 = never")
    probe_min_step: int = Field(500, ge=0, description="a younger model's preferences swing as it learns the "
                                "language at all: probe shifts are recorded but never pause before this step")
    mode: Literal["auto", "pause", "stop"] = Field(
        "auto", description="auto: pause in Prefect when a Prefect server is configured (PREFECT_API_URL), else "
        "stop the run as awaiting_review for `phaselog review`; pause or stop force one of the two")
    timeout_seconds: int = Field(7 * 24 * 3600, gt=0, description="how long a pause waits for an answer before "
                                 "the run fails (Prefect's own default, one hour, is too short for a person)")
    poll_seconds: int = Field(10, gt=0, description="how often a paused run checks for the answer")
    injected_reflection: str = Field("", description="a fixed text scanned like a reflection at every segment end "
                                     "(source 'injected'): a drill of the review pause, never the model's words")
    counterexample_source: str = Field("", description="name of a data.sources entry, prepared with the others "
                                       "but out of the mix until a review answers resume_with_counterexamples; "
                                       "from the next segment on it joins with that entry's weight")


class PhaseConfig(Strict):
    name: str = "phase"
    phase: str = Field("", description="the phase this run belongs to (a phase is a chain of runs, each continuing "
                       "the previous one); empty: the config's name")
    notes: str = Field("", description="next steps and remarks, quoted in the report")
    store: str = Field("", description="where the run's rows go: duckdb:PATH, ducklake:sqlite:PATH?data=DIR or "
                       "ducklake:postgres:DSN?data=DIR (docs/scale.md); empty: $PHASELOG_STORE, else "
                       "HOME/phaselog.duckdb")
    data: DataConfig
    tokenizer: TokenizerConfig = TokenizerConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    data_quality: DataQualityConfig = DataQualityConfig()
    understanding: UnderstandingConfig = UnderstandingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    self_play: SelfPlayConfig = SelfPlayConfig()
    review: ReviewConfig = ReviewConfig()

    @model_validator(mode="after")
    def counterexample_source_known(self):
        names = [s.name for s in self.data.sources]
        held = self.review.counterexample_source
        if held and held not in names:
            raise ValueError(f"review.counterexample_source {held!r} is not a data.sources name ({', '.join(names)}); "
                             "add it there or fix the name")
        return self

    @model_validator(mode="after")
    def some_source_at_every_step(self):
        # caught here, before data prep: otherwise training stops at the first step with nothing to draw from.
        # The counterexample source does not count: it is out of the mix until a review brings it in.
        mixed = [s for s in self.data.sources if s.name != self.review.counterexample_source]
        t = self.train
        changes = {t.start_step} | {s.end_step for s in mixed if s.end_step is not None}
        for step in sorted(x for x in changes if t.start_step <= x < t.end_step):
            if not any(s.start_step <= step and (s.end_step is None or step < s.end_step) for s in mixed):
                held = f" (review.counterexample_source {self.review.counterexample_source!r} only joins after a " \
                       "review)" if self.review.counterexample_source else ""
                raise ValueError(f"data.sources: no source is in the mix at step {step}{held}; give a source a "
                                 "start_step at or before it, or remove its end_step")
        return self

    def segments(self) -> list[tuple[int, int]]:
        """The [start, end) global step ranges of the phase's segments."""
        t = self.train
        bounds = list(range(t.start_step, t.end_step, t.segment_steps)) + [t.end_step]
        return list(zip(bounds[:-1], bounds[1:]))

    def tokens_per_step(self) -> int:
        """Tokens one optimizer step trains on, over all micro-batches."""
        return self.train.batch_size * self.train.grad_accum * self.model.seq_len

    def phase_name(self) -> str:
        return self.phase or self.name

    @field_validator("store")
    @classmethod
    def store_is_a_store_url(cls, value: str) -> str:
        try:
            if value:
                parse_store_url(value, "the URL")  # its one-sentence error, before anything starts
        except PhaselogError as err:
            raise ValueError(str(err)) from None
        return value

    def hash(self) -> str:
        # where the rows are stored is not what trains: a copied store keeps its runs' hashes (and Prefect caches)
        dumped = self.model_dump(exclude={"store"})
        return hashlib.sha256(json.dumps(dumped, sort_keys=True).encode()).hexdigest()[:16]

    def source_path(self, source: SourceConfig) -> Path:
        path = Path(os.path.expanduser(source.path))
        if path.is_absolute():
            return path
        root = self.data.corpus_dir or os.environ.get("PHASELOG_CORPUS", "")
        if not root:
            raise PhaselogError(
                f"data.sources[{source.name}].path is relative ({source.path}) but neither data.corpus_dir "
                "nor $PHASELOG_CORPUS says where the corpus is")
        return Path(os.path.expanduser(root)) / path


def parse_override(text: str) -> tuple[list[str], object]:
    if "=" not in text:
        raise PhaselogError(f"--set {text}: expected key.path=value")
    key, value = text.split("=", 1)
    # YAML parses the value so numbers, booleans and null arrive typed
    try:
        return key.strip().split("."), yaml.safe_load(value)
    except yaml.YAMLError as err:
        problem = str(err).splitlines()[0]
        raise PhaselogError(f"--set {text}: the value is not valid YAML ({problem}); quote a string") from None


def list_item(items: list, key: str, keys: list[str], i: int):
    """An item of a list section by index or, for named items such as data.sources, by name: a typo in either
    is a clear error rather than a new, empty source."""
    where = f"--set {'.'.join(keys)}: {'.'.join(keys[:i])}"
    if key.isdigit():
        if int(key) >= len(items):
            raise PhaselogError(f"{where} has {len(items)} entries, no index {key}")
        return items[int(key)]
    names = [item.get("name") for item in items if isinstance(item, dict)]
    if key not in names:
        raise PhaselogError(f"{where} has no entry named {key!r} (names: {', '.join(map(str, names))})")
    return items[names.index(key)]


def apply_override(raw: dict, keys: list[str], value) -> None:
    node = raw
    for i, key in enumerate(keys[:-1]):
        if isinstance(node, list):
            node = list_item(node, key, keys, i)
        elif isinstance(node, dict):
            node = node.setdefault(key, {})
        else:
            raise PhaselogError(f"--set {'.'.join(keys)}: {'.'.join(keys[:i + 1])} is not a section")
    last = keys[-1]
    if not isinstance(node, (dict, list)):
        raise PhaselogError(f"--set {'.'.join(keys)}: {'.'.join(keys[:-1])} is a value, not a section")
    if isinstance(node, list) and last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value


def describe_validation_error(err: ValidationError, origin: str) -> str:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(top level)"
    problem = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{origin}: {field}: {problem}{more}"


def config_from_dict(raw: dict, origin: str) -> PhaseConfig:
    try:
        return PhaseConfig.model_validate(raw)
    except ValidationError as err:
        raise PhaselogError(describe_validation_error(err, origin)) from None


def load_config(path: str | Path, overrides: list[str] = ()) -> PhaseConfig:
    path = Path(path)
    if not path.is_file():
        raise PhaselogError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise PhaselogError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise PhaselogError(f"{path}: expected a mapping of sections at the top level")
    for text in overrides:
        apply_override(raw, *parse_override(text))
    return config_from_dict(raw, str(path))
