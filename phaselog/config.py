"""The phase configuration: one pydantic model that the YAML file, the `--set` overrides, the Prefect UI form
and the run record all share. Sizes derive from a few dials (model depth, segment length); anything set
explicitly shows up in the YAML."""
import hashlib
import json
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from phaselog.errors import PhaselogError


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
    lr: float = Field(3e-3, gt=0, description="peak learning rate of the transformer matrices")
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
    init_from: str | None = Field(None, description="a run id or a checkpoint path to start from")

    @model_validator(mode="after")
    def steps_consistent(self):
        if self.end_step <= self.start_step:
            raise ValueError(f"end_step {self.end_step} must be greater than start_step {self.start_step}")
        return self


class PhaseConfig(Strict):
    name: str = "phase"
    notes: str = Field("", description="next steps and remarks, quoted in the report")
    data: DataConfig
    tokenizer: TokenizerConfig = TokenizerConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()

    def segments(self) -> list[tuple[int, int]]:
        """The [start, end) global step ranges of the phase's segments."""
        t = self.train
        bounds = list(range(t.start_step, t.end_step, t.segment_steps)) + [t.end_step]
        return list(zip(bounds[:-1], bounds[1:]))

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()[:16]

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
    return key.strip().split("."), yaml.safe_load(value)


def apply_override(raw: dict, keys: list[str], value) -> None:
    node = raw
    for i, key in enumerate(keys[:-1]):
        if isinstance(node, list) and key.isdigit():
            node = node[int(key)]
        elif isinstance(node, dict):
            node = node.setdefault(key, {})
        else:
            raise PhaselogError(f"--set {'.'.join(keys)}: {'.'.join(keys[:i + 1])} is not a section")
    last = keys[-1]
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
