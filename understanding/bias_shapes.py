"""The shapes of a claim about a group (docs/detectors.md): where a mention of a group is generic, which words
link it to an attribute, and the frames that say something of the group without a listed trait (an urged harm,
the writer's hostility, a trait put into its nature, one person measured against it, ...). Each function reads
the lower-cased tokens of one sentence; understanding/bias.py puts them together and grades the finding."""
from phaselog.understanding.bias_lexicon import (LEXICON, STRONG_VALENCE, lexicon_attribute, longest_match, valence,
                                                 valence_kind)

# Grammar, not lexicon: which words make a group term generic, link it to an attribute, or end a clause.
# "that"/"this" are missing on purpose: before a plural, "that" is the conjunction ("a myth that women are")
# and a preposition before a plural makes it an object ("the ways of men"), not what the clause is about
SPECIFIC_BEFORE_PLURAL = {"the", "these", "those", "my", "our", "your", "his", "her", "their", "its",
                          "some", "few", "several", "both", "certain", "which", "whose", "two", "three", "four",
                          "five", "ten", "dozen", "hundred", "of", "with", "to", "for", "from", "among", "by", "about",
                          "between", "against", "without", "like", "on", "at", "than"}

GENERIC_BEFORE_SINGULAR = {"a", "an", "every", "any", "each", "typical", "average", "no"}

GENERIC_BEFORE_COLLECTIVE = {"the", "typical", "all", "most", "many"}

PEOPLES = {"nationality", "ethnicity", "religion"}  # "the Scots are", like "the French are", means all of them

NEGATORS = {"not", "no", "never", "hardly", "aren't", "isn't", "don't", "doesn't", "won't", "wasn't", "weren't",
            "can't", "cannot", "shouldn't", "wouldn't", "couldn't", "nobody", "none", "ain't"}

COPULAS = {"are", "is", "'re", "'s", "was", "were", "be", "been", "being", "seem", "seems", "become", "becomes",
           "remain", "remains", "look", "looks", "act", "acts", "get", "gets", "sound"}

HABITUAL = {"always", "constantly", "forever", "all", "just", "only", "usually", "typically", "generally", "tend",
            "tends", "keep", "keeps", "invariably", "inevitably", "naturally", "inherently", "mostly", "often"}

LINK_WORDS = COPULAS | HABITUAL | {
    "to", "so", "too", "really", "very", "quite", "pretty", "basically", "simply", "totally", "completely",
    "extremely", "incredibly", "clearly", "obviously", "such", "the", "a", "an", "by", "nature", "known",
    "considered", "more", "also", "still", "can", "could", "should", "must", "will", "would", "do", "does", "make",
    "course", "honestly", "frankly", "truly", "seriously", "bunch", "lot", "rather", "far", "much", "ever",
    "even", "kind", "sort", "today", "nowadays", "again", ","}

SELDOM = {"rarely", "seldom", "scarcely", "barely"}
# phrases the link skips like a linking word ("are of course", "are by far the worst", "are without a doubt")
HEDGES = {tuple(phrase.split()) for phrase in ("of course", "straight up", "by far", "without a doubt")}
STACK_WORDS = {"and", ",", "or", "but", "also", "not", "only"}  # between two attributes of one group

RESUMING = {"they"}  # "X, they all ...": the pronoun picks up the whole group

MAX_LINK_WORDS = 6

RESUME_WORDS = 6  # how far a "they" may come after the mention it picks up

PLACE_PREPOSITIONS = {"in", "on", "from", "at"}

PLACE_WORDS = 4

SPECIFIC_OWNERS = {"my", "our", "your", "his", "her", "this", "that"}  # "the women in my office": some women

PREDICATE_WORDS = 7  # how far a verb phrase is read for habits and restrictions

CLAUSE_BREAKS = {";", ":", "but", "although", "though", "whereas", "however", "while", "yet"}

PREDICATE_ENDS = CLAUSE_BREAKS | {",", "who", "that", "which", "whose", "where", "when", "if", "because", ".", "!",
                                  "?", "(", ")", "\"", "and"}

FIRST_PERSON = {"i", "we"}

IRREGULAR_PAST = {"was", "were", "had", "got", "knew", "saw", "went", "came", "won", "lost", "made", "took", "gave",
                  "left", "met", "held", "found", "thought", "told", "said", "heard", "felt", "kept", "ran", "fought"}

PRONOUNS = {"he", "she", "they", "you", "i", "we"}

MODALS = COPULAS | {"can", "could", "should", "must", "will", "would", "do", "does", "tend", "tends"}

