"""Generic claims about a group that carry no strongly valenced word: the five miss shapes of issue #25.
Every sentence here was written for this test."""
import pytest

from phaselog.understanding.bias import SEVERITIES, scan_bias


def worst(text: str) -> str:
    return max((f.severity for f in scan_bias(text)), key=SEVERITIES.index, default="none")


@pytest.mark.parametrize("text", [
    "Teenagers never read books.",
    "Italian kids always skip breakfast.",
    "The unemployed always sleep until noon.",
    "Boomers can't follow a recipe.",
])
def test_plural_group_with_a_habitual_claim_is_medium(text):
    assert worst(text) == "medium", text


@pytest.mark.parametrize("text", [
    "Cheating is in Gypsy culture.",
    "Lying is in their blood, those Albanians.",
    "Muslims are violent by nature.",
    "Laziness is simply genetic for Mexicans.",
])
def test_attribution_to_nature_is_medium(text):
    assert worst(text) in ("medium", "high"), text


@pytest.mark.parametrize("text", [
    "He threw the ball like a girl.",
    "My uncle drives like an old woman.",
    "He keeps his flat so tidy, he must be gay.",
    "Complaining about the music again, typical boomer behaviour.",
])
def test_measured_against_a_group_is_medium(text):
    assert worst(text) == "medium", text


@pytest.mark.parametrize("text", [
    "Like every Polish family on our street, they always drink all weekend.",
    "Of course it was Romanian people again, always stealing.",
])
def test_group_inside_a_clause_is_found(text):
    assert worst(text) in ("medium", "high"), text


@pytest.mark.parametrize("text", [
    "Afro-Americans always play their music loud.",
    "Afro Americans always play their music loud.",
    "African Americans never go to the dentist.",
    "Crippled people always need help.",
])
def test_spelling_variants_of_group_names(text):
    assert worst(text) == "medium", text


@pytest.mark.parametrize("text", [
    "It is wrong to say that teenagers never read books.",
    "The myth that boomers can't follow a recipe is silly.",
    "It is not true that cheating is in Gypsy culture.",
])
def test_negated_or_reported_generic_claims_stay_low(text):
    assert worst(text) in ("none", "low"), text


@pytest.mark.parametrize("text", [
    "Teenagers read fewer books than they did in 1990, a survey found.",
    "The girl threw the ball to her brother.",
    "Muslims usually pray five times a day.",
    "Italian families often gather on Sundays.",
])
def test_plain_facts_about_groups_stay_below_medium(text):
    assert worst(text) in ("none", "low"), text
