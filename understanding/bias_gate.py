"""The gate in front of the learned bias scorer (issue #39): does a sentence name a group of people in a way worth
scoring? Cheap (a set intersection rejects most prose), so the scorer runs only where the gate passes.

    group_mentions(sentence, previous="") -> list[Mention]  # [] = not worth scoring; else each group, category, span
    sentences_to_score(text) -> list[(sentence, mentions)]  # the same over a text's sentences, those that pass
    stance_signals(sentence, mentions) -> StanceSignals      # negation, report, quotation, counter-speech, premise
    modern_sentences(text, passed) -> list[(sentence, mentions)]  # the modern path: what the rules above drop but
                                                                  # names a group in the modern register

A mention is a group word of understanding/group_words.py (the period vocabulary: "negroes", "Hindoos", "the lower
orders"), of lexicons/identity_terms and SeeGULL's demonyms (bias_lexicon.LEXICON), an identity adjective with a
people noun ("Chinese women"), a capitalised demonym ("the Timorese"), "the people(s) of <Place>", a person's group
named through them ("like all his race", "the cunning of her people", "their sex"), or, in a sentence that names
none, a "they" / "their" after a sentence that does (not after humankind's "men", nor when the pronoun's antecedent
is in its own sentence: carried_mention). Categories are the detector's plus class (social rank: peasants,
servants, the mob), never "other" (occupations, humankind).

A group word that names nobody is no mention: one person ("his young wife", "the old man walked in", "Lady
Catherine", "my lords", "four children"), a thing ("the American dollar", "the old house", "the North Pole"), a
language ("in English"), a belief ("their faith"), a time of life ("in old age"), "that people" after a verb ("it
happens that people ..."). A sentence with a mention is worth scoring when it has a mark of the present or of a habit
("is", "never", "all", "such", "nature", "race"), a generic mention (bare, a quantifier, "the" with a people: word order
aside, so "Cunning were the Malays" passes), or a word of judgement (lexicons/attributes, VADER |v| >= 1.2).
What each rule costs on the book corpus's dev sentences, and the share of the shared prose it passes, is in
docs/detectors.md (bias_tooling/gate_figures.py reproduces them)."""
import re
from dataclasses import dataclass

from phaselog.understanding.bias import QUOTED, SENTENCE_END, has_cue, is_echo_question, is_reported
from phaselog.understanding.bias_lexicon import LEXICON, TOKEN, valence
from phaselog.understanding.bias_shapes import NEGATORS
from phaselog.understanding.group_words import CASE_SENSITIVE, GROUP_WORDS

SCORED_CATEGORIES = ("gender", "ethnicity", "nationality", "religion", "age", "disability", "sexual_orientation",
                     "migration", "socioeconomic", "class", "physical_appearance")

# letters (hyphens inside: "half-breed", "working-class") or one other non-space character; offsets kept
WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*|[^\w\s]")


def phrase_words(phrase: str) -> tuple[str, ...]:
    return tuple(m.group() for m in WORD.finditer(phrase.replace(" - ", "-").lower()))


# period slurs and dialogue's dialect spellings that group_words.py (frozen) lacks: characters in these books say
# "Injuns" and "furriners"; plurals only where the singular is also a name or a word ("Mick", "coon")
DIALECT_WORDS = {
    "ethnicity": ["injun", "injuns", "darky", "redskin", "chinee", "greaser", "greasers", "niggahs", "coons", "huns"],
    "nationality": ["dago", "dagoes", "dagos", "wop", "wops", "micks", "furriner", "furriners", "frenchies", "limeys",
                    "krauts"],
    "religion": ["sheeny", "sheenies", "kike", "kikes", "papishes"],
}