# before a contempt adjective these make it one person's description ("the most worthless young men")
NOT_CONTEMPT_BEFORE = {"the", "a", "an", "most", "of", "that", "his", "her", "my", "our", "their", "your", "its"}

BECAUSE = {"because", "since", "cause", "'cause", "as"}

BE_PRESENT = {"is", "'s", "was", "are", "'re", "were", "am", "'m"}

CANNOT = {"can't", "cannot", "couldn't", "won't"}  # inability or refusal

QUANTIFIERS_AFTER_LIKE = {"all", "most", "every", "any", "other"}

QUANTITY_BEFORE_OF = {"lot", "lots", "plenty", "majority", "most", "many"}

# a habit stated without exception is the generic claim itself, whatever the verb's valence ("teenagers always
# sleep late"); "usually" and "often" can state a custom ("Muslims usually pray at dawn"), so they do not count
ABSOLUTE = {"always", "never", "constantly", "forever", "invariably"}

# the trait put into the group's nature: "in their blood", "by nature", "it's genetic"
NATURE_WORDS = {"genetic", "genetics", "genetically", "inherent", "inherently", "innate", "innately", "dna"}

NATURE_AFTER_IN = {"blood", "nature", "culture", "genes"}

NATURE_FRAMES = {"in", "for", "those"}  # "in Gypsy culture", "genetic for Mexicans", "in their blood, those X"

LIKE_A_GENDER = {("girl",), ("little", "girl"), ("old", "woman"), ("old", "lady"), ("woman",)}

# urging a harm or a shunning on a group says it deserves it ("we should ban gays", "never hire a woman"):
# a harm counts when it is urged (a modal, an imperative, "I/we" as subject, a first person's intent, a wish) and
# not negated, a shunning only when negated ("I would never employ a disabled person"); the verb or phrase ends
# up to 3 determiners before the mention
HARMS = {"kill", "ban", "deport", "exterminate", "shoot", "hang", "gas", "expel", "sterilise", "sterilize",
         "eradicate", "eliminate", "imprison", "segregate", "murder", "stab", "torture", "rape", "strangle", "drown",
         "lynch", "burn", "slaughter", "massacre", "hurt", "execute", "behead"}  # not "beat", "attack": sport, war

HARM_PHRASES = {tuple(phrase.split()) for phrase in (
    "get rid of", "put an end to", "wipe out", "do away with", "beat up", "burn out", "snap the necks of",
    "break the necks of", "cut the throats of", "slit the throats of")}

# the harm done to the group, after "should (all) be" / "deserve to be": "immigrants should be shot"
HARMED = {"killed", "shot", "hanged", "hung", "gassed", "exterminated", "eradicated", "deported", "expelled",
          "sterilised", "sterilized", "eliminated", "executed", "murdered", "stabbed", "tortured", "raped", "lynched",
          "burned", "burnt", "drowned", "strangled", "slaughtered", "beaten", "caged", "castrated", "culled",
          "imprisoned", "beheaded", "wiped", "locked"}

DAMAGED = {"destroyed", "ruined", "invaded", "overrun", "flooded", "corrupted", "poisoned", "infested", "polluted",
           "degraded", "undermined"}  # "is being destroyed by X"
SUFFERINGS = {"die", "suffer", "rot", "burn"}  # "deserve to die"

INTENT = {("going", "to"), ("gonna",), ("will",), ("'ll",), ("want", "to"), ("wanna",)}  # with a first person

WISHING = {("wish",), ("hope",), ("if", "only"), ("best", "to"), ("better", "to")}  # "I wish someone would ..."

SHUNNINGS = {"hire", "employ", "trust", "allow", "date", "marry", "rent", "befriend", "elect", "promote"}

URGING = {"should", "must", "need", "needs", "ought", "gotta"}  # and "let's", "have to", "I would"

URGED_DETERMINERS = {"the", "all", "a", "an", "any", "every", "those", "these", "more", "them", "next", "kind",
                     "kinds", "sort", "sorts", "of"}  # "drown those kinds of X", "kill all of the X"

IMPERATIVE_OPENERS = {"never", "don't", "do", "please", "just", "make", "always", "dont"}

GROUP_STANDARD = {"behaviour", "behavior", "thing", "move"}  # "typical boomer behaviour"

# hostility to the group itself, said by the writer ("I can't stand Mexicans"): the phrase starts at most 6 words
# before a generic plural mention, with only determiners between; "don't hate" denies it
HOSTILITY = {words for words in (("hate",), ("despise",), ("loathe",), ("detest",), ("abhor",), ("can't", "stand"),
                                 ("cannot", "stand"), ("sick", "of"), ("tired", "of"), ("fed", "up", "with"),
                                 ("disgusted", "by"), ("disgusted", "with"), ("hatred", "for"), ("contempt", "for"),
                                 ("disdain", "for"), ("loathing", "for"))}

