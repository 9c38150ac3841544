"""The bias detector a run and `phaselog scan` use (issue #39): the grammar finds, the learned scorer decides.

    scan_bias(text) -> list[BiasFinding]
    scan_bias_many(texts) -> list[list[BiasFinding]]  # one scorer pass over all their sentences

1. The gate (bias_gate.py) keeps the sentences that name a group of people in a way worth scoring (most prose names
   none and costs a set intersection), each with its mentions, read with the sentence before it.
2. The learned scorer (bias_scorer.py) reads each of those sentences, batched across every text given, and says how
   likely its writer endorses a generalisation about the group, and how bad the claim is; the modern scorer
   (bias_modern.py), a second head over the same frozen lower layers trained on modern public text, says the same.
   The modern head alone also reads the sentences the gate dropped that name a group in the modern register ("the
   jewish race", "a gay bar": bias_gate.modern_sentences), at MODERN_PATH_CUT, where a premise is no veto.
3. A sentence scored at or above a head's threshold (each its own) is a finding; where both heads find, the more
   severe stands. Its severity is read from three things:
   the scorer's severity head; the claim's shape, i.e. what the grammar (bias.py, `scan_rules`) finds in the same
   sentence; and the words of the claim, by VADER's valence and SeeGULL's offensiveness (bias_lexicon.py):
   - high: the grammar found a high claim (dehumanising, criminalising, contempt, harm urged on the group), or the
     claim holds a derogatory word (lexicons/attributes, SeeGULL offensiveness >= 3), or the head says high and a
     word of the claim is strongly negative (VADER <= -2);
   - medium: a negative word (VADER <= -1.2, a listed trait or habit, SeeGULL >= 1), a medium shape, or the head
     says medium or high (a generalisation carried by a verb or noun phrase: "are but playthings"; praise that
     belittles: "simple and honest", which the annotators called medium and the head learned);
   - low: the head says low and the claim is flattering (a positive word, no negative one) or has a low shape;
     with no judgement word nor shape there is no finding (a sentence that says nothing of the group, "Women
     walked home.", scored near the bar).
   The words are those within CLAIM_REACH of a mention, or of a "they" predicating after it: a long period sentence
   judges many things; a judging phrase may end on the mention ("these people were thorough savages").
   Then the stance the grammar reads (bias_gate.stance_signals, and the grammar's own discounts in the sentence):
   counter-speech, a denial ("not all"), a claim the grammar found only negated, a "not" right after the mention
   or a report / quotation make it low, a premise ("if X are ...") one level lower. The scorer has learned stance
   too; these cues are the grammar's veto. A bare "men" is humankind, no mention, unless women are named beside.
4. The grammar's own findings over the whole text (`scan_rules`, the detector before #39) are kept whatever the
   score, but those on a bare "man" or "men" that read humankind as a sex (`of_humankind`) and those on one person
   had or born ("That I have such a wife, so obedient": `one_person_had_or_born`); a learned finding is
   added beside them, and where both read the same group in one sentence only the more severe stands (a tie keeps
   the grammar's), so a learned finding may replace a less severe grammar finding (a period stereotype the grammar
   calls medium and the scorer high pauses a run). So every sentence and group the grammar flags stays flagged, at
   its severity or above: on the modern public sets the grammar carries much of what is found, and the gate, tuned
   on book prose, does not pass all of it (keeping only the grammar's high findings lost ToxiGen's explicit 43.5%
   -> 31.8%: docs/detectors.md, "The detector in a run").

Each finding says why: its terms are the mention and the claim, `score` the scorer's probability (None for a grammar
finding in a sentence the gate did not pass), and `why` the sentence's reading in words."""
from phaselog.understanding.bias import SEVERITIES, BiasFinding, scan_rules
from phaselog.understanding.bias_gate import (SINGULAR_NOUNS, Mention, StanceSignals, had_or_born, humankind,
                                               mentions_in, modern_sentences, sentences_to_score, stance_signals,
                                               tokens_of)
