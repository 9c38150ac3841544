"""BPE tokenizer: trained with rustbpe, used through a tiktoken `Encoding` (fast batch encoding in Rust threads).
Saved in the run directory as its mergeable ranks plus a token-bytes table, the UTF-8 length of every token,
which is what validation bits-per-byte divides by."""
import base64
import json
from pathlib import Path
from typing import Iterable

import rustbpe
import tiktoken
import torch

from phaselog.core.errors import PhaselogError

# the document separator; special tokens count 0 bytes in bpb
BOS = "<|bos|>"
SPECIAL_TOKENS = [BOS]
# GPT-4-style split, with numbers in runs of at most 2 digits: small vocabularies waste fewer ids on numbers
SPLIT_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|"""
                 r"""\s*[\r\n]|\s+(?!\S)|\s+""")


class Tokenizer:
    def __init__(self, mergeable_ranks: dict[bytes, int], pattern: str = SPLIT_PATTERN):
        self.mergeable_ranks = mergeable_ranks
        self.pattern = pattern
        n = len(mergeable_ranks)
        self.special_tokens = {tok: n + i for i, tok in enumerate(SPECIAL_TOKENS)}
        self.encoding = tiktoken.Encoding(name="phaselog", pat_str=pattern, mergeable_ranks=mergeable_ranks,
                                          special_tokens=self.special_tokens)
        self.bos_id = self.encoding.encode_single_token(BOS)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> "Tokenizer":
        bpe = rustbpe.Tokenizer()
        bpe.train_from_iterator(iter(texts), vocab_size - len(SPECIAL_TOKENS), pattern=SPLIT_PATTERN)
        return cls({token: rank for token, rank in bpe.get_mergeable_ranks()}, bpe.get_pattern())

    @property
    def vocab_size(self) -> int:
        return self.encoding.n_vocab

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def encode_batch(self, texts: list[str], threads: int = 2) -> list[list[int]]:
        return self.encoding.encode_ordinary_batch(texts, num_threads=threads)

    def decode(self, ids: list[int]) -> str:
        return self.encoding.decode(ids, errors="replace")

    def token_bytes(self) -> torch.Tensor:
        """UTF-8 byte length of every token id; special tokens are 0 so they never count in bpb."""
        table = torch.zeros(self.vocab_size, dtype=torch.int32)
        for token, rank in self.mergeable_ranks.items():
            table[rank] = len(token)
        return table

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        ranks = {base64.b64encode(token).decode(): rank for token, rank in self.mergeable_ranks.items()}
        (directory / "tokenizer.json").write_text(json.dumps({"pattern": self.pattern, "ranks": ranks}))
        torch.save(self.token_bytes(), directory / "token_bytes.pt")

    @classmethod
    def load(cls, directory: Path) -> "Tokenizer":
        saved = json.loads((Path(directory) / "tokenizer.json").read_text())
        ranks = {base64.b64decode(token): rank for token, rank in saved["ranks"].items()}
        return cls(ranks, saved["pattern"])


def init_tokenizer_dir(init_from: str, home: Path) -> Path:
    """The tokenizer a continued phase must reuse: its checkpoint's token ids mean nothing with another one."""
    path = Path(init_from)
    run_dir = path.parent.parent if path.suffix == ".pt" else home / init_from
    if not (run_dir / "tokenizer" / "tokenizer.json").is_file():
        raise PhaselogError(f"train.init_from: no tokenizer in {run_dir / 'tokenizer'} to continue with")
    return run_dir / "tokenizer"
