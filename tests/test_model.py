import torch

from phaselog.model.gpt import GPT, GPTShape


def tiny_gpt(vocab=64, layers=2, width=32, heads=2, seq_len=16) -> GPT:
    model = GPT(GPTShape(vocab, layers, width, heads, seq_len))
    model.init_weights(0)
    return model


def test_logits_have_batch_time_vocab_shape():
    model = tiny_gpt()
    logits = model(torch.randint(0, 64, (3, 16)))
    assert logits.shape == (3, 16, 64)


def test_model_has_no_biases_and_an_untied_head():
    model = tiny_gpt()
    assert not any(name.endswith("bias") for name, _ in model.named_parameters())
    assert model.lm_head.weight.data_ptr() != model.wte.weight.data_ptr()


def test_model_is_causal():
    model = tiny_gpt()
    x = torch.randint(0, 64, (1, 16))
    y = x.clone()
    y[0, 10] = (y[0, 10] + 1) % 64
    # changing token 10 must not change the predictions at positions before it
    assert torch.allclose(model(x)[0, :10], model(y)[0, :10])
    assert not torch.allclose(model(x)[0, 10:], model(y)[0, 10:])


def test_per_layer_records_hold_residual_and_mlp_activations():
    model = tiny_gpt(layers=3)
    records = []
    model.final_hidden(torch.randint(0, 64, (2, 16)), records=records)
    assert len(records) == 3
    assert records[0]["residual"].shape == (2, 16, 32)
    assert records[0]["mlp"].shape == (2, 16, 128)


def test_loss_falls_on_a_tiny_run():
    torch.manual_seed(0)
    model = tiny_gpt()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    tokens = torch.randint(0, 64, (4, 17))
    losses = []
    for _ in range(60):
        loss = model(tokens[:, :-1], tokens[:, 1:])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[0] > 3.5  # about ln(64) at the start
    assert losses[-1] < 0.5 * losses[0]


def test_flops_per_token_counts_matmuls_and_attention():
    model = tiny_gpt(vocab=64, layers=2, width=32, seq_len=16)
    matmul_params = 2 * 12 * 32 * 32 + 64 * 32  # blocks + head; the embedding is a lookup
    assert model.matrix_params() == matmul_params
    assert model.flops_per_token() == 6 * matmul_params + 12 * 2 * 32 * 16


def test_checkpoints_with_separate_q_k_v_load_into_the_fused_projection():
    """Runs saved before q, k and v were one matrix: the weights and AdamW's moments are stacked on load, and
    the model computes what it computed before."""
    from phaselog.model.train import fuse_legacy_optimizer_state

    model = tiny_gpt(layers=2)
    optimizer = torch.optim.AdamW([{"params": [model.wte.weight]}, {"params": [model.lm_head.weight]},
                                   {"params": [p for b in model.blocks for p in b.parameters()]}])
    x = torch.randint(0, 64, (2, 16))
    model(x, x).backward()
    optimizer.step()
    # the older layout: c_q, c_k, c_v in the weights, and their moments one by one in the blocks' group
    legacy = {}
    for name, value in model.state_dict().items():
        if name.endswith("c_qkv.weight"):
            for part, chunk in zip("qkv", value.chunk(3)):
                legacy[name.replace("c_qkv", f"c_{part}")] = chunk.clone()
        else:
            legacy[name] = value
    state = optimizer.state_dict()
    old_state, blocks = {0: state["state"][0], 1: state["state"][1]}, []
    for index in state["param_groups"][2]["params"]:
        moments = state["state"][index]
        is_qkv = moments["exp_avg"].size(0) == 3 * 32
        for chunk in range(3 if is_qkv else 1):
            blocks.append(len(old_state))
            old_state[blocks[-1]] = {k: v.chunk(3)[chunk] if is_qkv and k.startswith("exp_avg") else v
                                     for k, v in moments.items()}
    groups = state["param_groups"][:2] + [{**state["param_groups"][2], "params": blocks}]
    fused = fuse_legacy_optimizer_state({"state": old_state, "param_groups": groups}, 2)
    restored = tiny_gpt(layers=2)
    restored.load_state_dict(legacy)
    assert torch.equal(restored(x), model(x))
    assert fused["param_groups"] == state["param_groups"]
    assert all(torch.equal(fused["state"][i][k], v) for i, s in state["state"].items() for k, v in s.items())


def test_hand_written_kernels_have_the_gradients_of_the_functions_they_replace(monkeypatch):
    """The rotary, the norm, relu^2 and the head fused with the capped cross-entropy are written by hand for speed
    on CPU: each must pass gradcheck in float64 and match the plain torch composition it replaces."""
    import torch.nn.functional as F

    from phaselog.model import gpt
    from phaselog.model.gpt import LOGIT_CAP, ReLUSquared, RMSNorm, Rotary, head_cross_entropy, rotary_tables, soft_cap

    torch.manual_seed(0)
    x = torch.randn(2, 5, 3, 8, dtype=torch.float64, requires_grad=True)
    cos, sin = (t.double() for t in rotary_tables(5, 8))
    x1, x2 = x.chunk(2, dim=-1)
    c, s = cos[..., :4], sin[..., 4:]
    composed = {
        RMSNorm.apply: lambda x: F.rms_norm(x, (8,), eps=torch.finfo(torch.float64).eps),
        ReLUSquared.apply: lambda x: F.relu(x).square(),
        lambda x: Rotary.apply(x, cos, sin): lambda x: torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], -1),
    }
    for kernel, plain in composed.items():
        assert torch.autograd.gradcheck(kernel, (x,))
        torch.testing.assert_close(kernel(x), plain(x))
    # 7 tokens and chunks of 3: two full chunks and a short one
    monkeypatch.setattr(gpt, "head_chunk_rows", lambda *_: 3)
    hidden = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    weight = (torch.randn(11, 4, dtype=torch.float64) * 8).requires_grad_()  # logits beyond the cap, where it bends
    targets = torch.randint(0, 11, (7,))
    assert torch.autograd.gradcheck(lambda h, w: head_cross_entropy(h, w, targets, LOGIT_CAP), (hidden, weight))
    logits = hidden @ weight.t()
    plain = F.cross_entropy(LOGIT_CAP * torch.tanh(logits / LOGIT_CAP), targets)
    torch.testing.assert_close(head_cross_entropy(hidden, weight, targets, LOGIT_CAP), plain)
    with torch.no_grad():  # no gradient work without a backward to come, and the same loss
        torch.testing.assert_close(head_cross_entropy(hidden, weight, targets, LOGIT_CAP), plain)
    # the autocast branch a GPU takes (bf16 products, fp32 sums), run here under CPU autocast
    h32, w32 = hidden.detach().float().requires_grad_(), weight.detach().float().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = head_cross_entropy(h32, w32, targets, LOGIT_CAP)
    loss.backward()
    plain.backward()
    assert loss.dtype == torch.float32 and h32.grad.dtype == w32.grad.dtype == torch.float32
    torch.testing.assert_close(loss.double(), plain.detach(), rtol=0.02, atol=0.02)
    for ours, exact in ((h32.grad, hidden.grad), (w32.grad, weight.grad)):
        torch.testing.assert_close(ours.double(), exact, rtol=0.05, atol=0.02)
    torch.testing.assert_close(soft_cap(logits, LOGIT_CAP), LOGIT_CAP * torch.tanh(logits / LOGIT_CAP))
