"""The demo survey's questionnaire: variables, answer labels and per-year headers.

This is the *vendor's* side of the demo: what the synthetic exports look like. The
pipeline never reads it; ingest is driven by ``data/codebook.yml`` alone. A test checks
that the codebook describes every column the demo exports carry.
"""

from __future__ import annotations

YEARS: tuple[int, ...] = (2015, 2016, 2017, 2018, 2019)

YES_NO = ["Nei", "Ja"]  # coded 0, 1
AGREE = ["Helt uenig", "Delvis uenig", "Verken enig eller uenig", "Delvis enig", "Helt enig"]
PRIORITY = ["Svært lav", "Lav", "Middels", "Høy", "Svært høy"]
DIGITAL = [
    "Alle tjenester krever papir",
    "De fleste tjenester krever papir",
    "De fleste tjenester er digitale",
    "Alle tjenester er digitale og papirløse",
]
EXTENT = ["I svært liten grad", "I liten grad", "I noen grad", "I stor grad", "I svært stor grad"]
ROLES = ["Rådmann/kommunedirektør", "IKT-leder", "Annen leder"]
DONT_KNOW = "Vet ikke"

# name -> (type, labels, {year: (csv/xlsx header, sav name, question text)})
# ``labels``: ordered answer labels (binary coded 0/1, ordinal coded 1..k, nominal as text).
Q = dict[int, tuple[str, str, str]]

_CR1 = "Ansatte er skeptiske til nye digitale arbeidsformer"
_CR2 = "Ansatte foretrekker å beholde etablerte rutiner framfor digitale løsninger"
_CR3 = "Mellomledere bremser digitaliseringen i sin enhet"


def _same(header: str, sav: str, text: str, years: tuple[int, ...] = YEARS) -> Q:
    return {y: (header, sav, text) for y in years}


