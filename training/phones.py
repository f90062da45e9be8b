"""Phone inventories of every synthesis engine, mapped to one ARPAbet-like set.

Each engine labels phones its own way (flite: lowercase CMU; MBROLA us voices: SAMPA; en1:
British SAMPA; espeak-ng: its own mnemonics). An unknown label raises instead of quietly
becoming "consonant", because a silent fall-through teaches the model wrong mouths.
Canonical labels: ARPAbet without stress digits, "AX" for schwa, "" for silence; "+" marks a
modifier (espeak-ng's ";" palatalisation) that extends the phone before it.
"""

from __future__ import annotations

CANONICAL = (
    "AA AE AH AO AW AX AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH "
    "UH UW V W Y Z ZH"
).split() + [""]

FLITE = {p.lower(): p for p in CANONICAL if p} | {"pau": "", "axr": "ER", "h#": ""}

# Consonant labels that SAMPA and espeak-ng's mnemonics share.
_CONSONANTS = {
    "b": "B",
    "d": "D",
    "g": "G",
    "tS": "CH",
    "dZ": "JH",
    "f": "F",
    "v": "V",
    "T": "TH",
    "D": "DH",
    "s": "S",
    "z": "Z",
    "S": "SH",
    "Z": "ZH",
    "h": "HH",
    "m": "M",
    "n": "N",
    "N": "NG",
    "l": "L",
    "r": "R",
    "w": "W",
    "j": "Y",
}

_SAMPA_COMMON = _CONSONANTS | {
    "p": "P",
    "p_h": "P",
    "t": "T",
    "t_h": "T",
    "k": "K",
    "k_h": "K",
    "4": "D",
    "?": "T",
    "_": "",
    "l=": "L",
    "n=": "N",
    "m=": "M",
    "r=": "ER",
    "i": "IY",
    "I": "IH",
    "E": "EH",
    "{": "AE",
    "A": "AA",
    "V": "AH",
    "O": "AO",
    "U": "UH",
    "u": "UW",
    "@": "AX",
    "EI": "EY",
    "AI": "AY",
    "OI": "OY",
    "@U": "OW",
    "aU": "AW",
    "5": "L",
    "tr": "T",
    "dr": "D",
    "O2": "AO",
}
MBROLA_US = dict(_SAMPA_COMMON)
MBROLA_EN1 = dict(_SAMPA_COMMON) | {
    "i:": "IY",
    "e": "EH",
    "A:": "AA",
    "Q": "AA",
    "O:": "AO",
    "u:": "UW",
    "3:": "ER",
    "eI": "EY",
    "aI": "AY",
    "I@": "IH",
    "e@": "EH",
    "U@": "UH",
    "r": "R",
}

# espeak-ng English phoneme mnemonics (phsource/ph_english*). Multi-part vowels map to the
# mouth shape that dominates them.
ESPEAK = _CONSONANTS | {
    "p": "P",
    "t": "T",
    "k": "K",
    "t#": "T",
    "d#": "D",
    "t2": "T",
    "d2": "D",
    "?": "T",
    "x": "HH",
    "r-": "R",
    "l/": "L",
    "l/2": "L",
    "n-": "N",
    "m-": "M",
    "z#": "Z",
    "z/2": "Z",
    "s2": "S",
    "k2": "K",
    "hw": "W",
    "_": "",
    "_:": "",
    "_!": "",
    "_|": "",
    "_^_": "",
    "a": "AE",
    "aa": "AE",
    "a#": "AX",
    "A:": "AA",
    "A@": "AA",
    "0": "AA",
    "V": "AH",
    "@": "AX",
    "@2": "AX",
    "@5": "AX",
    "@L": "L",
    "3": "ER",
    "3:": "ER",
    "e@": "EH",
    "E": "EH",
    "E2": "EH",
    "eI": "EY",
    "I": "IH",
    "I2": "IH",
    "I#": "IH",
    "i": "IY",
    "i:": "IY",
    "i@": "IY",
    "i@3": "IY",
    "O:": "AO",
    "O@": "AO",
    "o@": "OW",
    "O": "AO",
    "OI": "OY",
    "oU": "OW",
    "aI": "AY",
    "aU": "AW",
    "aI@": "AY",
    "aI3": "AY",
    "aU@": "AW",
    "U": "UH",
    "u:": "UW",
    "U@": "UH",
    "IR": "ER",
    "VR": "ER",
    "0#": "AA",
    "A#": "AA",
    "e": "EH",
    "I2#": "IH",
    "@-": "AX",
    "ju:": "UW",
    "j/": "Y",
    "aI2": "AY",
    "t[": "T",
    "O2": "AO",
    "w#": "W",
    ";": "+",
}

INVENTORIES = {"flite": FLITE, "mbrola_us": MBROLA_US, "mbrola_en1": MBROLA_EN1, "espeak": ESPEAK}


def canonical(label: str, inventory: str) -> str:
    """Map an engine's phone label to the canonical set; raise on anything unknown."""
    table = INVENTORIES[inventory]
    if label not in table:
        raise KeyError(f"unknown {inventory} phone label {label!r}: add it to training/phones.py")
    return table[label]
