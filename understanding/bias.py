"""Stereotypes in natural English: a group, spoken of generically, linked to an attribute. Never a bare word list.

A finding needs a group term (lexicons/identity_terms, plus SeeGULL's demonyms) spoken of generically and an
attribute linked to it. Generic means one of these shapes:
- a bare plural or a quantifier ("women are", "all / most / many X"), "the" with a collective ("the poor"), a
  generic singular ("a woman is", "every X"), an identity adjective (or several) with a people noun ("X people",
  "young black men"), "people from / who live in" a place that names a group ("people from the trailer park");
- a frame that makes even one person stand for the group, with the attribute anywhere in the clause: "a typical
  X", "like all X", "as X do", "because she is X", "smart for a woman";
- "X, (and) they ..." after any mention, even "he was a Roma": the "they" is the generalisation;
- "with X you can never tell" / "you never know with X": suspicion of the group itself.
A generic claim needs no valenced word in these shapes (medium): an exceptionless habit after a plural kind
("always / never / can't" + a present verb), a trait put into the group's nature ("in their blood", "in X
culture", "by nature", "genetic"), and one person measured against a group ("throws like a girl", "he must be
gay", "typical boomer behaviour"). Other shapes of #25 read without a listed trait: the writer's own
hostility to a plural kind ("I can't stand X", not "bigots who hate X"), "the worst drivers are X", a gender
denied to a described mention ("trans women are men"), "less <trait>" and "(three times) more likely / known
to <verb>", "too <adj>", "treated as", "don't have <feelings>" (as "have no"), "is a result of / a sign of <bad
thing>", a share of the group ("a lot of X", "the majority of X"), a bare plural narrowed by a place ("X from
Syria are", not "X in my office"), and a religion or orientation named as an institution ("Islam is").
After a bare-plural kind of mention the attribute must follow with only linking words between ("are", "always",
"can't", "tend to be", a comma), so "immigrants who are criminals", "women won the right" and "the women in my
office" are not findings.

What the attribute says decides the severity, by meaning rather than one hand list:
- high (derogatory): dehumanising, criminalising, contempt, conspiracy (lexicons/attributes "derogatory"), or a
  SeeGULL nationality attribute with offensiveness >= 3 (of 4);
- medium (negative): traits and habits ("quiet", "dodge", "prone to", "nothing but", "too much"), role
  restrictions ("belong in the kitchen", "not cut out for"), a SeeGULL attribute with offensiveness >= 1, or a
  word the VADER lexicon rates <= -1.2 where a trait goes: after the copula ("are petty"), or anywhere in the
  predicate when a habitual word says it is what they always do ("always putting curses");
- low (positive): flattering generalisations, VADER >= +1.2 in the same places.
VADER scores words that describe circumstances too ("poor health", "war"); lexicons/attributes "not_traits"
keeps those out, and a past participle after the copula is passive ("were denied"), never a trait.

Negation denies the claim only where it denies it: "not all X", or a negated negative attribute ("women are not
bad drivers") -> low, `discounted: negation`. A negated flattering attribute is the negative claim itself
("aren't clever enough", "can't be trusted", "no woman is smart enough") and is medium, not discounted.
Counter-speech anywhere in the sentence ("it is a myth that", "the stereotype that ... is false") -> low.
Quotation or reported speech ("...", "he said that", "according to") -> low, `discounted: quotation`: it is
someone else's claim, and counter-speech quotes the claim it condemns ("posts like '...' are hurtful"). "I
(firmly) think X" is the writer's own claim and is not discounted. A claim put as a premise ("if X are lazy,
why ...") is one level lower, `discounted: supposition`, and so is a claim echoed as a question ("gays are too
emotional?", "so all X are Y?": a statement's word order, no question word, no "right?"), which doubts it; a
question in its own words ("why are X so Y?", "are they not ...?") is read as the claim it puts.
"""
import re
from dataclasses import asdict, dataclass