def build_vocabulary() -> tuple[dict, dict]:
    """{words: category} of group nouns and {words: category} of identity adjectives (which make a group with a
    people noun). group_words.py first, for its period words and its class category; the detector's lexicons
    add the modern words and SeeGULL's demonyms."""
    nouns = {phrase_words(word): category for category, words in GROUP_WORDS.items() if category != "other"
             for word in words}
    for words, (category, form) in LEXICON["group_nouns"].items():
        nouns.setdefault(phrase_words(" ".join(words)), category)
    for category, words in DIALECT_WORDS.items():
        nouns.update({phrase_words(word): category for word in words})
    del nouns[("man",)]  # in these books "man" is humankind far more often than a sex (no group: the guide)
    del nouns[("old", "age")]  # a time of anyone's life ("in old age perhaps"), not the old
    adjectives = {phrase_words(" ".join(words)): category for words, category in LEXICON["adjectives"].items()}
    return nouns, adjectives


GROUP_NOUNS, IDENTITY_ADJECTIVES = build_vocabulary()
PEOPLE_NOUNS = {phrase_words(" ".join(words)) for words in LEXICON["people"]}
CAPITALISED = {phrase_words(word) for word in CASE_SENSITIVE}
LONGEST = max(len(words) for words in (*GROUP_NOUNS, *IDENTITY_ADJECTIVES, *PEOPLE_NOUNS))
# the first word of every phrase: a sentence sharing none of them names no listed group (most prose)
FIRST_WORDS = {words[0] for words in (*GROUP_NOUNS, *IDENTITY_ADJECTIVES)} | {"people", "peoples", "race"}

# peoples no list names in full ("the Timorese", "Canaanites"), the rule the corpus was chosen by
DEMONYM = re.compile(r"(?<![\w-])[A-Z][a-z]{2,}(?:ese|ians|ites)(?![\w-])|(?<=[a-z,;] )[A-Z][a-z]{2,}ans(?![\w-])")

# a person judged through the group: "his race", "her people", "their sex", "that nation"; not "their faith" or
# "this creed", a belief, not its believers ("cruelty ... in this faith", "to live wholly for their faith")
OWNERS = {"his", "her", "their", "our", "your", "its", "my", "that", "this", "whose"}
KINDRED = {"race": "ethnicity", "people": "ethnicity", "tribe": "ethnicity", "blood": "ethnicity",
           "kindred": "ethnicity", "nation": "nationality", "countrymen": "nationality", "sex": "gender",
           "caste": "class", "class": "class", "rank": "class", "station": "class"}

# every word a group can begin with (group_at's branches): a noun or adjective phrase, an owner, "the people of"
GROUP_STARTS = FIRST_WORDS | OWNERS | {"natives", "inhabitants"}

# after "the old", "the poor", "the blind" ... these say the adjective stands for the people ("the old feel not",
# "the poor, who", "the young can"): anything else is most often a noun it describes ("the old house")
COLLECTIVE_FOLLOWERS = {
    "are", "is", "were", "was", "be", "been", "have", "has", "had", "do", "does", "did", "can", "could", "will",
    "would", "shall", "should", "may", "might", "must", "who", "whom", "whose", "that", "which", "and", "or", "nor",
    "but", "of", "in", "on", "at", "to", "for", "with", "by", "from", "as", "than", "alone", "only", "themselves",
    "too", "also", "always", "never", "often", "seldom", "rarely", "generally", "usually", "commonly", "indeed",
    "feel", "know", "love", "suffer", "live", "die", "think", "need", "want", "get", "go", "work", "look", "seem",
    "among", "amongst", "into", "like", "not", "ever", "still", "all", "both", "alike", "it", "they", "then",
    "being", "seems", "seemed", "appear", "appears", "appeared", "here", "there", "now", "so", "thus",
    "everywhere", "since", "when", "where", "while", "whilst", "though", "although", "if", "because", "cannot"}

# a modifier of "the" that keeps it generic: "the very poor", "the idle rich"
COLLECTIVE_ADVERBS = {"very", "most", "really", "truly", "deserving", "idle", "honest", "labouring", "industrious"}