HOSTILE_DETERMINERS = {"the", "all", "those", "these", "every", "any", "you", "single", "one", "of"}

# "hatred for you women", "hate every single one of them"
# "trans women are men": a gender term in the predicate of the other sex than the mention's own noun, or, denied,
# of the same sex ("a trans woman is not a woman"); only after a described mention, so "women are women" is not
SEX_OF_NOUN = {"man": "m", "men": "m", "boy": "m", "boys": "m", "male": "m", "males": "m", "guy": "m", "guys": "m",
               "woman": "f", "women": "f", "girl": "f", "girls": "f", "female": "f", "females": "f", "lady": "f",
               "ladies": "f"}

IDENTITY_ADVERBS = {"just", "really", "actually", "simply", "still", "basically", "only", "all", "biologically",
                    "secretly", "truly", "real", "true"}

# "treated as a threat", "seen as lazy": the attribute after "as" is the one the group is given
# ("portrayed as", "perceived as", "labelled as" report how others see them: a critique as often as a claim)
ASCRIBING = {"treated", "seen", "regarded", "viewed", "thought"}

NUMBER_WORDS = {"two", "three", "four", "five", "ten", "many", "several"}

# the first word of every group phrase: each branch of group_at begins with one of these at the token it reads
GROUP_STARTS = {phrase[0] for name in ("adjectives", "group_nouns", "people") for phrase in LEXICON[name]}

# "is a result of", "is caused by": the predicate names a cause or a sign, and its bad name is the claim
CAUSE_LINKS = {tuple(phrase.split()) for phrase in (
    "a result of", "the result of", "a product of", "the product of", "a sign of", "a symptom of", "caused by",
    "due to", "the fault of")}

CAUSE_WORDS = 4

SUPERLATIVES = {"worst", "best", "most", "least"}  # "the worst drivers are Asian women", and any "-est" word


def group_at(tokens: list[str], i: int) -> tuple[int, str, str]:
    """(length, category, form) of a group term starting at tokens[i]; length 0 if none.

    Identity adjectives may stack before a people noun ("young black men"); the one next to the noun names the
    category. "people from / who live in" + a place makes a plural group of the place's category."""
    if tokens[i] not in GROUP_STARTS:
        return 0, "", ""  # most words begin no group: one lookup instead of three phrase searches
    j, category = i, ""
    while True:
        adjective = longest_match(tokens, j, LEXICON["adjectives"])
        if not adjective:
            break
        category, j = LEXICON["adjectives"][tuple(tokens[j:j + adjective])], j + adjective
    if category:
        noun = longest_match(tokens, j, LEXICON["people"])
        if noun:  # "the Asian students" are some students: no "the" rule for peoples here
            form = LEXICON["people"][tuple(tokens[j:j + noun])]
            return j + noun - i, category, "described" if form == "plural" else form
    noun = longest_match(tokens, i, LEXICON["group_nouns"])
    if noun:
        return noun, *LEXICON["group_nouns"][tuple(tokens[i:i + noun])]
    noun = longest_match(tokens, i, LEXICON["people"])
    if noun and LEXICON["people"][tuple(tokens[i:i + noun])] == "plural":
        if tokens[i + noun:i + noun + 2] == ["who", "are"]:  # "moms who are Asian": the identity, not a subset
            at = i + noun + 2
            adjective = longest_match(tokens, at, LEXICON["adjectives"])
            if adjective:
                return at + adjective - i, LEXICON["adjectives"][tuple(tokens[at:at + adjective])], "described"
        link = longest_match(tokens, i + noun, LEXICON["place_links"])
        place = longest_match(tokens, i + noun + link, LEXICON["places"]) if link else 0
        if place:
            return noun + link + place, LEXICON["places"][tuple(tokens[i + noun + link:i + noun + link + place])], \
                "plural"
    return 0, "", ""


def is_generic(previous: str, form: str, category: str) -> bool:
    if form == "singular":
        return previous in GENERIC_BEFORE_SINGULAR
    if form == "collective" or (previous == "the" and category in PEOPLES and form in ("plural", "institution")):
        return previous in GENERIC_BEFORE_COLLECTIVE
    if form == "institution" and previous == "in":  # "satan in Judaism is": the religion as a setting
        return False
    return previous not in SPECIFIC_BEFORE_PLURAL and not previous.isdigit()


def is_membership(before: list[str]) -> bool:
    """The mention is what one person is: "she is (a) ...", "he's ..."."""
    if before and before[-1] in ("a", "an"):
        before = before[:-1]
    return len(before) >= 2 and before[-1] in BE_PRESENT and before[-2] in PRONOUNS