from phaselog.understanding.bias_lexicon import LEXICON, SEVERITIES, SEVERITY_OF_KIND, TOKEN, longest_match
from phaselog.understanding.bias_shapes import (CLAUSE_BREAKS, FIRST_PERSON, GROUP_STARTS, NATURE_FRAMES, NEGATORS,
                                                NOT_CONTEMPT_BEFORE, PREDICATE_ENDS, QUANTITY_BEFORE_OF, attributes_in,
                                                denied_identity, exclaimed_trait, group_at, harm_after,
                                                hostility_before, is_generic, is_membership, linked_attributes,
                                                measured_against, nature_claim, past_place_phrase, pointed_at,
                                                resumed_at, resumed_later, suffering_wished, superlative_subject,
                                                suspicion_after, urged_against, wide_frame)

SENTENCE_END = re.compile(r"[.!?]+[\"”’)]*(?=\s|$)|\n")

# people typing fast drop the apostrophe ("dont", "shouldnt"); read them as the contraction. "cant" is a word
# too, but far rarer in such text than "they cant"; "wont" (a habit) is left alone
NO_APOSTROPHE = {word[:-3] + "nt": word for word in ("don't", "doesn't", "can't", "shouldn't", "wouldn't",
                                                     "couldn't", "aren't", "isn't", "wasn't", "weren't", "ain't")}

QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”]*”")


@dataclass
class BiasFinding:
    severity: str  # "low" | "medium" | "high"
    category: str  # gender, ethnicity, nationality, religion, age, disability, sexual_orientation, migration,
    # socioeconomic, physical_appearance
    terms: list[str]  # the group term as written, then the attribute(s)
    context: str  # the sentence it was found in
    discounted: str  # "" | "negation" | "quotation" | "supposition" | "counter-speech"
    score: float | None = None  # the learned scorer's probability of an endorsed generalisation (bias_detector.py)
    why: str = ""  # how the detector read the sentence, in words

    def as_dict(self) -> dict:
        return asdict(self)


def has_cue(tokens: list[str], phrases) -> bool:
    for i in range(len(tokens)):
        length = longest_match(tokens, i, phrases)
        # "this is not a myth" and "stereotypes exist for a reason" defend the stereotype
        if length and not {"not", "no", "isn't"} & set(tokens[max(0, i - 2):i]) \
                and not {"true", "accurate", "reason"} & set(tokens[i + length:i + length + 5]):
            return True
    return False


# a question that asks in its own words is a question ("why are they ...?", "are they not ...?": period prose and
# hate put claims so); one in a statement's word order echoes a claim to doubt it ("gays are too emotional?"), unless
# a tag asks the reader to agree ("..., right?", "am I right?")
QUESTION_WORDS = {"what", "why", "how", "who", "whom", "whose", "when", "where", "which"}
AUXILIARIES = {"is", "are", "am", "was", "were", "do", "does", "did", "can", "could", "will", "would", "shall",
               "should", "may", "might", "must", "have", "has", "had", "isn't", "aren't", "wasn't", "weren't",
               "don't", "doesn't", "didn't", "can't", "couldn't", "won't", "wouldn't", "shouldn't", "haven't",
               "isnt", "arent", "dont", "doesnt", "didnt"}  # the gate's tokens keep a dropped apostrophe dropped
AGREEMENT_TAGS = {"right", "amirite", "innit", "eh", "huh", "hey", "yeah", "no", "yes"}
# an auxiliary opening a clause ("but are the Papists less so?") or before its subject ("is it", "does that", "may
# not the savage be ...") asks
CLAUSE_OPENERS = {"so", "and", "but", "or"}
SUBJECTS_AFTER_AUXILIARY = {"i", "you", "he", "she", "it", "we", "they", "there", "the", "these", "those", "this",
                            "that"}