# after these a "that" before "people" is a determiner ("among that people"); after a verb it is the conjunction
DETERMINER_BEFORE = {"of", "among", "amongst", "to", "by", "with", "from", "for", "in", "on", "upon", "against",
                     "about", "towards", "over", "like", "than", "at", "into", "within", "through", "between"}

LANGUAGE_BEFORE = {"in", "speak", "speaks", "spoke", "spoken", "speaking", "into", "learn", "learned", "learnt",
                   "understand", "understood", "read", "write", "wrote", "taught", "translated", "know", "knew"}
LANGUAGES = {"english", "french", "spanish", "german", "italian", "portuguese", "dutch", "russian", "chinese",
             "japanese", "turkish", "hebrew", "arabic", "greek", "latin", "welsh", "irish", "scotch", "persian"}

# a mark of the present tense or of a habit: the books narrate in the past and generalise in the present
PRESENT = {"is", "are", "am", "'s", "'re", "has", "have", "does", "do", "can", "cannot", "will", "won't", "may",
           "must", "shall", "never", "always", "all", "every", "generally", "usually", "commonly", "invariably",
           "ever", "often", "seldom", "rarely", "nature", "naturally", "character", "characteristic", "peculiar",
           "such", "apt", "prone", "wont", "inclined", "universally", "habitually", "whole", "entire", "most",
           "race", "nation", "tribe", "kind", "sort"}

# before a mention these make it some people, not the group ("the old man", "his wife", "two Indians")
SPECIFIC_BEFORE = {"the", "my", "his", "her", "our", "your", "their", "this", "that", "its", "one", "two",
                   "three", "four", "five", "six", "seven", "eight", "nine", "ten", "some", "several", "which"}

COUNTS = {"two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "twenty",
          "thirty", "forty", "fifty", "hundred", "hundreds", "thousand", "thousands", "dozen", "score", "half-a-dozen"}

# nouns after an identity adjective that still speak of the people: their character, ways and members
WAYS_OF_A_PEOPLE = {
    "character", "nature", "habit", "way", "manner", "spirit", "temper", "temperament", "pride", "genius", "taste",
    "mind", "breast", "heart", "hospitality", "blood", "race", "people", "nation", "disposition", "custom", "virtue",
    "vice", "honour", "honor", "courage", "cunning", "wit", "humour", "humor", "reserve", "indolence", "industry",
    "vanity", "bigotry", "prejudice", "snobbishness", "sense", "feeling", "faith", "expression", "style", "fashion",
    "gentleman", "gentlemen", "lady", "officer", "workman", "workmen", "peasant", "snob", "traveller", "family",
    "public", "society", "life", "breeding", "love", "liberty", "soldier", "sailor", "youth", "mother", "wife",
    "husband", "servant", "slave", "nobility", "gentry", "aristocracy", "clergy", "tradesman", "tradesmen",
    "population", "inhabitant", "native", "subject", "citizen", "tongue", "mob", "crowd", "stock", "extraction",
    "descent", "origin", "type", "kind", "sort", "physiognomy", "features", "face", "beauty", "intellect", "talent"}

QUALITY_ENDINGS = ("ness", "ism", "isms", "ity", "ence", "ance", "ery", "ship", "hood")  # "American patriotism"

PEOPLES = {"nationality", "ethnicity", "religion"}  # "the Moors", "the French", "the Jews": the people as a whole

THEY = re.compile(r"\b(?:they|them|their|theirs|themselves)\b", re.I)  # a group carried on from the sentence before
# before a "they" in its own sentence these stand for its antecedent there ("those who refused him their love", "The
# latter, when they write books"): nothing is carried
ANTECEDENTS = {"those", "latter", "former"}

VALENCED = 1.2  # VADER's scale is -4..+4; the detector's threshold for a trait word

