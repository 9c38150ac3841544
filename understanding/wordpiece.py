"""BERT's uncased WordPiece tokenizer, read from a vocab.txt (one token a line, its id the line number).

The bias scorer's encoder (minilm.py) was trained on ids from this scheme, so it must be reproduced exactly:
clean and lowercase the text, strip accents, cut at whitespace and around every punctuation mark and CJK
character, then split each word greedily into the longest pieces the vocabulary holds ("##" marks a piece that
continues a word); a word that cannot be split at all becomes [UNK]. Written here so that scanning needs neither
`transformers` nor `tokenizers`.
"""
import unicodedata
from pathlib import Path

MAX_WORD_CHARS = 100  # longer "words" (URLs, garbage) become [UNK] rather than a long greedy search


def is_punctuation(char: str) -> bool:
    # BERT counts all non-alphanumeric ASCII ("$", "^", "`") as punctuation, not only Unicode's P* categories
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def is_cjk(code: int) -> bool:
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F or 0x2B820 <= code <= 0x2CEAF
            or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


def basic_words(text: str) -> list[str]:
    """Lowercased, accent-free words and punctuation marks, each its own item."""
    chars = []
    for char in text:
        code = ord(char)
        category = unicodedata.category(char)
        if code == 0 or code == 0xFFFD or (category.startswith("C") and char not in "\t\n\r"):
            continue  # control characters are dropped; tab and newlines are whitespace
        if char in " \t\n\r" or category == "Zs":
            chars.append(" ")
        elif is_cjk(code):
            chars.append(f" {char} ")
        else:
            chars.append(char)
    words = []
    for word in "".join(chars).lower().split():
        word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
        current = ""
        for char in word:
            if is_punctuation(char):
                if current:
                    words.append(current)
                words.append(char)
                current = ""
            else:
                current += char
        if current:
            words.append(current)
    return words


class WordPiece:
    def __init__(self, vocab_path: Path):
        tokens = Path(vocab_path).read_text(encoding="utf-8").split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        self.ids = {token: i for i, token in enumerate(tokens)}
        self.unk, self.cls, self.sep, self.pad = (self.ids[t] for t in ("[UNK]", "[CLS]", "[SEP]", "[PAD]"))

    def word_ids(self, word: str) -> list[int]:
        if len(word) > MAX_WORD_CHARS:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    break
                end -= 1
            if end == start:
                return [self.unk]  # one unsplittable stretch makes the whole word unknown, as BERT does
            pieces.append(self.ids[piece])
            start = end
        return pieces

    def encode(self, text: str, max_tokens: int = 256) -> list[int]:
        """[CLS] pieces [SEP], cut to max_tokens in all (the encoder's trained length is 256)."""
        ids = [piece for word in basic_words(text) for piece in self.word_ids(word)]
        return [self.cls, *ids[:max_tokens - 2], self.sep]