from phaselog.understanding.bias_lexicon import STRONG_VALENCE, TOKEN, lexicon_attribute, valence, valence_kind
from phaselog.understanding.bias_modern import MIN_WORDS, load_modern
from phaselog.understanding.bias_modern import threshold as modern_threshold
from phaselog.understanding.bias_scorer import Assessment, threshold
from phaselog.understanding.bias_shapes import COPULAS

KEPT_RULE = "the grammar"  # how the why of a grammar finding kept whatever the score begins
CLAIM_REACH = 10  # judgement words count for the claim this many words either side of a mention
NOT_REACH = 3  # a "not" this close after the mention negates what is said of the group
RELATIVES = {"who", "whom", "which", "that"}  # unless a relative clause opens right after the mention
# a flattering word right after one of these is a fault: "not remarkable for delicacy", "the least attractive" (a
# wider reach, "little", "less" or "nor" three words back, flagged 5 more reported or neutral sentences for 3 found)
DENYING = {"not", "least", "never"}
CLAIM_WORDS = 12  # the claim shown with a finding: this many words of the sentence after (or before) the mention
AFFECTION = {"adore", "admire", "love", "cherish", "respect", "appreciate"}  # praise, right before the group
PRAISE_REACH = 2  # words before the mention ("adore trans people", "love our Muslim neighbours")
# the modern head's cut on the modern path (bias_gate.modern_sentences: sentences only it reads), below its card's
# threshold: that was set by the validation books' budget, and the path passes none of their flagged sentences
# (docs/detectors.md, "The modern path")
MODERN_PATH_CUT = 0.90


def of_humankind(finding: BiasFinding) -> bool:
    """A grammar finding on a bare "man" or "men" ("for a man to be proud and high conceited ... the most
    intolerant") speaks of people at large, as `humankind` reads the gate's "men", unless the sentence names
    women too: 9 of Meditations' 14 medium+ sentences were these (docs/detectors.md)."""
    return finding.terms[0].lower() in ("man", "men") and not any(
        m.category == "gender" and m.text.lower() not in ("man", "men") for m in mentions_in(finding.context))


def one_person_had_or_born(finding: BiasFinding) -> bool:
    """A grammar finding on one person's noun that the gate reads as one person, had or born one (`had_or_born`:
    "That I have such a wife, so obedient"): the grammar and the gate then agree that no group is named."""
    words = [m.group().lower() for m in tokens_of(finding.context)]
    return any(word == finding.terms[0].lower() and word in SINGULAR_NOUNS and had_or_born(words, i)
               for i, word in enumerate(words))


def claim_of(sentence: str, mention: Mention) -> str:
    """What the sentence says of the group, as written: the words after the mention, or before it when the
    mention ends the sentence ("Cunning were the Malays")."""
    after, before = sentence[mention.end:].split(), sentence[:mention.start].split()
    words = after if len(after) >= 2 else before[-CLAIM_WORDS:]
    return " ".join(words[:CLAIM_WORDS]).strip(" ,;:.!?\"'“”")


