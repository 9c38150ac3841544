"""The bias detector's vocabulary (docs/detectors.md): the versioned lexicons in understanding/lexicons (group
terms, attributes, discount cues, SeeGULL's nationality stereotypes) and VADER's valence list, read once at
import, and the lookups over them: which phrase starts at a token, what kind of attribute it is, how valenced a
word is."""
import importlib.resources
import json
import re
from pathlib import Path

LEXICON_VERSION = "v2"

LEXICONS = Path(__file__).parent / "lexicons"

SEVERITIES = ["low", "medium", "high"]

SEVERITY_OF_KIND = {"derogatory": "high", "negative": "medium", "positive": "low"}

KIND_OF_LIST = {"derogatory": "derogatory", "restriction": "negative", "traits": "negative", "habits": "negative",
                "positive": "positive"}

VALENCE_THRESHOLD = 1.2  # VADER's scale is -4..+4; "lazy" is -1.5, "smart" +1.7, "emotional" +0.6

STRONG_VALENCE = 2.0  # a verb that says this much on its own ("hate" -2.7, "kill" -3.7), with no habitual word

SEEGULL_HIGH, SEEGULL_MEDIUM = 3.0, 1.0  # mean offensiveness -1..4: "criminal" 4, "dirty" 3.3, "lazy" 2.3

TOKEN = re.compile(r"[^\W_]+n't|[^\W_]+|'[^\W\d_]+|[^\w\s]")


def words(phrase: str) -> tuple[str, ...]:
    return tuple(m.group().lower() for m in TOKEN.finditer(phrase.replace("’", "'")))


def load_lexicon(name: str) -> dict:
    path = LEXICONS / f"{name}.{LEXICON_VERSION}.json"
    lexicon = json.loads(path.read_text(encoding="utf-8"))
    if lexicon["version"] != LEXICON_VERSION:
        raise ValueError(f"{path}: version {lexicon['version']!r}, expected {LEXICON_VERSION!r}")
    return lexicon


def load_valence() -> dict[str, float]:
    """VADER's word list (word, mean rating, ...), read as data: the analyser itself is not used."""
    text = importlib.resources.files("vaderSentiment").joinpath("vader_lexicon.txt").read_text(encoding="utf-8")
    return {line.split("\t")[0]: float(line.split("\t")[1]) for line in text.splitlines() if line.count("\t") >= 2}


def add_groups(group_nouns: dict, adjectives: dict, category: str, entry: dict) -> None:
    for form in ("plural", "collective", "singular", "institution"):
        for term in entry.get(form, ()):
            group_nouns.setdefault(words(term), (category, form))
    for term in entry["adjectives"]:
        adjectives.setdefault(words(term), category)


def build_lexicons():
    identity, attribute, cues, seegull = (load_lexicon(n) for n in ("identity_terms", "attributes",
                                                                    "discount_cues", "seegull_nationality"))
    group_nouns, adjectives = {}, {}  # words -> (category, form); words -> category
    for category, entry in identity["categories"].items():
        add_groups(group_nouns, adjectives, category, entry)
    add_groups(group_nouns, adjectives, "nationality", seegull["nationality"])
    people = {words(t): form for form in ("plural", "singular") for t in identity["people_nouns"][form]}
    places = {words(t): category for category, terms in identity["places"].items() for t in terms}
    place_links = {words(t) for t in identity["place_links"]}
    attributes = {words(t): KIND_OF_LIST[name] for name in ("derogatory", "restriction", "traits", "habits",
                                                            "positive") for t in attribute[name]}
    in_predicate = {words(t) for name in ("restriction", "habits") for t in attribute[name]}
    # SeeGULL also lists things ("pasta", "beach"): below medium offensiveness only valenced words are traits
    valenced = load_valence()
    seegull_kinds = {words(t): ("derogatory" if score >= SEEGULL_HIGH else "negative" if score >= SEEGULL_MEDIUM
                                else "positive") for t, score in seegull["attributes"].items()
                     if t not in attribute["not_traits"] and (score >= SEEGULL_MEDIUM or abs(valenced.get(t, 0)) >= 1)}
    lexicon = {
        "group_nouns": group_nouns, "adjectives": adjectives, "people": people, "places": places,
        "place_links": place_links, "attributes": attributes, "in_predicate": in_predicate,
        "seegull": seegull_kinds, "suspicion": {words(t) for t in attribute["suspicion"]},
        "unless_next": {words(t): set(after) for t, after in attribute["unless_next"].items()},
        "contempt": {t for t in attribute["contempt_adjectives"]}, "not_traits": set(attribute["not_traits"]),
        "counter": {words(t) for t in cues["counter_speech"]},
        "denial": {words(t) for t in cues["denial_quantifiers"]},
        "reporting": set(cues["reporting_verbs"]), "own_opinion": set(cues["first_person_opinion"]),
    }
    lexicon["longest"] = max(len(p) for name in ("group_nouns", "adjectives", "people", "places", "attributes",
                                                 "seegull", "suspicion", "counter", "place_links")
                             for p in lexicon[name])
    return lexicon, {word: value for word, value in valenced.items() if word not in lexicon["not_traits"]}