def wide_frame(tokens: list[str], start: int, i: int, end: int) -> bool:
    """A frame that makes the mention at tokens[i:end] stand for its group, attribute anywhere in the clause:
    "a typical X", "like all X", "the problem with X", "as (the) X do", "because she is (a) X", "being X", "for a
    X", and "she is (a) X" followed by "so" ("he's gay, so of course ...") or closing the sentence after a comma
    ("of course she can't read a map, she's a woman")."""
    before, after = tokens[start:i], tokens[end:end + 2]
    if before[-2:-1] == ["for"] and before[-1] in ("a", "an"):
        return True
    if "typical" in before[-2:] or before[-2:-1] == ["like"] and before[-1] in QUANTIFIERS_AFTER_LIKE:
        return True
    if ["problem", "with"] in (before[-2:], before[-3:-1]):  # "the problem with (the) X is that they ..."
        return True
    if before[-1:] == ["being"]:  # "being gay is (not) a disease" is read as a copula claim, negation and all
        return not after or after[0] not in BE_PRESENT
    if is_membership(before):
        pronoun_at = len(before) - (3 if before[-1] in ("a", "an") else 2)
        if pronoun_at > 0 and before[pronoun_at - 1] in BECAUSE:
            return True
        if after[:1] == ["so"] or after == [",", "so"]:
            return True
        if pronoun_at > 0 and before[pronoun_at - 1] == "," and (not after or after[0] in (".", "!", "?")):
            return True
    as_the = before[-1:] == ["as"] or before[-2:] == ["as", "the"]
    return as_the and after[:1] != [] and after[0] in ("do", "always", "usually", "tend", "will", "are")


def resumed_at(tokens: list[str], j: int) -> int:
    """Index after "they" in ", they" / "and they" / ", and they" at tokens[j]; 0 if the group is not resumed."""
    k = j
    while k < len(tokens) and k < j + 2 and tokens[k] in (",", "and", "-", "—"):
        k += 1
    if k > j and k < len(tokens) and tokens[k] in RESUMING:
        return k + 1
    return 0


def resumed_later(tokens: list[str], j: int, clause_end: int) -> int:
    """Index after a "they" that picks up the group a few words on ("too many migrants here, they are ..."): after
    a comma, within RESUME_WORDS of the mention, no other group between; 0 if none."""
    for k in range(j, min(clause_end - 1, j + RESUME_WORDS)):
        if group_at(tokens, k)[0]:
            return 0
        if tokens[k] == "," and tokens[k + 1] in RESUMING:
            return k + 2
    return 0


def pointed_at(tokens: list[str], j: int) -> int:
    """Index after "like you / them / that" at tokens[j] ("women like you are ..."): the group, pointed at
    through one of them; else j."""
    if tokens[j:j + 1] == ["like"] and tokens[j + 1:j + 2] in (["you"], ["them"], ["her"], ["him"], ["that"]):
        return j + 2
    return j


def past_place_phrase(tokens: list[str], j: int) -> int:
    """Index of the copula after a short place phrase that narrows a bare plural ("immigrants from Syria are",
    "disabled people on TV are so ..."), else j: "the women in my office" are some women, and the phrase ends
    at the first linking verb within PLACE_WORDS."""
    if j >= len(tokens) or tokens[j] not in PLACE_PREPOSITIONS:
        return j
    for k in range(j + 1, min(len(tokens), j + 1 + PLACE_WORDS)):
        if tokens[k] in BE_PRESENT or tokens[k] in ("can't", "cannot", "never", "always"):
            return k
        if tokens[k] in PREDICATE_ENDS or tokens[k] in SPECIFIC_OWNERS or group_at(tokens, k)[0]:
            return j
    return j


def attributes_in(tokens: list[str], start: int, end: int, skip: range, category: str) -> list[tuple[int, int, str]]:
    """Every listed attribute or valenced word in tokens[start:end] outside the mention: (at, length, kind)."""
    found, k = [], start
    while k < end:
        if k in skip:
            k += 1
            continue
        length, kind = lexicon_attribute(tokens, k, category)
        if not length and tokens[k] in CANNOT and k + 1 < end:  # "she can't park because she is a woman"
            length, kind = 2, "negative"
        elif not length and valence_kind(tokens[k]):
            length, kind = 1, valence_kind(tokens[k])
        elif not length and tokens[k] in ABSOLUTE and k + 1 < end and is_present_verb(tokens[k + 1]):
            length, kind = 2, "negative"  # "like every Polish family, they always drink"
        if length:
            if kind == "positive" and k > start and tokens[k - 1] in NEGATORS:  # "never laughs at jokes"
                kind = "negative"
            found.append((k, length, kind))
            k += length
        else:
            k += 1
    return found