SUPPOSING = {"if", "supposing"}  # before the mention, a premise: "if X are ...", "Supposing a statesman ... his people"
# a sentence opening on another's point of view reports it: "To him they are only sectaries", "In his eyes the Jews
# ..." (not "in my eyes", the writer's own, nor "to him who feels ...", anyone who does)
VIEWPOINTS = {("to", "him"), ("to", "her")} | {("in", owner, word) for owner in ("his", "her", "their")
                                              for word in ("eyes", "view", "opinion")}


@dataclass(frozen=True)
class Mention:
    category: str
    start: int  # character offsets in the sentence: sentence[start:end] is the group as written
    end: int
    text: str


@dataclass(frozen=True)
class StanceSignals:
    negated: bool  # a negator in the sentence ("not", "never", "no")
    denied: bool  # a quantifier that denies the generalisation ("not all", "not every")
    reported: bool  # a reporting frame before the first mention ("it is said that", "he fancied that")
    quoted: bool  # a mention inside quotation marks
    counter_speech: bool  # "it is a myth that", "no evidence", "it is racist to say"
    supposed: bool  # put as a premise or echoed as a question: "if X are ...", "so X are ...?"


# the one-word collectives of the lexicons ("poor", "blind") are groups only after "the": "a poor man" is one man
# ("the French" is a people either way: left to the sentence's rule)
COLLECTIVE_WORDS = {words[0] for words, (category, form) in LEXICON["group_nouns"].items()
                    if form == "collective" and len(words) == 1 and category not in PEOPLES}

# nouns for a whole kind of people though singular in form ("the gentry are", "the mob")
COLLECTIVE_NOUNS = {"nobility", "gentry", "peasantry", "aristocracy", "priesthood", "clergy", "populace", "rabble",
                    "mob", "multitude", "proletariat", "bourgeoisie", "squirearchy", "womankind", "womanhood",
                    "manhood", "pauperism", "heathen", "elderly", "people", "folk", "race", "nation", "tribe", "sex",
                    "masses", "faithful"}
# one person's noun ("the wife", "his servant", "the poor woman"): not the group after a determiner that picks one
# out; bare it is the kind ("woman is", "in woman's nature"), and so it is in a generic singular ("a woman is", "every
# servant", "like a girl"). Not peoples: "the Indian", "a Jew", "his English habit" are read as a people
SINGULAR_NOUNS = {words[0] for words, (category, form) in LEXICON["group_nouns"].items()
                  if form == "singular" and len(words) == 1 and category not in PEOPLES} | {
    word for category, words in GROUP_WORDS.items() for word in words
    if category not in PEOPLES and " " not in word and not word.endswith(("s", "men", "ish", "ic", "al", "ed"))
    and word not in COLLECTIVE_NOUNS} - {"children", "humanity", "mankind", "townspeople"}
ONE_PERSON_BEFORE = {"the", "his", "her", "my", "your", "our", "their", "its", "this", "that", "some", "one",
                     "whose", "which", "poor", "old", "young", "little", "dear", "good", "sweet", "gentle", "noble"}
# a verb of having, marrying or birth right before "a" (or "such a") and one person's noun: "That I have such a wife,
# so obedient", "thou art born a mere slave" name one (not "having a ...": "having a cleaning lady is ..." speaks of
# anyone's; nor "is a", "was a": "that dumbass was a woman" insults women through one, HateCheck's hate)
HAVING_OR_BORN = {"have", "has", "had", "marry", "marries", "married", "born"}


def tokens_of(sentence: str) -> list[re.Match]:
    return list(WORD.finditer(sentence.replace("’", "'")))