def put_first(words: list[str], k: int) -> bool:
    """Whether the auxiliary words[k] opens the sentence or a clause, or stands before its subject (a "not" between
    them: "may not the savage be ...")."""
    following = words[k + 2:k + 3] if words[k + 1:k + 2] == ["not"] else words[k + 1:k + 2]
    return k == 0 or words[k - 1] in CLAUSE_OPENERS or not SUBJECTS_AFTER_AUXILIARY.isdisjoint(following)


def is_echo_question(sentence: str, tokens: list[str]) -> bool:
    """Whether a sentence repeats a claim as a question (tokens: its tokens, lower case): it ends in a question mark
    (closing quotes aside), has no question word, no auxiliary put first (opening the sentence or a clause, or
    before its subject) and no tag asking the reader to agree. Most such claims in RedditBias's unbiased comments
    doubt the stereotype they echo ("muslims are criminals?", "so all X are Y?")."""
    words = [token for token in tokens if token[0].isalnum()]  # the tokens hold punctuation too
    inverted = any(word in AUXILIARIES and put_first(words, k) for k, word in enumerate(words))
    return sentence.rstrip().rstrip('"”’)\'').endswith("?") and QUESTION_WORDS.isdisjoint(words) and not inverted \
        and AGREEMENT_TAGS.isdisjoint(words[-1:]) and words[-3:] != ["am", "i", "right"]


def is_reported(tokens: list[str], clause_start: int, group_start: int) -> bool:
    for k in range(clause_start, group_start):
        if tokens[k] in LEXICON["reporting"]:
            # "I think", "I firmly believe": the writer's own assertion
            own_opinion = tokens[k] in LEXICON["own_opinion"] and FIRST_PERSON & set(tokens[max(0, k - 2):k])
            if not own_opinion:
                return True
    return False


def lower_one_level(severity: str) -> str:
    return SEVERITIES[max(0, SEVERITIES.index(severity) - 1)]


def clause_bounds(tokens: list[str], i: int) -> tuple[int, int]:
    start = i
    while start > 0 and tokens[start - 1] not in CLAUSE_BREAKS:
        start -= 1
    end = i
    while end < len(tokens) and tokens[end] not in CLAUSE_BREAKS:
        end += 1
    return start, end


def severity_and_discount(kinds: list[str], negated: bool, denied: bool, counter: bool, reported: bool,
                          supposed: bool) -> tuple[str, str]:
    """A negated flattering attribute is the negative claim ("aren't clever enough"), a negated negative one a
    denial ("are not bad drivers"), and "not all X" denies whatever follows. A reported claim is low (someone
    else's), a supposed one a level lower (a premise): neither is the writer's assertion."""
    if counter:
        return "low", "counter-speech"
    if denied or (negated and "positive" not in kinds):
        return "low", "negation"
    if negated:
        kinds = ["negative" if kind == "positive" else kind for kind in kinds]
    severity = max((SEVERITY_OF_KIND[k] for k in kinds), key=SEVERITIES.index)
    if reported:
        return "low", "quotation"
    if supposed:
        return lower_one_level(severity), "supposition"
    return severity, ""