def verb_phrase(tokens: list[str], j: int, category: str, habitual: bool) -> list[tuple[int, int, str]]:
    """Attributes of a predicate that is a verb phrase ("dodge the hard questions", "drink too much"): the head
    verb may be a listed trait, restrictions and habits count anywhere in the phrase, and valence counts only
    when a habitual word makes the phrase what the group always does (not "refugees fled the war")."""
    end = j
    while end < len(tokens) and end < j + PREDICATE_WORDS and tokens[end] not in PREDICATE_ENDS:
        end += 1
    found = []
    past = tokens[j].endswith("ed") or tokens[j] in IRREGULAR_PAST  # "the students organised a festival": an event
    head, kind = lexicon_attribute(tokens, j, category) if not past else (0, "")
    if head:
        found.append((j, head, kind))
    elif is_present_verb(tokens[j]) and abs(valence(tokens[j])) >= STRONG_VALENCE:  # "lesbians hate men"
        found.append((j, 1, valence_kind(tokens[j])))
    for k in range(j + max(head, 1), end):
        length = longest_match(tokens, k, LEXICON["in_predicate"])
        manner = tokens[k].endswith("ly") and valence_kind(tokens[k])  # "treat their wives badly"
        if length:
            found.append((k, length, "negative"))
        elif (habitual or manner) and valence_kind(tokens[k]):
            found.append((k, 1, valence_kind(tokens[k])))
    return found


def is_present_verb(word: str) -> bool:
    """Roughly: a word that can be a present-tense verb, so not a past form or a grammar word."""
    past = word.endswith("ed") and not word.endswith("eed")  # "need", "feed" are present
    return (word.isalpha() and not past and word not in IRREGULAR_PAST and word not in LINK_WORDS
            and word not in NEGATORS and word not in PREDICATE_ENDS)