def group_at(words: list[str], matches: list[re.Match], i: int) -> tuple[int, str]:
    """(length, category) of the group named at words[i]; (0, "") if none."""
    if words[i] not in GROUP_STARTS:
        return 0, ""  # most words begin no group: one lookup instead of a tuple per phrase length
    for length in range(min(LONGEST, len(words) - i), 0, -1):
        phrase = tuple(words[i:i + length])
        category = GROUP_NOUNS.get(phrase)
        if category and (phrase not in CAPITALISED or matches[i].group()[0].isupper()):
            return length, category
    j, category = i, ""
    while j < len(words):  # stacked identity adjectives before a people noun: "young black men"
        length = next((n for n in range(min(LONGEST, len(words) - j), 0, -1)
                       if tuple(words[j:j + n]) in IDENTITY_ADJECTIVES), 0)
        if not length:
            break
        category, j = IDENTITY_ADJECTIVES[tuple(words[j:j + length])], j + length
    if category and j < len(words) and (words[j],) in PEOPLE_NOUNS:
        return j + 1 - i, category
    if words[i] in OWNERS and i + 1 < len(words) and words[i + 1] in KINDRED:
        return 2, KINDRED[words[i + 1]]
    if words[i] in ("people", "peoples", "race", "natives", "inhabitants") and words[i + 1:i + 2] == ["of"] \
            and i + 2 < len(matches) and matches[i + 2].group()[0].isupper():
        return 3, "ethnicity"  # "the people of Goa": a people named by its place
    return 0, ""


def describes_a_thing(following: re.Match) -> bool:
    """Whether the word after an identity adjective is a noun that is no person and no trait of one: "oak",
    "dollar", "Government"; not "habits", "people", "are" (then the adjective is the people: "the English are")."""
    word = following.group().lower()
    if not word.isalpha() or word in COLLECTIVE_FOLLOWERS or word in NEGATORS or word.endswith(("ly", "ed")) \
            or (word,) in PEOPLE_NOUNS or valence(word) or (word,) in LEXICON["attributes"] \
            or word.endswith(QUALITY_ENDINGS):
        return False  # a verb, an adverb, a person, a judgement or a quality ("English rogues", "Jewish impudence")
    return word not in WAYS_OF_A_PEOPLE and (word,) not in GROUP_NOUNS and word.rstrip("s") not in WAYS_OF_A_PEOPLE


def had_or_born(words: list[str], i: int) -> bool:
    """Whether one person's noun words[i] follows "a" ("a mere", "such a") right after a verb of HAVING_OR_BORN."""
    article = next((j for j in (i - 1, i - 2) if j > 0 and words[j] == "a"), 0)
    if not article:
        return False
    verb = article - 2 if words[article - 1] == "such" else article - 1
    return verb >= 0 and words[verb] in HAVING_OR_BORN


def names_nobody(words: list[str], matches: list[re.Match], i: int, length: int) -> bool:
    """A group word that names no people here: "the old house", "in English", "the French language"."""
    phrase, following = words[i:i + length], words[i + length] if i + length < len(words) else ""
    previous = words[i - 1] if i else ""
    adjective = phrase[-1] not in COLLECTIVE_NOUNS  # "the old", "the poor"; not "the clergy", "the mob"
    if adjective and (len(phrase) == 2 and phrase[0] == "the" or previous == "the" and len(phrase) == 1
                      and phrase[0] in COLLECTIVE_WORDS):
        return bool(following.isalpha()) and following not in COLLECTIVE_FOLLOWERS
    if len(phrase) == 1 and phrase[0] in SINGULAR_NOUNS:  # "the woman", "his young wife", "the poor old man"
        capitalised = matches[i].group()[0].isupper()
        titled = i + 1 < len(matches) and matches[i + 1].group()[0].isupper()  # "Lady Catherine", "Father Brown"
        # "the woman lives more in the present than the man": "the" with the present tense is the kind
        kind = previous == "the" and not PRESENT.isdisjoint(words)
        return not kind and (had_or_born(words, i) or previous in ONE_PERSON_BEFORE
                             or i > 1 and words[i - 2] in ONE_PERSON_BEFORE and previous.isalpha()) \
            or capitalised and (titled or i > 0 and previous not in ".!?\"“")  # "..., Father, ..."
    if previous in ("my", "his", "her") and GROUP_NOUNS.get(tuple(phrase)) not in PEOPLES:
        return True  # "my lords", "his servants"; "their women", "your maidens" may be a people's
    if phrase == ["that", "people"] and previous.isalpha() and previous not in DETERMINER_BEFORE:
        return True  # "It constantly happens that people entertain a true belief": the conjunction, not a nation
    if phrase == ["pole"] and previous in ("north", "south"):
        return True  # "North Pole expeditions"
    if previous in COUNTS or previous.isdigit():
        return True  # "four children", "two Indians", "300 emigrants": people counted are some people
    if len(phrase) == 1 and tuple(phrase) in IDENTITY_ADJECTIVES and i + length < len(words) \
            and describes_a_thing(matches[i + length]):
        return True  # "the American dollar", "an English grammar"; not "English habits", "the English are"
    if len(phrase) == 1 and phrase[0] in LANGUAGES:
        # "in English", "spoke French"; not "in English habits", where it describes the people's ways
        language = previous in LANGUAGE_BEFORE and not (following.isalpha() and following not in ("and", "or"))
        return language or following in ("language", "tongue", "words", "word")
    return False


