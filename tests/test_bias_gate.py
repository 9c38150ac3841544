"""The gate in front of the learned bias scorer (understanding/bias_gate.py, issue #39): which sentences name a
group in a way worth scoring, with the period vocabulary, and the stance signals it hands on. Sentences written
for these tests, in the register of the books; the dev figures are recomputed from the committed book corpus
(dev split only) and held at the values docs/detectors.md gives."""
from phaselog.bias_tooling.gate_figures import dev_pass_rates, dev_rows
from phaselog.understanding.bias_gate import (group_mentions, modern_mentions, modern_sentences,
                                               sentences_to_score, stance_signals)


def mentioned(sentence: str) -> list[tuple[str, str]]:
    return [(m.text, m.category) for m in group_mentions(sentence)]


def mentioned_after(previous: str, sentence: str) -> list[tuple[str, str]]:
    return [(m.text, m.category) for m in group_mentions(sentence, previous)]


def test_period_group_words_are_mentions_with_their_category_and_span():
    assert mentioned("The Hindoos are a gentle and timid race.") == [("Hindoos", "religion")]
    assert mentioned("Chinamen will work for any wage.") == [("Chinamen", "ethnicity")]
    assert mentioned("Paddy is ever ready for a quarrel.") == [("Paddy", "nationality")]
    assert mentioned("Idiots and cripples are a burden on the parish.") == [("Idiots", "disability"),
                                                                             ("cripples", "disability")]
    sentence = "A Jewess will drive a hard bargain."
    mention = group_mentions(sentence)[0]
    assert (mention.category, sentence[mention.start:mention.end]) == ("religion", "Jewess")


def test_dialect_spellings_in_dialogue_are_mentions():
    assert mentioned("\"Them Injuns never forgive a wrong,\" said the trapper.") == [("Injuns", "ethnicity")]
    assert mentioned("\"Furriners is all alike, sir.\"") == [("Furriners", "nationality")]


def test_class_is_a_category_of_its_own():
    assert mentioned("The lower orders are incapable of gratitude.") == [("The lower orders", "class")]
    assert mentioned("Peasants never think beyond their next meal.") == [("Peasants", "class")]
    assert mentioned("The poor are always improvident.") == [("The poor", "socioeconomic")]


def test_a_person_judged_through_the_group_is_a_mention():
    assert mentioned("He lied to us, like all his race.") == [("his race", "ethnicity")]
    assert mentioned("She watched him with the cunning of her people.") == [("her people", "ethnicity")]
    assert mentioned("He broke his word, as faithless Moors will.") == [("Moors", "ethnicity")]


def test_inversion_and_archaic_syntax_pass():
    assert mentioned("Such is the Hindoo character.") == [("Hindoo", "religion")]
    assert mentioned("A people by nature idle and filthy.") == [("A people", "nationality")]
    assert mentioned("Cunning were the Malays, and cruel.") == [("Malays", "ethnicity")]


def test_one_person_named_by_a_group_word_is_not_a_mention():
    for sentence in ("The old man walked slowly to the door.", "His wife said nothing at dinner.",
                     "Lady Catherine was already in the room.", "She answered him in French.",
                     "We sat in the old house until dark.", "A poor woman came to the gate.",
                     "My lords, the king is dead.", "The sun rose over the hills."):
        assert group_mentions(sentence) == [], sentence


def test_generic_singulars_and_bare_kinds_stay_mentions():
    assert mentioned("Woman is by nature meant to obey.") == [("Woman", "gender")]
    assert mentioned("Every servant expects to become a master.") == [("servant", "class")]
    assert mentioned("The old feel not, they love not.") == [("The old", "age")]


def test_a_they_carries_the_group_of_the_sentence_before():
    previous = "The Timorese are generally great thieves."
    assert mentioned_after(previous, "They cheat and plunder the traders continually.") == [("They", "ethnicity")]
    assert mentioned_after("We walked on in the rain.", "They cheat and plunder the traders continually.") == []


def test_a_they_after_humankind_carries_no_group():
    """Meditations IX as a run's window holds it (a line is a sentence to the split): "men" is people at large."""
    previous = "either wittingly or unwittingly should do anything amiss) nor men, (for"
    assert mentioned_after(previous, "it is through ignorance, and therefore against their wills that they do") == []
    assert mentioned_after("Women are weak, and men are strong.", "They never forgive a wrong.") == [
        ("They", "gender")]  # men set beside women are a sex


