"""Generated English text for synthesis: sentences, questions, lists, numbers and pauses.

All text is generated here from word lists written for this project (no copyrighted corpus),
chosen so every English phoneme occurs often: bilabials, labiodentals, rounded, open and
spread vowels, /l/ and /th/ in many contexts.
"""

from __future__ import annotations

import random

NOUNS = """baby ball balloon bamboo band bank basket bath beach bean bear beef bell belt bike bird
boat body bomb bone book boot bottle bowl box boy bread bridge brother brush bubble bus butter
cab cake camera candle cap car card carpet cat chair cheese cherry chicken child church circle
city clock cloud coat coffee coin cook cookie corner cow cup dad daughter day desk dinner doctor
dog doll door dragon dream dress drum duck earth egg engine eye face family farm father feather
fence field finger fire fish flag floor flower foam food foot forest fork fox friend frog fruit
game garden gate ghost gift girl glass glove goat gold goose grape grass guitar hair hammer hand
hat head heart hill home honey hook horse house island jacket jam jar jelly judge juice key king
kitchen kite knife ladder lamp leaf leg lemon letter library light lion lip lock loop lunch
machine map market meadow meal melon milk mirror money monkey moon morning mother mountain mouse
mouth movie mud museum music nail name neck needle nest night noodle nose number ocean office
oil orange oven owl page paint palm pan paper park party path peach pear pebble pen pencil
people pepper phone piano picture pie pig pillow pipe pizza plane plate pocket poem pool potato
puppy purple queen rabbit radio rain river road robot rock roof room rope rose ruby sand school
sea seed sheep shell ship shoe shop shoulder silver sister sky smile snake snow soap sock soup
spoon spring star stone storm street sugar summer sun table teacher thumb thunder ticket tiger
toe tomato tooth towel town toy train tree truck tulip umbrella uncle valley van vase village
violin voice wall watch water wave whale wheel window winter wolf woman wood word world yard
yogurt zebra zoo author thimble theatre thistle""".split()
VERBS = """ask bake bend bite blow boil borrow bounce break bring build burn buy call carry catch
choose clean climb close cook count cover cry cut dance dig draw drink drive drop eat fill find
fix fly fold follow give grab grow hear help hide hold hop hug jump keep kick kiss knock laugh
lift like listen look love make measure mix move need open paint pass pay peel pick play pour
pull push put reach read remember ride roll rub run save say see sell send sew shake share show
sing sit sleep smell splash spill stamp stop swim take talk taste teach tell think throw touch
view visit walk want wash watch wave whisper wipe write""".split()
ADJS = """big blue bold brave bright broad brown busy calm cheap clean clever cold cool cozy
cute dark deep dry dull early easy empty fair famous fast fat fine flat fluffy free fresh full
funny gentle giant glad good great green happy hard heavy high hot huge humble kind large late
lazy light little lively long loose loud lovely low mild modern moody muddy narrow neat new nice
noisy odd old open pale perfect pink plain polite poor proud purple quick quiet rare red rich
rough round royal sad safe sharp shiny short shy silly simple slow small smooth soft solid
sour spicy strong sweet tall thick thin tiny tough warm weak wet white wide wild wise yellow
young zippy""".split()
ADVS = "slowly quickly quietly loudly gently happily sadly boldly often never always maybe".split()
NAMES = """Bob Mary Peter Paul Molly Bill Beth Emma Tom Lou Ruth Sue Pam Ben Mike Phil Vera Olivia
Oscar Hugo Luke Ivy Ian Amy Owen Zoe Theo Martha Abby Walter Wendy Eve Uma""".split()
PREPS = "with on in under over behind beside near from into by for about above".split()
DETS = "the a my your his her our their this that some every one".split()
QWORDS = "who what where when why how which".split()
TEMPLATES_PLAIN = [
    "{det} {adj} {noun} {verb}s {det} {noun}.",
    "{name} {verb}s {det} {adj} {noun} {prep} {det} {noun}.",
    "{name} and {name} {verb} {det} {noun} {adv}.",
    "I {verb} {det} {adj} {noun}, then I {verb} {det} {noun}.",
    "{det} {noun} was {adj} and {adj}.",
    "We will {verb} {det} {noun} {prep} {det} {adj} {noun} tomorrow.",
    "Please {verb} {det} {noun}... and {verb} {det} {adj} {noun}.",
    "{name} said, {det} {noun} is too {adj}!",
    "Oh well, {det} {noun} {verb}s {adv}.",
    "Maybe the {noun} and the {noun} are {adj}; maybe not.",
]
TEMPLATES_Q = [
    "{qword} did {name} {verb} {det} {noun}?",
    "Is {det} {noun} {adj}?",
    "Can you {verb} {det} {adj} {noun} {prep} {det} {noun}?",
    "{qword} is {det} {adj} {noun}?",
    "Would {name} {verb} {det} {noun}, or {verb} {det} {noun}?",
]
FIXED = [
    "Bob bought a big blue balloon.",
    "My mom made my puppy a muffin.",
    "Five fine vans from Vermont.",
    "Peter picked up the purple paper.",
    "Who knew the blue moon would loom so soon?",
    "Oh no, Owen goes home alone.",
    "Father watched a hot pot on the car.",
    "Pam and Pat had a bad cat.",
    "Eat these green beans, Steve.",
    "Lily will lift the little lamp.",
    "Think of three thin thimbles.",
    "The feather fell from the fluffy owl.",
    "Why, you ruined my new shoes!",
    "Wow, how loud the cows are now.",
    "Measure the beige treasure, please.",
    "Judge Jim jumped over the bridge.",
    "Hmm. Um, well... maybe.",
    "Yes. No. Okay. Fine.",
    "Mama, papa, baby, bubble.",
    "Quick, put the map back on the pump!",
    "Moo, boo, pooh, who, woo.",
]


def _number(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.4:
        return str(rng.randint(0, 9999))
    if kind < 0.6:
        return f"{rng.randint(1, 12)}:{rng.randint(10, 59)}"
    if kind < 0.8:
        return f"{rng.randint(1, 99)}.{rng.randint(1, 99)}"
    return " ".join(str(rng.randint(0, 9)) for _ in range(rng.randint(3, 7)))


def sentence(rng: random.Random) -> str:
    """One random utterance of one to three sentences."""
    parts = []
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        r = rng.random()
        if r < 0.08:
            parts.append(rng.choice(FIXED))
            continue
        if r < 0.18:
            items = rng.sample(NOUNS, rng.randint(3, 6))
            parts.append(", ".join(items[:-1]) + ", and " + items[-1] + ".")
            continue
        if r < 0.26:
            parts.append(
                f"The {rng.choice(NOUNS)} costs {_number(rng)} dollars, not {_number(rng)}."
            )
            continue
        tpl = rng.choice(TEMPLATES_Q if r < 0.45 else TEMPLATES_PLAIN)
        text = tpl
        for key, pool in (
            ("{det}", DETS),
            ("{adj}", ADJS),
            ("{noun}", NOUNS),
            ("{verb}", VERBS),
            ("{name}", NAMES),
            ("{prep}", PREPS),
            ("{adv}", ADVS),
            ("{qword}", QWORDS),
        ):
            while key in text:
                text = text.replace(key, rng.choice(pool), 1)
        parts.append(text[0].upper() + text[1:])
    return " ".join(parts)