def mentions_in(sentence: str) -> list[Mention]:
    """Every mention of a group of a scored category in the sentence, worth scoring or not."""
    matches = tokens_of(sentence)
    words = [m.group().lower() for m in matches]
    found = []
    if not FIRST_WORDS.isdisjoint(words):
        i = 0
        while i < len(words):
            if words[i] not in GROUP_STARTS:
                i += 1  # most words begin no group (as group_at first checks): a set lookup, not a call
                continue
            length, category = group_at(words, matches, i)
            if length and words[i] in COLLECTIVE_WORDS and length == 1 and (i == 0 or words[i - 1] not in
                                                                              ("the", *COLLECTIVE_ADVERBS)):
                length = 0  # "a poor man", "blind rage"
            if length and not names_nobody(words, matches, i, length):
                start, end = matches[i].start(), matches[i + length - 1].end()
                found.append(Mention(category, start, end, sentence[start:end]))
                i += length
            else:
                i += 1
    for demonym in DEMONYM.finditer(sentence):
        if not any(m.start <= demonym.start() < m.end for m in found):
            found.append(Mention("ethnicity", demonym.start(), demonym.end(), demonym.group()))
    return sorted(found, key=lambda m: m.start)


def worth_scoring(sentence: str, mentions: list[Mention]) -> bool:
    """Whether a sentence with these mentions says something of a group (docs at the top of this file)."""
    matches = tokens_of(sentence)
    words = [m.group().lower() for m in matches]
    if not PRESENT.isdisjoint(words):
        return True
    categories = {m.start: m.category for m in mentions}
    for i, match in enumerate(matches):
        category = categories.get(match.start())
        previous = words[i - 1] if i else ""
        if category and (previous not in SPECIFIC_BEFORE or previous == "the" and category in PEOPLES):
            return True
    return any(abs(valence(word)) >= VALENCED or (word,) in LEXICON["attributes"] for word in words)


def humankind(mention: Mention, mentions: list[Mention]) -> bool:
    """"men" in these books is people at large ("gentle towards all men", "the comprehension of men") unless the
    sentence sets them beside women: then it is a sex. The gate keeps "men" (its vocabulary is frozen with the
    book corpus) but carries no "they" from it; the detector reads it so, after the shared corpus's false alarms
    (docs/detectors.md)."""
    return mention.text.lower() == "men" and not any(m.category == "gender" and m.text.lower() != "men"
                                                     for m in mentions)


def carried_mention(sentence: str, previous: str) -> list[Mention]:
    """A "they" / "their" carrying the group of the sentence before ("The Timorese are thieves. They cheat and
    plunder ...": the claim is in the second sentence), as the guide labels it; [] when the pronoun's antecedent is
    in its own sentence (always for "themselves": "humanitarians cross themselves") or the group before is
    humankind ("consider what manner of men they be. For then ... complain of them that offend")."""
    pronoun = THEY.search(sentence)
    if not pronoun or pronoun.group().lower() == "themselves" \
            or not ANTECEDENTS.isdisjoint(phrase_words(sentence[:pronoun.start()])):
        return []
    earlier = mentions_in(previous)
    if not earlier or humankind(earlier[-1], earlier):
        return []
    return [Mention(earlier[-1].category, pronoun.start(), pronoun.end(), pronoun.group())]