def claim_words(sentence: str, mentions: list[Mention], category: str) -> tuple[set[str], float]:
    """(kinds of the judgement words near the mentions or a "they" predicating after them, CLAIM_REACH words either
    side, the mentions left out:
    derogatory / negative / positive; the lowest VADER valence among them): the valence and offensiveness the
    severity reads. Near, because a long period sentence judges many things ("every aristocratic morality is
    intolerant ... the words 'good' and 'stupid'"), and only what is said close to the group is said of it."""
    plain = sentence.replace("’", "'")
    matches = list(TOKEN.finditer(plain))
    at = [k for k, m in enumerate(matches) if any(n.start <= m.start() < n.end for n in mentions)]
    # a "they" that predicates after the mention carries its claim ("Even if X are nice sometimes, they are still
    # nothing but ...", "because they are less advanced"); no other pronoun: "despise them", "to their eyes" in
    # tiny Shakespeare and "what were they doing" in Sherlock Holmes were false alarms (docs/detectors.md)
    words = [m.group().lower() for m in matches]
    anchors = at + [k for k in range(len(words) - 1) if at and k > at[0] and words[k] == "they"
                    and COPULAS & set(words[k + 1:k + 3])]
    near = [k for k in range(len(matches)) if any(abs(k - j) <= CLAIM_REACH for j in anchors)]
    # a mention is no judgement word, but a phrase may end on one: "these people were thorough savages"
    tokens = [matches[k].group().lower() for k in near]
    kinds, lowest = set(), 0.0
    for i, token in enumerate(tokens):
        if near[i] in at:
            continue
        _, kind = lexicon_attribute(tokens, i, category)
        kind = kind or valence_kind(token)
        if kind == "positive" and i and tokens[i - 1] in DENYING:
            kind = "negative"
        kinds |= {kind} - {""}
        lowest = min(lowest, valence(token))
    return kinds, lowest


def learned_severity(assessment: Assessment, kinds: set[str], lowest: float, shape: str) -> str:
    """The claim's severity from the head, the grammar's shape (its worst undiscounted finding, "" if none) and
    the claim's words (module docstring, step 3); "" when the head says low and the claim has no judgement word
    nor a shape: a sentence that says nothing of the group but was scored near the threshold."""
    head = max(assessment.severity, key=assessment.severity.get)
    if shape == "high" or "derogatory" in kinds or head == "high" and lowest <= -STRONG_VALENCE:
        return "high"
    if shape == "medium" or "negative" in kinds or head != "low":
        return "medium"
    # flattering, or nothing said of them at all ("Women walked home.", scored 0.47): only praise is a claim
    return "low" if shape or "positive" in kinds else ""


def negated_predicate(sentence: str, mentions: list[Mention]) -> bool:
    """A "not" within NOT_REACH words after a mention: "X do not deserve ...", "X are not ...". The scorer misreads
    these (HateCheck's negated hate); a "no" or "never" anywhere is left to it, as period prose generalises with
    them ("they never forgive", "no Hindoo will ...": a veto on every negator lost a third of the books' claims).
    A relative clause opening after the mention is no predicate of it: its "not" picks out which of them."""
    plain = sentence.replace("’", "'")
    for mention in mentions:
        following = [m.group().lower() for m in TOKEN.finditer(plain, mention.end)][:NOT_REACH]
        if following[:1] and following[0] in RELATIVES:
            continue  # "Indians who do not habitually proceed further ...": the "not" says which of them
        if any(word == "not" or word.endswith("n't") for word in following):
            return True
    return False


def stance_discount(sentence: str, mentions: list[Mention], signals: StanceSignals,
                    rule_findings: list[BiasFinding]) -> str:
    """The grammar's veto on the writer's stance, "" if none: counter-speech, a denial, a report or quotation, a
    premise; and a claim the grammar found only negated ("are not bad drivers")."""
    if signals.counter_speech:
        return "counter-speech"
    if signals.denied:
        return "negation"
    if signals.reported or signals.quoted:
        return "quotation"
    discounts = {f.discounted for f in rule_findings}
    if rule_findings and "" not in discounts:
        return next(d for d in ("counter-speech", "negation", "quotation", "supposition") if d in discounts)
    if negated_predicate(sentence, mentions) and not rule_findings:
        return "negation"
    return "supposition" if signals.supposed else ""


def discounted_severity(severity: str, discount: str) -> str:
    if discount == "supposition":
        return SEVERITIES[max(0, SEVERITIES.index(severity) - 1)]
    return "low" if discount else severity