def scan_sentence(text: str, plain: str, start: int, end: int, quoted: list[tuple[int, int]],
                  earlier: tuple[str, str] | None = None) -> tuple[list[BiasFinding], tuple[str, str] | None]:
    """Findings in text[start:end], and the (category, text) of its last plural mention; plain is text with curly
    apostrophes made straight (same offsets). earlier is the previous sentence's last plural mention, which a
    "they" opening this sentence, or a "them" in it, may pick up ("X think they're special. I hate them.")."""
    matches = list(TOKEN.finditer(plain, start, end))
    tokens = [NO_APOSTROPHE.get(word, word) for word in (m.group().lower() for m in matches)]
    context = " ".join(text[start:end].split())
    findings = []

    def record(i: int, found: list, negated: bool, denied: bool, clause_start: int, group: str, category: str):
        """The finding for the mention at tokens[i], its attributes found, with its discounts."""
        kinds = [kind for _, _, kind in found]
        inside_quotes = any(a <= matches[i].start() < b for a, b in quoted)
        reported = inside_quotes or is_reported(tokens, clause_start, i)
        # "if women are bad drivers, why ...": a premise; "women are bad drivers?": a question
        supposed = "if" in tokens[max(clause_start, i - 2):i] or is_echo_question(context, tokens)
        # the counter-speech cues are looked for only here, where a sentence has a finding: on prose, looking in
        # every sentence took a third of the grammar's time
        counter = has_cue(tokens, LEXICON["counter"])
        severity, discounted = severity_and_discount(kinds, negated, denied, counter, reported, supposed)
        terms = [text[matches[k].start():matches[k + n - 1].end()] for k, n, _ in sorted(found)]
        findings.append(BiasFinding(severity, category, [group, *terms], context, discounted))

    i, last = 0, None
    while i < len(tokens):
        if tokens[i] not in GROUP_STARTS and tokens[i] not in ("them", "they"):
            i += 1  # begins no group and picks none up (most words): nothing below would be found here
            continue
        length, category, form = group_at(tokens, i)
        resumed_pronoun = tokens[i] == "them" or i == 0 and tokens[i] == "they"
        named = earlier[1] if earlier and not length and resumed_pronoun else None  # the group a pronoun picks up
        if named and tokens[i] == "they":  # "They're absolutely despicable." after "... X ..."
            length, category, form = 1, earlier[0], "plural"
        elif length and form in ("plural", "described"):
            earlier = last = (category, text[matches[i].start():matches[i + length - 1].end()])
        if named and tokens[i] == "them":
            # "I've met many X and I hate every one of them": the group picked up again, read only for a harm
            # urged on it or the writer's hostility to it
            clause_start, _ = clause_bounds(tokens, i)
            urged = urged_against(tokens, clause_start, i) or (
                "negative" if hostility_before(tokens, clause_start, i)[1] else "")
            if urged:
                record(i, [(i, 1, urged)], False, False, clause_start, named, earlier[0])
            i += 1
            continue
        predicated = is_membership(tokens[max(0, i - 3):i]) or tokens[max(0, i - 2):i] == ["must", "be"]
        state = i > 0 and tokens[i - 1] == "being"  # "being gay is a mental illness": the state itself
        if not length and (predicated or state):  # "he is autistic, so", "he must be gay": the adjective alone
            length = longest_match(tokens, i, LEXICON["adjectives"])
            predicative = state or i + length >= len(tokens) or tokens[i + length] in PREDICATE_ENDS | {"so"}
            length = length if predicative else 0
            category, form = LEXICON["adjectives"].get(tuple(tokens[i:i + length]), ""), "singular"
        if not length:
            i += 1
            continue
        group_end = i + length
        clause_start, clause_end = clause_bounds(tokens, i)
        previous = tokens[i - 1] if i > clause_start else ""
        if previous == "of" and i - 2 >= clause_start and tokens[i - 2] in QUANTITY_BEFORE_OF:
            previous = "most"  # "a lot of gay men", "the majority of immigrants": a share of the group
        before = tokens[max(clause_start, i - 3):i]
        denied = any(tuple(tokens[k:k + 2]) in LEXICON["denial"] for k in range(max(clause_start, i - 3), i))
        pre_negated = bool(NEGATORS & set(before)) and not denied
        found, negated = [], False
        if previous in LEXICON["contempt"] and i - 1 > clause_start and tokens[i - 2] not in NOT_CONTEMPT_BEFORE \
                or previous in LEXICON["contempt"] and i - 1 == clause_start:
            found.append((i - 1, 1, "derogatory"))
        suspicion = suspicion_after(tokens, clause_start, i, group_end, clause_end)
        nature = nature_claim(tokens, clause_start, clause_end, group_end) \
            if previous in NATURE_FRAMES or form != "singular" and is_generic(previous, form, category) else 0
        if nature:
            found.append((nature, 1, "negative"))
        if measured_against(tokens, clause_start, i, group_end, form, category):
            found.append((i, group_end - i, "negative"))
        hostility_at, hostility_length = hostility_before(tokens, clause_start, i)
        # of a kind of people, not "to hate any man" (old books' moral advice about anyone)
        determiners = tokens[hostility_at + hostility_length:i]  # "all the immigrants" are all of them
        determiner = "all" if "all" in determiners else determiners[-1] if determiners else ""
        if hostility_length and form != "singular" and is_generic(determiner, form, category):
            found.append((hostility_at, hostility_length, "negative"))
            pre_negated = False  # "can't stand" is the hostility, not a negation
        denial_at, denial_kind = denied_identity(tokens, i, group_end)
        if denial_at:
            found.append((denial_at, 1, denial_kind))
        if form in ("plural", "described") and previous in ("are", "is"):
            found += superlative_subject(tokens, clause_start, i, group_end)
        if form != "singular" and not found:  # "how lazy immigrants are": "lazy" may be read as contempt already
            found += exclaimed_trait(tokens, clause_start, i, group_end, category)
        urged = urged_against(tokens, clause_start, i)
        harm = harm_after(tokens, pointed_at(tokens, group_end), clause_end) if form != "singular" else ""
        if harm == "denied":  # "women don't deserve to be tortured" defends them
            i = group_end
            continue
        urged = urged or harm or ("derogatory" if suffering_wished(tokens, clause_start, i, group_end) else "")
        if urged:
            found.append((i, group_end - i, urged))
            pre_negated = False  # the negation is the shunning itself, or there is none
        if suspicion:
            found.append((group_end, suspicion, "negative"))
        elif wide_frame(tokens, clause_start, i, group_end):
            found += attributes_in(tokens, clause_start, clause_end, range(i, group_end), category)
        elif found or is_generic(previous, form, category) or resumed_at(tokens, group_end) or state:
            plural = form in ("plural", "described")
            after = pointed_at(tokens, past_place_phrase(tokens, group_end)) if plural else group_end
            linked, negated = linked_attributes(tokens, after, category, form)
            resumed = resumed_later(tokens, group_end, clause_end) if not linked and form != "singular" else 0
            if resumed:
                linked, negated = linked_attributes(tokens, resumed, category, "plural")
            found += linked
        if found:
            record(i, found, negated or pre_negated, denied, clause_start,
                   named or text[matches[i].start():matches[group_end - 1].end()], category)
        i = group_end
    return findings, last


def scan_rules(text: str) -> list[BiasFinding]:
    """The grammar's findings alone: the shapes above. A run's detector is bias_detector.scan_bias, which reads
    them as the claim's shape and keeps them beside its learned findings (docs/detectors.md)."""
    plain = text.replace("’", "'")  # "can’t" and "can't" are one word
    quoted = [m.span() for m in QUOTED.finditer(text)]
    findings, start, earlier = [], 0, None
    for end in [m.end() for m in SENTENCE_END.finditer(text)] + [len(text)]:
        found, earlier = scan_sentence(text, plain, start, end, quoted, earlier)
        findings += found
        start = end
    return findings


def shared_suffix_after_first_difference(a: list[int], b: list[int]) -> tuple[int, int]:
    """Where the tokens to score start in a and in b: a[start_a:] == b[start_b:].

    The probe pairs differ only in the group word, so after the first difference both sentences share the
    same continuation. Scoring only those shared tokens compares how likely the model finds the same words
    given one group or the other, without the group words' own (unequal) frequencies. Identical sequences
    give (len(a), len(b)): nothing to score.
    """
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    return len(a) - suffix, len(b) - suffix