def test_a_they_with_its_antecedent_in_its_own_sentence_carries_nothing():
    """Beyond Good and Evil, read as the shared corpus's 2 kB texts read it."""
    assert mentioned_after(
        "--or as resolute will to dangerous voyages of discovery, to spiritualized North Pole expeditions under "
        "barren and dangerous skies", "There may be good grounds for it when warm-blooded and superficial "
        "humanitarians cross themselves before this spirit") == []
    assert mentioned_after(
        "This sympathizing invariably deceives itself as to its power; woman would like to believe that love can "
        "do EVERYTHING--it is the SUPERSTITION peculiar to her", "the martyrdom of the most innocent and most "
        "craving heart, with terrible outbursts against those who refused him their love") == []
    assert mentioned("spiritualized North Pole expeditions under barren and dangerous skies") == []


def test_that_people_after_a_verb_is_no_people():
    """Problems of Philosophy: the conjunction "that" before "people" (persons) names no nation."""
    assert mentioned("It constantly happens that people entertain a true belief, which has grown up in them "
                     "because of some piece of intuitive knowledge") == []
    assert mentioned("The origin of the wearing of the leek on St. David's day, among that people, is thus "
                     "given") == [("that people", "ethnicity")]  # Mrs Beeton on the Welsh


def test_a_belief_and_a_time_of_life_are_no_people():
    """Beyond Good and Evil's false alarms (docs/detectors.md, "The philosophers read again"): a faith is what its
    believers hold, old age a time of anyone's life; the believers and the old themselves stay mentions."""
    assert mentioned("There is cruelty and religious Phoenicianism in this faith, which is adapted to a tender, "
                     "many-sided, and very fastidious conscience") == []
    assert mentioned("only in their simulations, or in their weaker moments, in old age perhaps, were they of the "
                     "fatherlands") == []
    assert mentioned("There is cruelty in the Christians, who are adapted to a tender conscience.") == [
        ("Christians", "religion")]
    assert mentioned("The old are querulous in their weaker moments.") == [("The old", "age")]


def test_one_person_had_or_born_is_not_a_mention():
    """Meditations: "a wife" after "have", "a slave" after "born" name one person; a wife or slave as a kind stays."""
    assert mentioned("That I have such a wife, so obedient, so loving, so ingenuous") == []
    assert mentioned("For thou art born a mere slave, to thy senses and brutish affections") == []
    assert mentioned("A wife is ever obedient, loving and ingenuous.") == [("wife", "gender")]
    assert mentioned("Every slave is a slave to his senses and brutish affections.") == [
        ("slave", "class"), ("slave", "class")]


def test_a_text_gives_the_scorer_only_the_sentences_that_pass():
    text = ("We rode all day through the hills. The Timorese are generally great thieves.\nThey cheat the traders. "
            "The old man walked slowly to the door.")
    passed = sentences_to_score(text)
    assert [(sentence, [m.text for m in mentions]) for sentence, mentions in passed] == [
        ("The Timorese are generally great thieves.", ["Timorese"]), ("They cheat the traders.", ["They"])]


def test_the_modern_path_reads_a_peoples_name_in_lower_case_and_modern_group_words():
    """Written in ToxiGen's register: lower case, an identity adjective before a thing, a slur of today. Period
    prose capitalises a people's name, so there the word is left to the book rules."""
    def modern(sentence):
        return [(m.text, m.category) for m in modern_mentions(sentence)]
    assert modern("you can always tell a chinese driver") == [("chinese", "nationality")]
    assert modern("the jewish race loves money") == [("jewish", "religion")]
    assert modern("a gay bar is no place for a family") == [("gay", "sexual_orientation")]
    assert modern("those muzzies again") == [("muzzies", "religion")]
    assert modern("He spoke of the Chinese and their ways.") == []
    assert modern("The sun rose over the hills.") == []


def test_the_modern_path_takes_only_what_the_book_gate_drops():
    text = "The Timorese are generally great thieves. you know you are chinese if you cant say the letter l"
    passed = {sentence for sentence, _ in sentences_to_score(text)}
    assert passed == {"The Timorese are generally great thieves."}
    assert [(sentence, [m.text for m in mentions]) for sentence, mentions in modern_sentences(text, passed)] == [
        ("you know you are chinese if you cant say the letter l", ["chinese"])]