LEXICON, VALENCE = build_lexicons()


def longest_match(tokens: list[str], i: int, phrases) -> int:
    """Length of the longest phrase starting at tokens[i], 0 if none."""
    for length in range(min(LEXICON["longest"], len(tokens) - i), 0, -1):
        if tuple(tokens[i:i + length]) in phrases:
            return length
    return 0


def base_forms(word: str):
    """The word and the forms it may be inflected or derived from ("curses" -> "curse", "dodged" -> "dodge",
    "laziness" -> "lazy", "stupidity" -> "stupid")."""
    yield word
    for suffix, replacement in (("s", ""), ("es", ""), ("ed", ""), ("d", ""), ("ing", ""), ("ing", "e"),
                                ("ies", "y"), ("ied", "y"), ("iness", "y"), ("ness", ""), ("ity", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            yield word[:-len(suffix)] + replacement


def valence(word: str) -> float:
    if word in LEXICON["not_traits"]:
        return 0.0
    for form in base_forms(word):
        if form in LEXICON["not_traits"]:
            return 0.0
        if form in VALENCE:
            return VALENCE[form]
    return 0.0


def lexicon_attribute(tokens: list[str], i: int, category: str, lists=None) -> tuple[int, str]:
    """(length, kind) of a listed attribute phrase at tokens[i] (inflected single words too); (0, "") if none.
    lists limits the phrase book (the verb phrase reads only restrictions and habits beyond its head)."""
    phrases = LEXICON["attributes"] if lists is None else lists
    length = longest_match(tokens, i, phrases)
    kind = LEXICON["attributes"][tuple(tokens[i:i + length])] if length else ""
    if category == "nationality":  # SeeGULL's stereotypes, with their offensiveness as the severity
        seegull = longest_match(tokens, i, LEXICON["seegull"])
        seegull_kind = LEXICON["seegull"].get(tuple(tokens[i:i + seegull]), "")
        if not seegull:
            seegull_kind = next((LEXICON["seegull"][(f,)] for f in base_forms(tokens[i]) if (f,) in LEXICON["seegull"]),
                                "")
            seegull = 1 if seegull_kind else 0
        more_severe = seegull and seegull == length and SEVERITIES.index(SEVERITY_OF_KIND[seegull_kind]) > \
            SEVERITIES.index(SEVERITY_OF_KIND[kind])
        if seegull > length or more_severe:
            length, kind = seegull, seegull_kind
    if not length and lists is None:
        for form in base_forms(tokens[i]):
            if (form,) in phrases:
                length, kind = 1, phrases[(form,)]
                break
    following = tokens[i + length] if i + length < len(tokens) else ""
    if length and following in LEXICON["unless_next"].get(tuple(tokens[i:i + length]), ()):
        return 0, ""
    return length, kind


def valence_kind(word: str) -> str:
    value = valence(word)
    return "negative" if value <= -VALENCE_THRESHOLD else "positive" if value >= VALENCE_THRESHOLD else ""