VARIABLES: dict[str, tuple[str, list[str] | None, Q]] = {
    "rolle": (
        "nominal",
        ROLES,
        {
            2015: ("Rolle", "rolle", "Hvilken rolle har du i kommunen?"),
            2016: ("Din rolle", "rolle", "Hvilken rolle har du i kommunen?"),
            2017: ("Rolle", "rolle", "Hvilken rolle har du i kommunen?"),
            2018: ("Rolle i kommunen", "rolle", "Hva er din rolle i kommunen?"),
            2019: ("Rolle i kommunen", "rolle", "Hva er din rolle i kommunen?"),
        },
    ),
    "prioritet": (
        "ordinal",
        PRIORITY,
        {
            y: (
                "Prioritet digitalisering" if y < 2018 else "Prioritering av digitalisering",
                "q1",
                "Hvor høyt prioriteres digitalisering i kommunen?",
            )
            for y in YEARS
        },
    ),
    "handlingsplan": (
        "binary",
        YES_NO,
        _same(
            "Digitalisering i handlingsplan",
            "q2",
            "Er digitalisering omtalt i kommunens handlingsplan?",
        ),
    ),
    "forventer_kvalitet": (
        "binary",
        YES_NO,
        _same(
            "Forventer økt tjenestekvalitet",
            "q3",
            "Forventer kommunen økt tjenestekvalitet som følge av digitalisering?",
        ),
    ),
    "forventer_forenkling": (
        "binary",
        YES_NO,
        _same(
            "Forventer forenkling av arbeidsrutiner",
            "q4",
            "Forventer kommunen omorganisering eller forenkling av arbeidsrutiner som følge av "
            "digitalisering?",
        ),
    ),
    "digital_plan_bygg": (
        "ordinal",
        DIGITAL,
        _same(
            "Digitaliseringsgrad plan og bygg",
            "q5a",
            "Hvor digitale er kommunens tjenester innen plan og bygg?",
        ),
    ),
    "digital_sykehjem": (
        "ordinal",
        DIGITAL,
        _same(
            "Digitaliseringsgrad sykehjem",
            "q5b",
            "Hvor digitale er kommunens tjenester innen sykehjem?",
        ),
    ),
    "digital_skole": (
        "ordinal",
        DIGITAL,
        _same(
            "Digitaliseringsgrad skole", "q5c", "Hvor digitale er kommunens tjenester innen skole?"
        ),
    ),
    "digital_sosial": (
        "ordinal",
        DIGITAL,
        _same(
            "Digitaliseringsgrad sosiale tjenester",
            "q5d",
            "Hvor digitale er kommunens tjenester innen sosiale tjenester?",
        ),
    ),
    "endring_skeptiske": ("ordinal", AGREE, _same("Ansatte skeptiske", "q6a", _CR1)),
    "endring_rutiner": ("ordinal", AGREE, _same("Ansatte foretrekker rutiner", "q6b", _CR2)),
    "endring_ledere": ("ordinal", AGREE, _same("Mellomledere bremser", "q6c", _CR3)),
    "barriere_endringsvilje": (
        "binary",
        YES_NO,
        {
            **_same(
                "Barriere: manglende endringsvilje",
                "q7",
                "Er manglende endringsvilje blant ansatte en kritisk barriere for videre "
                "digitalisering?",
                (2015, 2016, 2017, 2018),
            ),
            2019: (
                "Kritisk barriere: endringsvilje hos ansatte",
                "q7",
                "Er manglende endringsvilje blant ansatte som berøres av digitaliseringen en "
                "kritisk barriere for videre digitalisering?",
            ),
        },
    ),
    "etterutdanning_ikt": (
        "binary",
        YES_NO,
        {
            **_same(
                "Etterutdanning IKT-ansatte",
                "q8",
                "Har kommunen et program for etter- og videreutdanning av IKT-ansatte?",
                (2015, 2016, 2017),
            ),
            2018: (
                "Etter- og videreutdanning IKT",
                "q8",
                "Har kommunen et program for etter- og videreutdanning av IKT-ansatte?",
            ),
            2019: (
                "Program etter- og videreutdanning IKT-personale",
                "q8",
                "Har kommunen etablert et program for etter- og videreutdanning for "
                "IKT-personalet?",
            ),
        },
    ),
    "suksess_tjenester": (
        "ordinal",
        EXTENT,
        _same(
            "Lykkes med tilpassede digitale tjenester",
            "q9",
            "I hvilken grad lykkes kommunen med å tilby tilpassede digitale tjenester?",
        ),
    ),
    "evaluerer_effekt": (
        "binary",
        YES_NO,
        _same(
            "Evaluerer effekt av digitalisering",
            "q10",
            "Evaluerer kommunen effekten av sine digitaliseringsprosesser?",
            (2016, 2017, 2018, 2019),
        ),
    ),
    "ikt_andel_budsjett": (
        "numeric",
        None,
        _same(
            "IKT-andel av budsjett (%)",
            "q11",
            "Omtrent hvor stor andel av kommunens driftsbudsjett går til IKT (prosent)?",
        ),
    ),
}

#: Identification, meta and personal fields per year: name -> {year: header}.
META: dict[str, dict[int, str]] = {
    "respondent_id": {
        2015: "RespondentID",
        2016: "Respondent ID",
        2017: "resp_id",
        2018: "RespondentID",
        2019: "ID",
    },
    "innsendt": {
        2015: "Innsendt",
        2016: "Innsendt",
        2017: "innsendt",
        2018: "Tidspunkt",
        2019: "Tidspunkt",
    },
    "status": {2015: "Status", 2016: "Status", 2017: "status", 2018: "Status", 2019: "Status"},
    "kommunenavn": {2015: "Kommune", 2018: "Kommune", 2019: "Kommunenavn"},
    "kommunenr": {2016: "Kommunenr", 2017: "knr", 2019: "Kommunenummer"},
    "navn": {2015: "Navn", 2016: "Navn", 2017: "navn", 2018: "Navn", 2019: "Navn"},
    "epost": {
        2015: "E-post",
        2016: "E-post",
        2017: "epost",
        2018: "E-postadresse",
        2019: "E-postadresse",
    },
    "kommentar": {
        2015: "Kommentar",
        2016: "Kommentarer",
        2017: "fritekst",
        2018: "Kommentar",
        2019: "Andre kommentarer",
    },
}

#: Export format per year (as the vendor delivered it).
FORMATS: dict[int, str] = {2015: "csv", 2016: "xlsx", 2017: "sav", 2018: "csv", 2019: "xlsx"}
STATUS_LABELS = ("Fullført", "Delvis")
