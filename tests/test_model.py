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
    model(torch.randint(0, 64, (2, 16)), records=records)
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
