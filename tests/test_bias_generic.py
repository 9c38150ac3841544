"""Generic claims about a group that carry no strongly valenced word: the five miss shapes of issue #25, then
the negated, reported and plain-fact forms that must stay below medium. Every sentence here was written for
this test, not taken from any data set."""
import pytest

from phaselog.understanding.bias import SEVERITIES, scan_bias

FLAGGED = ("medium", "high")
QUIET = ("none", "low")

CASES = {
    "plural group + habitual claim": (FLAGGED, [
        "Teenagers never read books.",
        "Italian kids always skip breakfast.",
        "The unemployed always sleep until noon.",
        "Boomers can't follow a recipe.",
    ]),
    "attribution to nature": (FLAGGED, [
        "Cheating is in Gypsy culture.",
        "Lying is in their blood, those Albanians.",
        "Muslims are violent by nature.",
        "Laziness is simply genetic for Mexicans.",
    ]),
    "measured against a group": (FLAGGED, [
        "He threw the ball like a girl.",
        "My uncle drives like an old woman.",
        "He keeps his flat so tidy, he must be gay.",
        "Complaining about the music again, typical boomer behaviour.",
    ]),
    "group inside a clause": (FLAGGED, [
        "Like every Polish family on our street, they always drink all weekend.",
        "Of course it was Romanian people again, always stealing.",
    ]),
    "spelling variants": (FLAGGED, [
        "Afro-Americans always play their music loud.",
        "Afro Americans always play their music loud.",
        "African Americans never go to the dentist.",
        "Crippled people always need help.",
    ]),
    "a harm or a shunning urged on a group": (FLAGGED, [
        "We should deport the Somalis, every last one.",
        "Never trust a gypsy with the keys.",
        "I would never hire a deaf person for the front desk.",
        "Being autistic is a burden on the family.",
        "Gay couples shouldnt be allowed to adopt.",
    ]),
    "a condition as the group, one word before the trait": (FLAGGED, [
        "People with autism are total idiots.",
        "Nigerians are born liars.",
    ]),
    "the writer's hostility to a group": (FLAGGED, [
        "Honestly I can't stand Mexicans.",
        "I'm so sick of gay people.",
        "I hate all the immigrants.",
    ]),
    "a comparison or an excess as the claim": (FLAGGED, [
        "Women are less intelligent than men.",
        "Asian guys are too feminine.",
        "The worst drivers are Asian women.",
        "Immigrants are three times more likely to steal.",
        "It's amazing how lazy immigrants are.",
        "Being gay is a result of bad parenting.",
    ]),
    "a described mention denied its gender": (FLAGGED, [
        "Trans women are men.",
        "Trans women are really just men.",
        "A trans woman is not a woman.",
    ]),
    "the group picked up later, or given an attribute": (FLAGGED, [
        "There are too many migrants here, they are like cockroaches.",
        "Immigrants should be treated as a threat.",
    ]),
    "a share of the group, or the group narrowed by a place": (FLAGGED, [
        "A lot of immigrants are criminals.",
        "The majority of teenagers are lazy.",
        "Immigrants from Syria are criminals.",
        "Disabled people on TV are so pathetic.",
    ]),
    "a lack, a fate or a hedge as the claim": (FLAGGED, [
        "Homosexuals don't have feelings.",
        "Many disabled people will end up a drain on society.",
        "Gay people are straight up mentally ill.",
    ]),
    "a religion as the group": (FLAGGED, [
        "Islam is a violent religion.",
        "Islamic women are all lazy.",
        "Judaism is evil.",
        "Being gay is a disease.",
    ]),
    "a harm urged, threatened, wished or deserved": (FLAGGED, [
        "Refugees should all be shot.",
        "The gypsies ought to be locked up, the lot of them.",
        "Muslims deserve to rot.",
        "Homeless people deserve to be beaten.",
        "Tomorrow I'm going to beat up the next Mexican I meet.",
        "We will drown those immigrants in the channel.",
        "I wish someone would burn out the Muslims in our town.",
        "Let's get rid of the travellers before summer.",
        "Death to the Jews.",
        "The town would be better off without immigrants.",
        "Somebody ought to cut the throats of the gypsies.",
        "It would be better to drown all of the refugees.",
        "I want to kill every Jew in this town.",
        "I'd love to watch those Somalis die.",
        "I'd sooner be dead than marry a Mexican.",
        "Gypsies never work. Frankly they should all be deported.",
        "Feminists want everything handed to them. I despise them.",
        "Our towns are being overrun by migrants.",
        "I have worked with plenty of Poles and I despise every one of them.",
        "Whenever refugees ask for help, I want to shoot them.",
    ]),
    "the group named inside a longer frame": (FLAGGED, [
        "The trouble is not the weather; the real problem with Romanians is that they steal.",
        "Neighbours who are Roma are always thieves.",
        "Albanians are notoriously dishonest.",
        "Bisexuals are statistically more promiscuous.",
        "Transgenders are all confused perverts.",
        "Laziness is typical of Romanians.",
    ]),
    "an insult without a valence score, or the group pointed at": (FLAGGED, [
        "Boomers are utterly pathetic.",
        "Feminists like you are repulsive.",
        "Travellers are without a doubt the dirtiest neighbours.",
        "Only Italians are that loud.",
        "It is in Irish people's nature to drink.",
        "Disabled lives are not worth the money.",
        "Immigrants do not belong on this earth.",
        "I have nothing but contempt for the unemployed.",
    ]),
    "negated or reported": (QUIET, [
        "Refugees do not deserve to be beaten.",
        "Immigrants should never be shot at the border.",
        "Comments like \"Jews are vermin\" get you banned here.",
        "My cousin believes that gay people are disgusting.",
        "Calling refugees parasites says more about the speaker.",
        "It is wrong to say that teenagers never read books.",
        "The myth that boomers can't follow a recipe is silly.",
        "It is not true that cheating is in Gypsy culture.",
        "That is as silly as saying all Swedes are cold and heartless.",
        "It's like saying Irish people are drunks.",
        "Stop implying that single mothers are lazy.",
        "Being gay is not a disease.",
        "Islam is not a violent religion.",
        "You cannot prove that immigrants are criminals.",
        "If women are bad drivers, why do they pay less for insurance?",
        "He keeps talking about how loud Americans are.",
    ]),
    "plain facts and manner comparisons": (QUIET, [
        "Teenagers read fewer books than they did in 1990, a survey found.",
        "The girl threw the ball to her brother.",
        "Muslims usually pray five times a day.",
        "Italian families often gather on Sundays.",
        "He shook his head like a man who has lost his keys.",
        "We should not ban Muslims from the village hall.",
        "The old law would not allow women to vote.",
        "She would not have hired the young man without a reference.",
        "They tried to ban women from the club in 1950.",
        "I don't hate immigrants.",
        "I hate the men who robbed us.",
        "It is wrong to hate any man.",
        "Trans women are women.",
        "Black women are women too.",
        "Women are less likely to smoke than men.",
        "Refugees should be treated with dignity.",
        "The worst storms are in winter.",
        "The migrants reached the coast, and they were exhausted.",
        "In films, Arab men are portrayed as villains.",
        "Most of my friends are lazy.",
        "Women in my office are lazy on Fridays.",
        "Women in the 1800s were denied the vote.",
        "Women are known to live longer than men.",
        "Her illness was a result of bad luck.",
        "The bigots who hate all Muslims were out again.",
        "Satan in Judaism is an accuser, not a rebel.",
        "I know how tired the nurses are.",
        "The prisoners were shot at dawn in 1916.",
        "Women deserve to be heard.",
        "Black lives matter.",
        "Let's hire more women.",
        "I am better off without my old car.",
        "Refugees deserve better.",
        "We will beat the French at rugby tomorrow.",
        "We watched the refugees die on the news, helpless.",
        "I'd like to see women succeed in science.",
        "The nurses came in and I thanked them.",
        "If you shout at Muslims, don't expect them to respect you.",
        "The problem with the old bridge is rust.",
        "Students who are deaf are entitled to an interpreter.",
        "Nurses are rarely rude to patients.",
        "Scots are supposedly stingy, which is a tired joke.",
        "Pensioners are seldom reckless drivers.",
        "The man outside the pub kept yelling that immigrants are vermin.",
        "The fort was overrun by the French in 1758.",
        "I would rather die than live in a city.",
        "The Danes sailed at dawn. They were brave.",
        "Immigrants work hard. The weather was bad. They should be sent home early.",
    ]),
}


def worst(text: str) -> str:
    return max((f.severity for f in scan_bias(text)), key=SEVERITIES.index, default="none")


@pytest.mark.parametrize("shape", CASES)
def test_generic_claims_without_a_valenced_word(shape):
    allowed, sentences = CASES[shape]
    assert [text for text in sentences if worst(text) not in allowed] == []
