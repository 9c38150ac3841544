from phaselog.datasets.tokenizer import BOS, Tokenizer


def read(path):
    return path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n")


def test_round_trip_on_real_text(shared_corpus, tmp_path):
    text = read(shared_corpus / "general" / "pg11-alice.txt")
    tokenizer = Tokenizer.train(text.split("\n\n"), 512)
    assert tokenizer.vocab_size == 512
    assert tokenizer.decode(tokenizer.encode(text)) == text
    tokenizer.save(tmp_path / "tok")
    again = Tokenizer.load(tmp_path / "tok")
    sample = read(shared_corpus / "philosophy" / "pg4363-beyond-good-and-evil.txt")[:20000]
    assert again.encode(sample) == tokenizer.encode(sample)
    assert again.decode(again.encode(sample)) == sample


def test_token_bytes_sum_to_the_utf8_length_and_bos_counts_zero(shared_corpus):
    text = read(shared_corpus / "general" / "pg11-alice.txt")[:30000]
    tokenizer = Tokenizer.train([text], 400)
    table = tokenizer.token_bytes()
    ids = tokenizer.encode(text)
    assert int(table[ids].sum()) == len(text.encode("utf-8"))
    assert tokenizer.encoding.decode([tokenizer.bos_id]) == BOS
    assert int(table[tokenizer.bos_id]) == 0


def test_batch_encoding_matches_single(shared_corpus):
    text = read(shared_corpus / "general" / "pg11-alice.txt")
    tokenizer = Tokenizer.train([text], 300)
    parts = text.split("\n\n")[:50]
    assert tokenizer.encode_batch(parts) == [tokenizer.encode(p) for p in parts]