def group_mentions(sentence: str, previous: str = "") -> list[Mention]:
    """The groups the sentence names, if it is worth scoring; [] if not (then the scorer need not run). previous
    is the sentence before it, if any: a "they" / "their" may carry its group on (carried_mention)."""
    mentions = mentions_in(sentence) or (carried_mention(sentence, previous) if previous else [])
    return mentions if mentions and worth_scoring(sentence, mentions) else []


def text_sentences(text: str) -> list[str]:
    """A text's sentences, split as scan_bias splits them, each with its whitespace made single spaces."""
    ends = [m.end() for m in SENTENCE_END.finditer(text)] + [len(text)]
    return [sentence for sentence in (" ".join(text[start:end].split()) for start, end in zip([0] + ends, ends))
            if sentence]


def sentences_to_score(text: str) -> list[tuple[str, list[Mention]]]:
    """The sentences of a text (text_sentences) that the gate passes, each with its mentions (offsets in the
    sentence): what the scorer reads. Each sentence is read with the one before it."""
    passed, previous = [], ""
    for sentence in text_sentences(text):
        mentions = group_mentions(sentence, previous)
        if mentions:
            passed.append((sentence, mentions))
        previous = sentence
    return passed


def stance_signals(sentence: str, mentions: list[Mention]) -> StanceSignals:
    """What the grammar says of the stance around the mentions: features for the scorer and the severity. Read
    with the detector's own cues (lexicons/discount_cues) and tokens, so they agree with scan_bias."""
    plain = sentence.replace("’", "'")
    matches = list(TOKEN.finditer(plain))
    tokens = [m.group().lower() for m in matches]
    first = min((m.start for m in mentions), default=len(sentence))
    at = next((k for k, m in enumerate(matches) if m.start() >= first), len(tokens))
    quoted_spans = [m.span() for m in QUOTED.finditer(sentence)]
    return StanceSignals(
        negated=not NEGATORS.isdisjoint(tokens),
        denied=any(tuple(tokens[k:k + 2]) in LEXICON["denial"] for k in range(len(tokens))),
        reported=is_reported(tokens, 0, at) or tuple(tokens[:3]) in VIEWPOINTS
        or tuple(tokens[:2]) in VIEWPOINTS and tokens[2:3] != ["who"],
        quoted=any(a <= m.start < b for m in mentions for a, b in quoted_spans),
        counter_speech=has_cue(tokens, LEXICON["counter"]),
        supposed=not SUPPOSING.isdisjoint(tokens[:at]) or is_echo_question(sentence, tokens))


# The modern path (issue #39, branch bias-modern2): crowd-written text names groups in ways the book rules above,
# tuned on period prose, do not pass: a people's name in lower case ("the jewish race", "you are chinese", "if you
# are muslim"), an identity adjective before a thing ("a gay bar", "the queer lifestyle"), a slur of today. The
# modern head (bias_modern.py) reads these sentences, the book scorer does not (its figures must not move). In
# period prose a people's name is capitalised, so those words count here only in lower case; words common in prose
# in another sense ("old", "poor", "black", "straight", "blind") are left to the book rules.
MODERN_CATEGORIES = {"ethnicity", "nationality", "religion", "sexual_orientation", "disability", "migration"}
MODERN_LOWER_CASE = {"ethnicity", "nationality", "religion"}  # a people's name: capitalised in prose
MODERN_LEFT_OUT = {"black", "white", "brown", "native", "straight", "foreign", "blind", "deaf", "orthodox",
                   "religious", "believer", "believers", "old", "aged", "roma", "christian", "christians", "poles",
                   "newcomer", "newcomers", "traveller", "travellers", "travelers"}
