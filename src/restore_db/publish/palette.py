"""The fixed colours of restore-db's maps: one palette for the report, the QGIS project and any other map.

Every colour is from Paul Tol's colour-blind-safe schemes (Tol 2021, "Colour Schemes", SRON/EPS/TN/09-002,
https://personal.sron.nl/~pault/): the zones use the *muted* scheme, paired by matching type with the darker
colour for high resilience; matching types, resilience classes and the pattern use the *bright* and *vibrant*
schemes. The deficit/surplus classes use Tol's diverging *BuRd* scheme, sampled by :func:`balance_colours`.
Colours are ``#rrggbb`` strings.
"""

from __future__ import annotations

# Restoration zones (param.zone_type codes, matching type - resilience class) and the unclassified zone.
ZONE = {
    "HH-H": "#332288",  # indigo
    "HH-L": "#88CCEE",  # cyan
    "LH-H": "#882255",  # wine
    "LH-L": "#CC6677",  # rose
    "LL-H": "#999933",  # olive
    "LL-L": "#DDCC77",  # sand
    "HL-H": "#117733",  # green
    "HL-L": "#44AA99",  # teal
}
UNCLASSIFIED = "#DDDDDD"  # pale grey: values missing
NO_VALUE = "#BBBBBB"      # grey, hatched on maps: a county without the value mapped

# Collaboration units: Tol's muted scheme, then his light scheme (17 colours before one repeats).
UNITS = [*ZONE.values(), "#77AADD", "#EE8866", "#EEDD88", "#FFAABB", "#99DDFF", "#44BB99", "#BBCC33", "#AAAA00",
         "#DDDDDD"]

# Supply-demand matching types (first letter supply, second demand).
MATCHING = {"HH": "#4477AA", "LH": "#EE6677", "LL": "#CCBB44", "HL": "#228833"}
# Two-level resilience class.
RESILIENCE = {"H": "#4477AA", "L": "#EE7733"}

# Ecological security pattern.
SOURCE = "#228833"
CORRIDOR = {"important": "#CC3311", "general": "#EE7733"}
CORRIDOR_AREA = "#FFE4C4"
NODE = {"intersection": "#0077BB", "ridge": "#33BBEE", "pinch": "#EE3377", "barrier": "#000000"}
PINCH = "#EE3377"
BARRIER = "#000000"
OUTLINE = "#555555"          # county outlines
PROVINCE_OUTLINE = "#222222"
LINK = "#333333"             # corridors drawn over the collaboration units

# Weighting methods of the resilience indicators (Tol's bright scheme) and the final weight.
WEIGHT_METHOD = {"entropy": "#4477AA", "critic": "#66CCEE", "ahp": "#228833", "manual": "#CCBB44",
                 "equal": "#BBBBBB", "combined": "#AA3377", "weight": "#000000"}

# Tol's BuRd diverging scheme, from strong deficit (blue is not used for deficit: red is) - see balance_colours.
_BURD = ("#2166AC", "#4393C3", "#92C5DE", "#D1E5F0", "#F7F7F7", "#FDDBC7", "#F4A582", "#D6604D", "#B2182B")


def zone_colour(code: str | None) -> str:
    """Colour of a zone code (``'LH-L'`` ...); the unclassified grey for any other code or None."""
    return ZONE.get(code or "", UNCLASSIFIED)


def balance_colours(ranks: list[int]) -> dict[int, str]:
    """Colours of deficit/surplus class ranks (-k..k, 0 = balance): deficits red, surpluses blue, balance white.

    Args:
        ranks: the class ranks present (any order).
    Returns:
        {rank: "#rrggbb"}, the strongest deficit/surplus taking the ends of Tol's BuRd scheme.
    """
    k = max((abs(r) for r in ranks), default=1) or 1
    out = {}
    for r in ranks:
        step = round(abs(r) * 4 / k)            # 0..4 steps from the middle
        out[r] = _BURD[4 - step] if r > 0 else _BURD[4 + step]
    return out