def linked_attributes(tokens: list[str], j: int, category: str, form: str) -> tuple[list[tuple[int, int, str]], bool]:
    """(attributes, negated) after a generic mention ending at tokens[j]: only linking words may come between.
    After the copula a valenced word is a trait ("are petty"); a verb phrase is read by verb_phrase, but only
    after a bare plural ("men dodge") or a copula or modal: "a woman walked in" is a story, and "the poor fools"
    or "the blind rage" use the collective as an adjective."""
    found, negated, copular, habitual, modal, links = [], False, False, False, False, 0
    if tokens[j:j + 1] == ["'s"]:  # "a woman's gift": possessive
        return [], False
    while j < len(tokens) and links <= MAX_LINK_WORDS:
        word = tokens[j]
        hedge = longest_match(tokens, j, HEDGES)
        if hedge:
            j += hedge
            continue
        if tokens[j:j + 2] == ["end", "up"]:  # "will end up a drain on society": what they become
            copular, links, j = True, links + 1, j + 2
            continue
        have = j + 1 if word == "don't" else j + 2 if tokens[j:j + 2] == ["do", "not"] else 0
        if have and tokens[have:have + 1] == ["have"]:  # "don't have feelings" says "have no feelings"
            lack = ["have", "no", *tokens[have + 1:have + LEXICON["longest"]]]
            length = longest_match(lack, 0, LEXICON["attributes"])
            if length > 2:
                found.append((j, have - j + length - 1, "negative"))
                j = have + length - 1
                continue
        if found and word in STACK_WORDS:
            j += 1
            continue
        resume = resumed_at(tokens, j)
        if resume:
            j, form = resume, "plural"
            continue
        length, kind = lexicon_attribute(tokens, j, category)
        if length:
            found.append((j, length, kind))
            j += length
            continue
        if word == "never" and j + 1 < len(tokens) and is_present_verb(tokens[j + 1]):
            found.append((j, 2, "negative"))  # "men never ask for directions": a habit, not a denial
            j += 2
            continue
        kind_of_people = form != "singular"  # "a man cannot steal" in old books means anyone
        if kind_of_people and word in CANNOT and j + 1 < len(tokens) and is_present_verb(tokens[j + 1]):
            found.append((j, 2, "negative"))  # "boomers can't follow a recipe": an inability of the group
            j += 2
            continue
        if kind_of_people and word in ABSOLUTE and j + 1 < len(tokens) and is_present_verb(tokens[j + 1]) \
                and not copular:
            found.append((j, 2, "negative"))  # "the unemployed always sleep until noon"
            j += 2
            continue
        following = tokens[j + 1] if j + 1 < len(tokens) else ""
        if word == "less":  # "less intelligent" says "not intelligent"; "less likely to steal" denies the habit
            negated, links, j = True, links + 1, j + 1
            continue
        if word in ("likely", "known") and following == "to":  # "more likely to <verb>", "known to <verb>"
            copular, habitual, links, j = False, True, links + 1, j + 2
            continue
        if word == "twice" or following == "times" and (word.isdigit() or word in NUMBER_WORDS) \
                or word == "as" and following == "likely":  # "three times more likely to", "twice as likely"
            links, j = links + 1, j + (2 if following == "times" else 1)
            continue
        cause = longest_match(tokens, j, CAUSE_LINKS) if copular else 0
        if cause:  # "being gay is a result of child abuse": a cause or sign with a bad name
            for k in range(j + cause, min(len(tokens), j + cause + CAUSE_WORDS)):
                if tokens[k] in PREDICATE_ENDS:
                    break
                if valence_kind(tokens[k]) == "negative":
                    found.append((j, k + 1 - j, "negative"))
                    break
            break
        if word == "that" and copular and following and (lexicon_attribute(tokens, j + 1, category)[0]
                                                         or valence_kind(following)):
            links, j = links + 1, j + 1  # "only women are that violent": "that" as a degree, not a clause
            continue
        if word == "too" and copular and following.isalpha() and following not in LINK_WORDS:
            found.append((j, 2, "negative"))  # "are too girly": an excess of anything is the criticism
            j += 2
            continue
        if copular and word in ASCRIBING and following in ("as", "like"):  # "should be treated as a threat"
            links, j = links + 1, j + 2
            continue
        adverb = word.endswith("ly") and len(word) > 4 and word.isalpha() and word not in NEGATORS | LINK_WORDS
        if copular and (adverb or word in SELDOM) and not valence_kind(word) \
                and not lexicon_attribute(tokens, j, category)[0]:
            negated = negated or word in SELDOM  # "are rarely violent" denies it
            links, j = links + 1, j + 1  # "are statistically / notoriously / genuinely lazy": an adverb links
            continue
        if word in NEGATORS or word in LINK_WORDS:
            negated = negated or word in NEGATORS
            copular = copular or word in COPULAS
            habitual = habitual or word in HABITUAL
            modal = modal or word in MODALS
            links += 1
            j += 1
            continue
        if word in CLAUSE_BREAKS or found:
            break
        passive = word.endswith(("ed", "en")) and len(word) > 4
        if copular and not word.endswith("ing") and not passive and valence_kind(word):
            found.append((j, 1, valence_kind(word)))
            j += 1
            continue
        modified = lexicon_attribute(tokens, j + 1, category) if copular and word.isalpha() \
            and j + 1 < len(tokens) else (0, "")
        if copular and tokens[j - 1] in ("a", "an", "the") and word.isalpha() and not modified[0] \
                and j + 1 < len(tokens) and valence_kind(tokens[j + 1]) == "negative":
            modified = (1, "negative")  # "are a bigger threat": a noun after an article and one modifier
        if modified[0] and word not in PREDICATE_ENDS:  # "are naked savages", "are a huge drain": one modifier
            found.append((j + 1, modified[0], modified[1]))
            j += 1 + modified[0]
            continue
        if (not copular or word.endswith("ing")) and (modal or form in ("plural", "described", "institution")):
            found += verb_phrase(tokens, j, category, habitual)
        break
    return found, negated


def suspicion_after(tokens: list[str], start: int, i: int, end: int, clause_end: int) -> int:
    """Length of a "you can never tell" that ends the clause with "with X" before or after it; 0 if none."""
    def closing(k):
        length = longest_match(tokens, k, LEXICON["suspicion"])
        return length if length and (k + length >= clause_end or tokens[k + length] in PREDICATE_ENDS) else 0
    if tokens[i - 1:i] != ["with"] and tokens[max(0, i - 2):i] != ["with", "the"]:
        return 0
    for k in list(range(end, min(end + 2, clause_end))) + list(range(max(start, i - 6), i - 1)):
        if closing(k):
            return closing(k)
    return 0


def nature_claim(tokens: list[str], start: int, end: int, group_end: int) -> int:
    """Index of a word that puts a trait into a group's nature ("in their blood", "in Gypsy culture", "by
    nature", "genetic") in tokens[start:end]; 0 if none. Only read once a group is mentioned in the clause."""
    for k in range(max(start, 1), end):
        if tokens[k] in NATURE_WORDS or tokens[k] == "nature" and tokens[k - 1] == "by":
            return k
        # "in their blood", or "in Gypsy culture" right after the mention; not "in human nature"
        if tokens[k] in NATURE_AFTER_IN and (tokens[k - 2:k] == ["in", "their"] or k == group_end
                                             or k == group_end + 1 and tokens[group_end] == "'s"):
            return k
    return 0