# words of today for the groups: slurs and the gender words of modern debate; the lexicons lack them
MODERN_WORDS = {
    "religion": ["muzzy", "muzzies", "muzrat", "muzrats", "moslems"],
    "ethnicity": ["spics", "chinks", "gooks", "wetbacks", "beaners", "towelheads", "ragheads"],
    "sexual_orientation": ["fags", "faggots", "dykes", "homos", "lgbt", "lgbtq", "bi"],
    "gender": ["trans", "transgender", "transgenders", "transsexuals", "trannies", "nonbinary", "feminists"],
    "disability": ["retards", "wheelchair", "mental illness", "mental illnesses", "mental disability",
                   "mental disabilities", "physical disability", "physical disabilities"],
}


def build_modern_vocabulary() -> dict[tuple[str, ...], str]:
    """{words: category} of the modern path: the lexicons' group nouns and identity adjectives of MODERN_CATEGORIES
    (a people's name in lower case only: modern_mentions), less the words of prose, plus MODERN_WORDS."""
    vocabulary = {phrase_words(" ".join(words)): category
                  for words, (category, _) in LEXICON["group_nouns"].items() if category in MODERN_CATEGORIES}
    vocabulary.update({phrase_words(" ".join(words)): category
                       for words, category in LEXICON["adjectives"].items() if category in MODERN_CATEGORIES})
    vocabulary.update({phrase_words(word): category for category, words in MODERN_WORDS.items() for word in words})
    # "the disabled", "people with autism": their own word is enough here, and "the" or "people" would send
    # every other sentence to the word-by-word look
    return {words: category for words, category in vocabulary.items()
            if " ".join(words) not in MODERN_LEFT_OUT and words[0] not in ("the", "people")}


MODERN_VOCABULARY = build_modern_vocabulary()
MODERN_FIRST_WORDS = {words[0] for words in MODERN_VOCABULARY}
MODERN_LONGEST = max(len(words) for words in MODERN_VOCABULARY)
# a cheaper look than tokens_of at every sentence the book gate dropped (most prose): its lower-case letter runs
# against the vocabulary's first words, cut at a hyphen as the runs are ("african-american")
LETTERS = re.compile(r"[a-z]+")
MODERN_FIRST_LETTERS = {words[0].split("-")[0] for words in MODERN_VOCABULARY}


def modern_mentions(sentence: str) -> list[Mention]:
    """The groups a sentence names in the modern register (the words above, wherever they stand: no shape rule);
    [] for most prose, which shares no word with the vocabulary."""
    matches = tokens_of(sentence)
    words = [m.group().lower() for m in matches]
    found, i = [], 0
    while i < len(words):
        length = 0
        if words[i] in MODERN_FIRST_WORDS:
            length = next((n for n in range(min(MODERN_LONGEST, len(words) - i), 0, -1)
                           if tuple(words[i:i + n]) in MODERN_VOCABULARY), 0)
        if not length:
            i += 1
            continue
        category = MODERN_VOCABULARY[tuple(words[i:i + length])]
        start, end = matches[i].start(), matches[i + length - 1].end()
        if category not in MODERN_LOWER_CASE or sentence[start:end].islower():
            found.append(Mention(category, start, end, sentence[start:end]))
        i += length
    return found


def modern_sentences(text: str, passed: set[str]) -> list[tuple[str, list[Mention]]]:
    """The sentences of a text (text_sentences) that the book gate did not pass (`passed` holds those it did) and
    that name a group in the modern register, each with its modern mentions: what the modern head alone reads."""
    found = []
    for sentence in text_sentences(text):
        if sentence not in passed and not MODERN_FIRST_LETTERS.isdisjoint(LETTERS.findall(sentence.lower())):
            mentions = modern_mentions(sentence)
            if mentions:
                found.append((sentence, mentions))
    return found