def judged(sentence: str, mentions: list[Mention], assessment: Assessment) -> tuple[str, str, str, set[str]]:
    """How a gated sentence scored at the cut is judged: (its severity before the stance veto, "" when it says
    nothing of the group; the veto, "" if none; the grammar's shape; the kinds of its judgement words)."""
    rules = scan_rules(sentence)  # after the cut: most gated sentences score below it and need no parse
    kinds, lowest = claim_words(sentence, mentions, mentions[0].category)
    undiscounted = [f.severity for f in rules if not f.discounted]
    shape = max(undiscounted, key=SEVERITIES.index, default="")
    severity = learned_severity(assessment, kinds, lowest, shape)
    discount = stance_discount(sentence, mentions, stance_signals(sentence, mentions), rules) if severity else ""
    return severity, discount, shape, kinds


def praised(sentence: str, mentions: list[Mention]) -> bool:
    """A word of affection right before a mention ("I absolutely adore trans people", "we love our Muslim
    neighbours"): praise, which the modern head rates as it rates hate. Only right before: VADER's "positive"
    alone is no praise ("I wish all trans people would be shot", "Isn't it clear how much hatred ...": "wish",
    "clear"), nor is "love" further off ("I'd love to see them ...")."""
    plain = sentence.replace("’", "'")
    for mention in mentions:
        before = [m.group().lower() for m in TOKEN.finditer(plain[:mention.start])][-PRAISE_REACH:]
        if not AFFECTION.isdisjoint(before):
            return True
    return False


def learned_finding(sentence: str, mentions: list[Mention], assessment: Assessment, cut: float,
                    scorer: str = "learned", modern_path: bool = False) -> list[BiasFinding]:
    """The learned finding of one gated sentence, if its score reaches the cut: the grammar gives its shape
    and its veto on the stance, the severity head and the judgement words the severity. `scorer` names the head
    in the why: "learned" (the book scorer) or "modern" (bias_modern.py); `modern_path` for a sentence only the
    modern head reads (bias_gate.modern_sentences), where a premise is no veto."""
    mentions = [m for m in mentions if not humankind(m, mentions)]
    if assessment.endorsed < cut or not mentions:
        return []
    severity, discount, shape, kinds = judged(sentence, mentions, assessment)
    if scorer == "modern" and severity == "medium" and not shape and kinds == {"positive"} \
            and praised(sentence, mentions):
        severity = "low"  # the modern head's severity learned from hate only: it never says low
    if not severity:
        return []
    if modern_path and discount == "supposition":
        discount = ""  # crowd-written text says "every X" so: "if you are muslim, you should not ..."
    severity = discounted_severity(severity, discount)
    mention = mentions[0]
    head = max(assessment.severity, key=assessment.severity.get)
    words = ", ".join(sorted(kinds)) or "none"
    why = (f"{scorer} score {assessment.endorsed:.2f} >= {cut:.2f} that the writer generalises about "
           f"{mention.text!r} ({mention.category}); severity head: {head}; judgement words: {words}; grammar's "
           f"shape: {shape or 'none'}" + (f"; discounted: {discount}" if discount else ""))
    return [BiasFinding(severity, mention.category, [mention.text, claim_of(sentence, mention)], sentence,
                        discount, round(assessment.endorsed, 3), why)]


def grammar_findings(text: str) -> list[BiasFinding]:
    """The grammar over the whole text, as before #39: what it finds is kept whatever the score, unless a more
    severe learned finding on the same group and sentence replaces it (on the modern public sets it carries much of
    what is found, and the gate, tuned on book prose, does not pass all of it), but for humankind read as a sex and
    one person had or born."""
    findings = [finding for finding in scan_rules(text)
                if not of_humankind(finding) and not one_person_had_or_born(finding)]
    for finding in findings:
        finding.why = f"{KEPT_RULE}: {finding.terms[0]!r} linked to {', '.join(finding.terms[1:])!r}"
    return findings