def measured_against(tokens: list[str], start: int, i: int, end: int, form: str, category: str) -> bool:
    """One person measured against a group: "throws like a girl", "he must be gay", "typical boomer
    behaviour". "looks like a girl" describes; only a verb of doing before "like" makes the comparison. Old
    books compare to "a man", "a father", "a lady" as a manner, not a group, so of gender only "girl" and
    "old woman" count, and "like a man who ..." describes the man."""
    before, mention = tokens[start:i], tuple(tokens[i:end])
    comparison = category != "gender" or mention in LIKE_A_GENDER
    described = end < len(tokens) and tokens[end] in ("who", "that", "whose")
    if comparison and not described and form == "singular" and before[-2:-1] == ["like"] \
            and before[-1] in ("a", "an") and len(before) >= 3:
        return before[-3] not in COPULAS and before[-3] not in ("just", "feel", "feels", "dressed")
    if before[-2:] == ["must", "be"] and (end >= len(tokens) or tokens[end] in PREDICATE_ENDS):
        return True
    return "typical" in before[-2:] and end < len(tokens) and tokens[end] in GROUP_STANDARD


def determined_from(tokens: list[str], start: int, i: int) -> int:
    """Where the determiners before the mention at tokens[i] begin ("death to [all the] X"); i if none."""
    while i > start and tokens[i - 1] in URGED_DETERMINERS:
        i -= 1
    return i


def has_phrase(tokens: list[str], phrases) -> bool:
    return any(longest_match(tokens, k, phrases) for k in range(len(tokens)))


def urged_against(tokens: list[str], start: int, i: int) -> str:
    """"derogatory" for an urged, threatened or wished harm to the mention at tokens[i] ("we should ban X", "I'm
    going to shoot those X", "death to all X"), "negative" for a negated shunning, else ""."""
    lead = tokens[start:determined_from(tokens, start, i)]
    if lead[-3:] == ["better", "off", "without"]:
        return "negative"  # "we would be better off without immigrants"
    if lead[-2:] == ["death", "to"]:
        return "derogatory"
    for than in range(max(1, len(lead) - 3), len(lead)):  # "better off dead than crippled", "rather die than date a X"
        if lead[than] == "than" and lead[than - 1] in ("dead", "die") \
                and all(word in ("be", "date", "marry") for word in lead[than + 1:]):
            return "derogatory"
    if len(lead) >= 3 and lead[-1] == "by" and lead[-2] in DAMAGED and lead[-3] in ("being", "is", "are", "'s", "'re"):
        return "negative"  # "our culture is being destroyed by (the) immigrants": the group blamed for the harm
    for k in range(max(start, i - 6), i):
        phrase = longest_match(tokens, k, HARM_PHRASES)
        harm = bool(phrase) or tokens[k] in HARMS
        if not harm and tokens[k] not in SHUNNINGS or tokens[k + 1] in ("'d", "'s") or tokens[k - 1:k] == ["have"]:
            continue  # "kill'd", "would not have hired": an event
        verb_end = k + max(phrase, 1)
        if verb_end < i - 3 or any(word not in URGED_DETERMINERS for word in tokens[verb_end:i]):
            continue  # "kill my husband": one person
        before = tokens[start:k]
        negated = bool(NEGATORS & set(before)) or "not" in before
        first_person = bool(FIRST_PERSON & set(before))
        urged = k == start or tokens[start] in IMPERATIVE_OPENERS or bool(URGING & set(before)) \
            or any(pair in (("have", "to"), ("has", "to"), ("i", "would"), ("i", "'d"), ("we", "would"))
                   for pair in zip(before, before[1:])) \
            or first_person and has_phrase(before, INTENT) or has_phrase(before, WISHING) \
            or has_phrase(before, {("let", "'s")})
        # "the old law would not allow": a past habit, and "we will hire women" a plan, not a threat
        if urged and harm and not negated:
            return "derogatory"
        if urged and not harm and negated:
            return "negative"
    return ""


def suffering_wished(tokens: list[str], start: int, i: int, group_end: int) -> bool:
    """"I'd love to see those X suffer", "I want to watch all the X die": a wish to watch the group suffer."""
    if tokens[group_end:group_end + 1] == [] or tokens[group_end] not in SUFFERINGS:
        return False
    k = determined_from(tokens, start, i) - 1
    wish = tokens[start:k]
    wished = has_phrase(wish, WISHING | {("love", "to"), ("like", "to")}) \
        or bool(FIRST_PERSON & set(wish)) and has_phrase(wish, INTENT)
    return k >= start and tokens[k] in ("see", "watch") and wished