def test_stance_signals_are_read_around_the_mention():
    def signals(sentence):
        return stance_signals(sentence, group_mentions(sentence))
    assert signals("It is a myth that women are bad drivers.").counter_speech
    assert signals("They say that the Irish are lazy.").reported
    assert signals("\"The Irish are lazy,\" he said.").quoted
    assert signals("Not all Germans are rude.").denied
    assert signals("If the Jews are so clever, why are they poor?").supposed
    assert signals("Supposing a statesman were to bring his people into the position of practising high "
                   "politics, for which they were by nature badly endowed").supposed
    assert signals("So the Irish are lazy?").supposed  # asked, not asserted
    assert signals("He laughed: \"the Irish are lazy?\"").supposed  # a closing quote after the question mark
    # a question in its own words, or a tag asking to agree, puts the claim
    assert not any(signals(asked).supposed for asked in ("Are the Irish not lazy?", "Why are the Irish so lazy?",
                                                         "The Irish are lazy, right?", "But are the Irish lazy?"))
    plain = signals("The Irish are lazy.")
    assert not (plain.negated or plain.denied or plain.reported or plain.quoted or plain.counter_speech
                or plain.supposed)


def test_a_sentence_opening_on_another_s_point_of_view_is_a_report():
    """Meditations' translator: "To him they are only sectaries" gives Marcus's view of the Christians. The writer's
    own view ("in my eyes") and "to him who ...", anyone who, are no report."""
    previous = "The Christians were a sect that set itself against the State."
    sentence = "To him they are only sectaries 'violently and passionately set upon opposition"
    assert stance_signals(sentence, group_mentions(sentence, previous)).reported
    assert stance_signals("In his eyes the Irish are lazy.", group_mentions("In his eyes the Irish are lazy.")).reported
    for own in ("In my eyes the Irish are lazy.", "To him who feels himself made for contemplation, all believers are "
                "too noisy and obtrusive."):
        assert not stance_signals(own, group_mentions(own)).reported, own


def test_dev_pass_rates_are_held_at_the_measured_values():
    """docs/detectors.md gives these; after a change, rerun python -m phaselog.bias_tooling.gate_figures and
    update both."""
    rates = dev_pass_rates(dev_rows())
    assert (rates["endorsed (scored)"]["passed"], rates["endorsed (scored)"]["of"]) == (769, 808)
    # 154 before bias-gate's period vices (lexicons/attributes traits): one more passes on a word of judgement
    assert (rates["reported (scored)"]["passed"], rates["reported (scored)"]["of"]) == (155, 171)
    # 3065 before bias-fp2's belief, old age and one person had or born (docs/detectors.md, "The philosophers read
    # again"): none of them loses an endorsed sentence
    assert (rates["neutral (scored)"]["passed"], rates["neutral (scored)"]["of"]) == (3050, 3845)
    assert rates["endorsed (scored)"]["rate"] >= 0.95
    # rounds 4-8: dev books added after the rules were tuned, sampled by round 1's rule: the gate on unseen books
    for labelling_round, measured in UNSEEN_ROUNDS_PASSED.items():
        rates = dev_pass_rates(dev_rows(labelling_round=labelling_round))
        passed = tuple((rates[kind]["passed"], rates[kind]["of"])
                       for kind in ("endorsed (scored)", "reported (scored)", "neutral (scored)"))
        assert passed == measured, labelling_round


# (passed, of) for the scored endorsed, reported and neutral sentences of each later round's new books
UNSEEN_ROUNDS_PASSED = {
    4: ((72, 83), (8, 8), (297, 375)),  # 298 neutrals before bias-fp2's rules, and so on below
    # political economy, a missionary's travels, a history, a conduct book, an essay, sermons
    5: ((60, 63), (11, 11), (275, 371)),  # 277
    # two pamphlets, a school reader, an ethnography of Japanese women, lectures on China, a railway engineer's
    # East Africa
    6: ((66, 69), (9, 10), (299, 357)),
    # political papers and a speech with Reflections, essays, a history, a slave narrative, travel at sea and in
    # East Africa, natural history, a school reader
    7: ((81, 89), (16, 16), (467, 592)),  # 469
    # a peer's letters to his son, Paine's Rights of Man, a cookery book, Fuller on women, Bagehot on the
    # constitution, three of Twain's travels, Hearn's Japan; 99 of 110 and 363 of 479 before Life on the
    # Mississippi's two rows from Huckleberry Finn's raft chapter were made unusable
    8: ((98, 109), (15, 16), (358, 478)),  # 362
}