def same_sentence(a: str, b: str) -> bool:
    """Whether two findings' sentences (or a finding's and a gated one) are one: the grammar and the gate split a
    text alike, and where a split differs one holds the other."""
    return a in b or b in a


def score_is_read(sentence: str, mentions: list[Mention], rules: list[BiasFinding]) -> bool:
    """Whether a gated sentence's score is used: by a learned finding (a mention is left once a bare "men" is read
    as humankind) or shown on a grammar finding in it. The others skip the scorer, the scan's costliest step: on
    the shared prose one passed sentence in eight names only "men" (Marcus Aurelius's "all men")."""
    return any(not humankind(m, mentions) for m in mentions) or any(same_sentence(r.context, sentence)
                                                                     for r in rules)


def scan_bias_many(texts: list[str], cut: float | None = None, modern_cut: float | None = None,
                   path_cut: float = MODERN_PATH_CUT) -> list[list[BiasFinding]]:
    """The findings of each text: the grammar's, and the learned ones of the gated sentences scored at or above
    `cut` by the book scorer, or else at or above `modern_cut` by the modern head (each card's threshold unless
    given: the tooling sweeps them; a cut above 1 turns a head off), and those of the modern path (sentences the
    gate dropped, bias_gate.modern_sentences) by the modern head at `path_cut`; where both read the same group in one
    sentence, the more severe stands (a tie keeps the grammar's, which names the attribute words). The scorers run
    once over every gated sentence of all the texts whose score is read (batched: a segment's texts in one call
    cost a quarter less per sentence than one by one, docs/detectors.md), sharing the encoder's lower layers."""
    rules_of = [grammar_findings(text) for text in texts]
    gated = []  # per text: (sentence, mentions, whether only the modern head reads it: the modern path)
    for text, rules in zip(texts, rules_of):
        passed = sentences_to_score(text)
        gated.append([(sentence, mentions, False) for sentence, mentions in passed
                      if score_is_read(sentence, mentions, rules)] +
                     [(sentence, mentions, True) for sentence, mentions in
                      modern_sentences(text, {sentence for sentence, _ in passed})
                      if len(sentence.split()) >= MIN_WORDS])
    flat = [sentence for passed in gated for sentence, _, _ in passed]
    assessments = iter(load_modern().assess_both(flat) if flat else [])
    cut = threshold() if cut is None else cut
    modern_cut = modern_threshold() if modern_cut is None else modern_cut
    found = []
    for rules, passed in zip(rules_of, gated):
        learned = []
        for sentence, mentions, modern_only in passed:
            assessment, modern = next(assessments)
            if modern_only:  # the modern path: the book scorer's score is neither used nor shown
                learned += learned_finding(sentence, mentions, modern, path_cut, "modern", modern_path=True)
                continue
            for rule in rules:  # the scorer read the grammar's sentence too: its finding shows that score
                if rule.score is None and same_sentence(rule.context, sentence):
                    rule.score = round(assessment.endorsed, 3)
                    rule.why += f"; learned score {assessment.endorsed:.2f}"
            # each head at its own cut; where both find, the more severe stands (a tie keeps the book scorer's)
            both = learned_finding(sentence, mentions, assessment, cut)
            if len(sentence.split()) >= MIN_WORDS:
                both += learned_finding(sentence, mentions, modern, modern_cut, "modern")
            learned += [max(both, key=lambda f: SEVERITIES.index(f.severity))] if both else []
        for finding in learned:
            same = [r for r in rules if r.terms[0] == finding.terms[0] and same_sentence(r.context, finding.context)]
            if all(SEVERITIES.index(r.severity) < SEVERITIES.index(finding.severity) for r in same):
                rules = [r for r in rules if r not in same] + [finding]
        found.append(rules)
    return found


def scan_bias(text: str) -> list[BiasFinding]:
    return scan_bias_many([text])[0]


def worst_severity(findings: list[BiasFinding]) -> str:
    return max((f.severity for f in findings), key=SEVERITIES.index, default="none")