def harm_after(tokens: list[str], j: int, clause_end: int) -> str:
    """What the words after a plural mention ending at tokens[j] say of harming it: "derogatory" for a harm urged
    on it or deserved ("should all be shot", "ought to be executed", "deserve to die"), "denied" for the same
    denied ("should not be shot", "don't deserve to be tortured"), else "". Said of "those X" too: a harm urged
    needs no generalisation."""
    urged, deserved, negated, k = False, False, False, j
    while k < min(clause_end, j + 6):
        word, following = tokens[k], tokens[k + 1:k + 2]
        if word in URGING or word in ("deserve", "deserves"):
            urged, deserved = True, deserved or word in ("deserve", "deserves")
        elif word == "be" and urged and following and following[0] in HARMED \
                or word in SUFFERINGS and deserved and tokens[k - 1] == "to":
            return "denied" if negated else "derogatory"
        elif word in NEGATORS:
            negated = True
        elif word not in ("all", "just", "simply", "really", "to", "be", "do", "does", "have", "has", "surely"):
            return ""
        k += 1
    return ""


def exclaimed_trait(tokens: list[str], start: int, i: int, end: int, category: str) -> list[tuple[int, int, str]]:
    """The trait of "how <trait> X are" ("it's amazing how lazy immigrants are"): the copula comes after the
    group, the trait before it, one adverb allowed ("how very rude")."""
    if end >= len(tokens) or tokens[end] not in BE_PRESENT:
        return []
    for at in (i - 1, i - 2):
        if at - 1 >= start and tokens[at - 1] == "how":
            length, kind = lexicon_attribute(tokens, at, category)
            if length:
                return [(at, length, kind)]
            kind = valence_kind(tokens[i - 1])  # the word just before the group, after any adverb
            return [(i - 1, 1, kind)] if kind else []
    return []


def hostility_before(tokens: list[str], start: int, i: int) -> tuple[int, int]:
    """(at, length) of the writer's hostility to the mention at tokens[i] ("I hate immigrants", "sick of all the
    gay people"); (0, 0) if none, denied ("I don't hate") or someone else's ("bigots who hate Muslims")."""
    for k in range(max(start, i - 6), i):
        length = longest_match(tokens, k, HOSTILITY)
        if not length or any(word not in HOSTILE_DETERMINERS for word in tokens[k + length:i]):
            continue
        if k > start and not FIRST_PERSON & set(tokens[max(start, k - 4):k]):
            return 0, 0
        return (0, 0) if NEGATORS & set(tokens[max(start, k - 2):k]) else (k, length)
    return 0, 0


def denied_identity(tokens: list[str], i: int, group_end: int) -> tuple[int, str]:
    """(at, kind) of a gender term in the predicate that denies a described mention its own gender; (0, "") if
    none. "trans women are (really just) men" is the negative claim; "a trans woman is not a (real) woman"
    returns the affirmation ("positive"), which the negation then turns into the negative claim, as it does
    "aren't clever enough"."""
    own = SEX_OF_NOUN.get(tokens[group_end - 1])
    if not own or group_end - i < 2 or group_end >= len(tokens) or tokens[group_end] not in BE_PRESENT:
        return 0, ""
    k, negated = group_end + 1, False
    while k < len(tokens) and (tokens[k] in IDENTITY_ADVERBS or tokens[k] in NEGATORS or tokens[k] in ("a", "an")):
        negated, k = negated or tokens[k] in NEGATORS, k + 1
    other = SEX_OF_NOUN.get(tokens[k]) if k < len(tokens) else None
    ends = k + 1 >= len(tokens) or tokens[k + 1] in PREDICATE_ENDS | {"and"}
    if other and ends and other != own and not negated:
        return k, "negative"
    if other and ends and other == own and negated:
        return k, "positive"
    return 0, ""


def superlative_subject(tokens: list[str], start: int, i: int, group_end: int) -> list[tuple[int, int, str]]:
    """Attributes of "the worst drivers are X" / "the laziest people are X": the group named as the extreme,
    closing its clause; [] if the clause does not have that shape."""
    copula = i - 1
    if copula <= start or tokens[copula] not in ("are", "is") or group_end < len(tokens) \
            and tokens[group_end] not in PREDICATE_ENDS:
        return []
    for k in range(max(start, copula - 5), copula - 1):
        superlative = tokens[k + 1]
        if tokens[k] == "the" and (superlative in SUPERLATIVES or superlative.endswith("est") and len(superlative) > 5):
            return attributes_in(tokens, k + 1, copula, range(0), "")
    return []
