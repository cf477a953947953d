"""Build ``inference/us_formats.json``: US state plate-serial formats used as decoding priors.

Usage::

    .venv/bin/python benchmarks/build_us_formats.py [--learn ../shared/data/openalpr-us-crops/annotations.csv]
        [--half even]

Sources (data provenance):

* ``DMV`` below: standard passenger serial formats and the state names / slogans printed on
  plates, written down from the states' public DMV plate descriptions (L a letter, D a digit).
  These are facts about plate designs, not data from any image set.
* ``--learn``: letter/digit patterns counted from a labelled set's ground truth (the
  openalpr/benchmarks US crops, AGPL-3.0); ``--half even`` counts only every other row so the
  other half stays unseen for checking. Only pattern counts are stored, never plate texts.

Weights per state: each DMV format gets 2 pseudo-counts (the first 3), learned patterns add their
count when it occurs at least twice; weights are normalised per state. A pattern that is all letters (or has 8+ characters)
is a vanity plate and is not learned as a format.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "inference" / "us_formats.json"

DMV = {
 "AL": ("ALABAMA", ["DLDDDDL", "DDLDDDL", "DDLLDDD"], ["HEARTOFDIXIE", "SWEETHOMEALABAMA", "STARSFELLONALABAMA"]),
 "AK": ("ALASKA", ["LLLDDD"], ["NORTHTOTHEFUTURE", "THELASTFRONTIER"]),
 "AZ": ("ARIZONA", ["LLLDDDD", "DDDLLL", "LLLDDD"], ["GRANDCANYONSTATE"]),
 "AR": ("ARKANSAS", ["DDDLLL", "LLLDDL", "LLLDDD"], ["THENATURALSTATE", "LANDOFOPPORTUNITY"]),
 "CA": ("CALIFORNIA", ["DLLLDDD", "DLDDDDD", "DDLDDDD"], ["DMVCAGOV", "THEGOLDENSTATE"]),
 "CO": ("COLORADO", ["DDDLLL", "LLLDDDD", "LLLDDD"], []),
 "CT": ("CONNECTICUT", ["DDDLLL", "LLDDDDD", "DLLDDD"], ["CONSTITUTIONSTATE"]),
 "DE": ("DELAWARE", ["DDDDDD", "DDDDDDD", "DDDDD"], ["THEFIRSTSTATE", "FIRSTSTATE"]),
 "DC": ("DISTRICTOFCOLUMBIA", ["LLDDDD"], ["TAXATIONWITHOUTREPRESENTATION", "ENDTAXATION", "WASHINGTONDC", "CELEBRATE"]),
 "FL": ("FLORIDA", ["LLLLDD", "LLLDLL", "DDDLLL", "LDDDLL"], ["SUNSHINESTATE", "MYFLORIDACOM"]),
 "GA": ("GEORGIA", ["LLLDDDD", "DDDLLL"], ["PEACHSTATE", "INGODWETRUST"]),
 "HI": ("HAWAII", ["LLLDDD"], ["ALOHASTATE"]),
 "ID": ("IDAHO", ["DLDDDDD", "DLLDDDD", "DLDDDD", "DDLDDDD"], ["FAMOUSPOTATOES", "SCENICIDAHO"]),
 "IL": ("ILLINOIS", ["LLDDDDD", "LDDDDDD", "DDDDDDD"], ["LANDOFLINCOLN"]),
 "IN": ("INDIANA", ["DDDLLL", "DDDL", "DDDDLL"], ["CROSSROADSOFAMERICA", "INGODWETRUST"]),
 "IA": ("IOWA", ["DDDLLL", "LLLDDD"], []),
 "KS": ("KANSAS", ["DDDLLL"], []),
 "KY": ("KENTUCKY", ["DDDLLL"], ["UNBRIDLEDSPIRIT", "KENTUCKYUNBRIDLEDSPIRIT"]),
 "LA": ("LOUISIANA", ["LLLDDD"], ["SPORTSMANSPARADISE", "SPORTSMANSPARADISE"]),
 "ME": ("MAINE", ["DDDDLL", "DDDLLL"], ["VACATIONLAND"]),
 "MD": ("MARYLAND", ["DLLDDDD", "LLLDDD", "DLLLDD"], []),
 "MA": ("MASSACHUSETTS", ["DLLDDD", "DDDLLD", "DDLLDD", "DLLLDD", "DLLDDL"], ["THESPIRITOFAMERICA"]),
 "MI": ("MICHIGAN", ["LLLDDDD", "DLLLDD"], ["GREATLAKES", "PUREMICHIGAN", "GREATLAKESSTATE"]),
 "MN": ("MINNESOTA", ["DDDLLL", "LLLDDD"], ["EXPLOREMINNESOTA", "LAKES"]),
 "MS": ("MISSISSIPPI", ["LLLDDD", "LLLDDDD"], []),
 "MO": ("MISSOURI", ["LLDLDL", "LLDLLL"], ["SHOWMESTATE"]),
 "MT": ("MONTANA", ["DDDDDDL", "DDLDDDL", "DDDDDD"], ["BIGSKYCOUNTRY", "BIGSKY"]),
 "NE": ("NEBRASKA", ["DLLDDD", "DDLDDD", "LLLDDD"], ["THEGOODLIFE"]),
 "NV": ("NEVADA", ["DDDLLL", "DDDLDD", "DLLDDD"], ["SILVERSTATE", "HOMEMEANSNEVADA"]),
 "NH": ("NEWHAMPSHIRE", ["DDDDDDD", "DDDDDD", "LLLDDDD"], ["LIVEFREEORDIE"]),
 "NJ": ("NEWJERSEY", ["LDDLLL", "LLLDDL"], ["GARDENSTATE"]),
 "NM": ("NEWMEXICO", ["LLLDDD", "DDDLLL"], ["LANDOFENCHANTMENT", "USA"]),
 "NY": ("NEWYORK", ["LLLDDDD"], ["EMPIRESTATE", "EXCELSIOR", "THEEMPIRESTATE"]),
 "NC": ("NORTHCAROLINA", ["LLLDDDD"], ["FIRSTINFLIGHT", "FIRSTINFREEDOM"]),
 "ND": ("NORTHDAKOTA", ["LLLDDD", "DDDLLL"], ["PEACEGARDENSTATE", "LEGENDARY", "DISCOVERTHESPIRIT"]),
 "OH": ("OHIO", ["LLLDDDD"], ["BIRTHPLACEOFAVIATION", "BEAUTIFULOHIO"]),
 "OK": ("OKLAHOMA", ["DDDLLL", "LLLDDD"], ["NATIVEAMERICA", "OKLAHOMAOK"]),
 "OR": ("OREGON", ["DDDLLL", "LLLDDD"], []),
 "PA": ("PENNSYLVANIA", ["LLLDDDD"], ["VISITPAUS", "VISITPA", "KEYSTONESTATE"]),
 "RI": ("RHODEISLAND", ["DDDDDD", "LLDDD", "DDDDD"], ["OCEANSTATE"]),
 "SC": ("SOUTHCAROLINA", ["LLLDDD", "DDDLLL"], ["WHILEIBREATHEIHOPE"]),
 "SD": ("SOUTHDAKOTA", ["DLLDDD", "DDLDDD", "DLDDDD"], ["GREATFACESGREATPLACES", "MOUNTRUSHMORE"]),
 "TN": ("TENNESSEE", ["DDDLLL", "LDDDDL"], ["VOLUNTEERSTATE"]),
 "TX": ("TEXAS", ["LLLDDDD", "LLDLDDD", "DDDLLL"], ["THELONESTARSTATE", "LONESTARSTATE"]),
 "UT": ("UTAH", ["LDDDLL", "DDDLLL", "LDDDDLL"], ["LIFEELEVATED", "GREATESTSNOWONEARTH"]),
 "VT": ("VERMONT", ["LLLDDD", "DDDLDDD"], ["GREENMOUNTAINSTATE", "GREENMOUNTAINS"]),
 "VA": ("VIRGINIA", ["LLLDDDD", "DDDDLL", "LLDDDD"], ["VIRGINIAISFORLOVERS"]),
 "WA": ("WASHINGTON", ["DDDLLL", "LLLDDDD"], ["EVERGREENSTATE"]),
 "WV": ("WESTVIRGINIA", ["DLDDDD", "DLLDDD"], ["WILDWONDERFUL", "WILDANDWONDERFUL"]),
 "WI": ("WISCONSIN", ["DDDLLL", "LLLDDDD", "LLLDDD"], ["AMERICASDAIRYLAND", "DAIRYLAND"]),
 "WY": ("WYOMING", ["DDDDD", "DDDDDD", "DDDDL", "DDDD"], []),
}

#: registered vehicles per state in millions, rounded (FHWA Highway Statistics, table MV-1): the
#: prior over states when nothing on the plate names one
REGISTRATIONS = {
    "CA": 31, "TX": 22, "FL": 18, "NY": 11, "PA": 10, "OH": 10.5, "IL": 10, "MI": 8.5, "GA": 8.5, "NC": 8.7,
    "NJ": 6, "VA": 7.5, "MD": 4.5, "WA": 7, "AZ": 6, "TN": 5.5, "IN": 6, "MO": 5.8, "MA": 5, "WI": 5.6, "MN": 5.3,
    "CO": 5.3, "SC": 4.5, "AL": 5.3, "LA": 4, "KY": 4.3, "OR": 4, "OK": 3.7, "CT": 2.8, "IA": 3.8, "UT": 2.5,
    "AR": 2.8, "MS": 2, "KS": 2.6, "NV": 2.5, "NM": 1.8, "NE": 2, "WV": 1.4, "ID": 1.9, "HI": 1.2, "ME": 1.1,
    "NH": 1.4, "MT": 1.9, "RI": 0.8, "DE": 1, "SD": 1.2, "ND": 0.9, "AK": 0.8, "VT": 0.6, "WY": 0.8, "DC": 0.3,
}


def pattern(text: str) -> str:
    return "".join("L" if c.isalpha() else "D" for c in text)


def build(learn: Path | None, half: str | None) -> dict:
    counts: dict[str, Counter] = defaultdict(Counter)
    learned_rows = 0
    if learn is not None:
        with open(learn, newline="") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                if (half == "even" and i % 2) or (half == "odd" and not i % 2):
                    continue
                text = re.sub(r"[^A-Z0-9]", "", row["plate_text"].upper())
                st = row.get("state", "").strip().upper()
                p = pattern(text)
                if st in DMV and 4 <= len(p) <= 7 and "D" in p:
                    counts[st][p] += 1
                    learned_rows += 1
    states = {}
    for code, (name, fmts, slogans) in DMV.items():
        w: Counter = Counter()
        for k, f in enumerate(fmts):
            w[f] += 3.0 if k == 0 else 2.0
        w.update({p: c for p, c in counts[code].items() if c >= 2})  # one-offs are vanity/special plates
        total = sum(w.values())
        states[code] = {
            "name": name,
            "formats": {f: round(v / total, 4) for f, v in w.most_common()},
            "cues": sorted({name, *slogans}),
            "prior": round(REGISTRATIONS[code] / sum(REGISTRATIONS.values()), 5),
        }
    return {
        "version": "us-formats-1",
        "source": "state DMV plate descriptions" + (f" + {learned_rows} ground-truth patterns of {learn.name}"
                                                    f"{' (' + half + ' half)' if half else ''}" if learn else ""),
        "states": states,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--learn", type=Path, help="annotations.csv with image_path,plate_text,state")
    ap.add_argument("--half", choices=("even", "odd"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    table = build(args.learn, args.half)
    args.out.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}: {len(table['states'])} states; {table['source']}")


if __name__ == "__main__":
    main()
