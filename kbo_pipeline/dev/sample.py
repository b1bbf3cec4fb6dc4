"""Synthetic KBO extracts in the exact real format: a Full and consecutive Updates that follow the
official update semantics (a changed entity is listed in the delete file and its complete new set of
rows re-inserted; a ceased enterprise is deleted everywhere). For the demo and the tests.

Numbers are valid (mod-97 check digits), codes are realistic, names carry commas, quotes, apostrophes
and accents; text is double-quoted, dates are not, a missing value is empty or `""`.
"""

from __future__ import annotations

import copy
import random
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from kbo_pipeline.core.entities import CHILD_TABLES, CODE, ENTITIES, ENTITY_BY_TABLE

SURNAMES = [
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "De Smet",
    "Dubois",
    "Lambert",
    "Lefèvre",
    "Müller",
    "Van den Broeck",
    "D'Hondt",
    "Çelik",
    "Nguyễn",
    "Callebaut",
    "De Groote",
    "Vandenbussche",
    "Øster",
]
FIRST_NAMES = [
    "Brenda",
    "Vicky",
    "Jessica",
    "Luc",
    "Marie",
    "Jean-Pierre",
    "Anaïs",
    "Björn",
    "Zoë",
    "Mohammed",
    "Sofie",
    "Geert",
    "Élodie",
    "Jürgen",
]
COMPANY_WORDS = [
    "Bakkerij 't Hoekske",
    'Brasserie "Le Coq"',
    "Société Générale de Béton",
    "Jansen & Zonen",
    "Élan Consulting, BV",
    "Immo De Linde",
    "Garage Ötzi",
    "L'Atelier du Pain",
    "Tech, Data & More",
    "Zorgcentrum Sint-Jozef",
    "Les Amis de l'Été",
    "Brouwerij Het Anker",
    "Κάφε Athena",
    "Robert'); DROP TABLE enterprise;--",
]
STREETS = [
    ("Leuvenstraat", "Leuvenstraat"),
    ("Grote Markt", "Grand-Place"),
    ("Kerkstraat", "Rue de l'Église"),
    ("Stationsstraat", "Rue de la Gare"),
    ("Chaussée de Waterloo", "Chaussée de Waterloo"),
]
TOWNS = [
    ("2000", "Antwerpen", "Anvers"),
    ("1000", "Brussel", "Bruxelles"),
    ("9000", "Gent", "Gand"),
    ("4000", "Luik", "Liège"),
    ("8000", "Brugge", "Bruges"),
    ("3000", "Leuven", "Louvain"),
]
NACE = ["62010", "56101", "47110", "10711", "41201", "70220", "86210", "90201", "14100", "96021"]
LEGAL_FORMS = ["014", "015", "017", "030", "610", "612"]

CODES = [
    ("ActivityGroup", "001", "FR", "Activités TVA"),
    ("ActivityGroup", "001", "NL", "BTW-activiteiten"),
    ("ActivityGroup", "003", "FR", "Activités ONSS"),
    ("ActivityGroup", "003", "NL", "RSZ-activiteiten"),
    ("ActivityGroup", "006", "FR", "Activités en tant qu'employeur"),
    ("ActivityGroup", "006", "NL", "Werkgeversactiviteiten"),
    ("Classification", "MAIN", "FR", "Principale"),
    ("Classification", "MAIN", "NL", "Hoofdactiviteit"),
    ("Classification", "SECO", "FR", "Secondaire"),
    ("Classification", "SECO", "NL", "Nevenactiviteit"),
    ("Classification", "ANCI", "FR", "Auxiliaire"),
    ("Classification", "ANCI", "NL", "Hulpactiviteit"),
    ("ContactType", "TEL", "FR", "Numéro de téléphone"),
    ("ContactType", "TEL", "NL", "Telefoonnummer"),
    ("ContactType", "EMAIL", "FR", "E-mail"),
    ("ContactType", "EMAIL", "NL", "E-mail"),
    ("ContactType", "WEB", "FR", "Adresse web"),
    ("ContactType", "WEB", "NL", "Webadres"),
    ("EntityContact", "ENT", "FR", "Entité"),
    ("EntityContact", "ENT", "NL", "Entiteit"),
    ("EntityContact", "EST", "FR", "Unité d'établissement"),
    ("EntityContact", "EST", "NL", "Vestigingseenheid"),
    ("JuridicalForm", "014", "FR", "Société anonyme"),
    ("JuridicalForm", "014", "NL", "Naamloze vennootschap"),
    ("JuridicalForm", "610", "FR", "Société à responsabilité limitée"),
    ("JuridicalForm", "610", "NL", "Besloten vennootschap"),
    ("JuridicalForm", "017", "FR", "Association sans but lucratif"),
    ("JuridicalForm", "017", "NL", "Vereniging zonder winstoogmerk"),
    ("JuridicalSituation", "000", "FR", "Situation normale"),
    ("JuridicalSituation", "000", "NL", "Normale toestand"),
    ("JuridicalSituation", "012", "FR", "Ouverture de faillite"),
    ("JuridicalSituation", "012", "NL", "Opening faillissement"),
    ("Language", "0", "FR", "Inconnu"),
    ("Language", "1", "FR", "Français"),
    ("Language", "2", "FR", "Néerlandais"),
    ("Language", "3", "FR", "Allemand"),
    ("Language", "4", "FR", "Anglais"),
    ("Language", "2", "NL", "Nederlands"),
    ("Status", "AC", "FR", "Actif"),
    ("Status", "AC", "NL", "Actief"),
    ("TypeOfAddress", "REGO", "FR", "Siège"),
    ("TypeOfAddress", "REGO", "NL", "Zetel"),
    ("TypeOfAddress", "BAET", "FR", "Unité d'établissement"),
    ("TypeOfAddress", "BAET", "NL", "Vestigingseenheid"),
    ("TypeOfDenomination", "001", "FR", "Dénomination"),
    ("TypeOfDenomination", "001", "NL", "Maatschappelijke naam"),
    ("TypeOfDenomination", "002", "FR", "Abréviation"),
    ("TypeOfDenomination", "002", "NL", "Afkorting"),
    ("TypeOfDenomination", "003", "FR", "Dénomination commerciale"),
    ("TypeOfDenomination", "003", "NL", "Commerciële naam"),
    ("TypeOfEnterprise", "1", "FR", "Personne physique"),
    ("TypeOfEnterprise", "1", "NL", "Natuurlijk persoon"),
    ("TypeOfEnterprise", "2", "FR", "Personne morale"),
    ("TypeOfEnterprise", "2", "NL", "Rechtspersoon"),
] + [
    ("Nace2008", code, lang, f"{'Activité' if lang == 'FR' else 'Activiteit'} {code}")
    for code in NACE
    for lang in ("FR", "NL")
]


def check_digits(base: int) -> int:
    return 97 - base % 97


def enterprise_number(base: int) -> str:
    """`0200.065.765`: eight digits and their mod-97 check."""
    digits = f"{base:08d}{check_digits(base):02d}"
    return f"{digits[:4]}.{digits[4:7]}.{digits[7:]}"


def unit_number(base: int) -> str:
    """Establishment (`2.000.000.339`) and branch (`9.000.006.626`) numbers."""
    digits = f"{base:08d}{check_digits(base):02d}"
    return f"{digits[0]}.{digits[1:4]}.{digits[4:7]}.{digits[7:]}"


@dataclass
class Unit:
    """An enterprise or establishment: its own row and its child rows (one list per child table)."""

    row: dict
    children: dict[str, list[dict]] = field(default_factory=lambda: {t: [] for t in CHILD_TABLES})


@dataclass
class Register:
    enterprises: dict[str, Unit] = field(default_factory=dict)
    establishments: dict[str, Unit] = field(default_factory=dict)
    branches: dict[str, dict] = field(default_factory=dict)
    next_enterprise: int = 2000657
    next_establishment: int = 200000003
    next_branch: int = 900000066


class SampleGenerator:
    def __init__(self, seed: int = 147):
        self.rng = random.Random(seed)
        self.register = Register()

    # -- rows ------------------------------------------------------------------------------------
    def _date(self, start: int = 1970, end: int = 2025) -> date:
        return date(self.rng.randint(start, end), self.rng.randint(1, 12), self.rng.randint(1, 28))

    def _denominations(self, number: str, natural: bool) -> list[dict]:
        rng = self.rng
        if natural:
            return [
                {
                    "entity_number": number,
                    "language": "0",
                    "type_of_denomination": "001",
                    "denomination": f"{rng.choice(SURNAMES)}, {rng.choice(FIRST_NAMES)}",
                }
            ]
        name = f"{rng.choice(COMPANY_WORDS)} {rng.randint(1, 999)}"
        rows = [
            {
                "entity_number": number,
                "language": rng.choice("2211"),
                "type_of_denomination": "001",
                "denomination": name,
            }
        ]
        if rng.random() < 0.3:  # bilingual legal names: the Dutch one wins, the French one is kept beside it
            other = "1" if rows[0]["language"] == "2" else "2"
            rows.append(
                {
                    "entity_number": number,
                    "language": other,
                    "type_of_denomination": "001",
                    "denomination": name + " (bis)",
                }
            )
        if rng.random() < 0.3:
            rows.append(
                {
                    "entity_number": number,
                    "language": "2",
                    "type_of_denomination": rng.choice(["002", "003"]),
                    "denomination": name[:12].upper(),
                }
            )
        if rng.random() < 0.05:
            rows.append(
                {
                    "entity_number": number,
                    "language": "3",
                    "type_of_denomination": "001",
                    "denomination": name + " GmbH",
                }
            )
        if rng.random() < 0.03:  # a long name, as real data has (up to 320 characters)
            rows.append(
                {
                    "entity_number": number,
                    "language": "4",
                    "type_of_denomination": "003",
                    "denomination": ("Long " * 64)[:320],
                }
            )
        return rows

    def _address(self, number: str, kind: str) -> dict:
        rng = self.rng
        street = rng.choice(STREETS)
        town = rng.choice(TOWNS)
        return {
            "entity_number": number,
            "type_of_address": kind,
            "country_nl": None,
            "country_fr": None,
            "zipcode": town[0],
            "municipality_nl": town[1],
            "municipality_fr": town[2],
            "street_nl": street[0],
            "street_fr": street[1],
            "house_number": str(rng.randint(1, 250)),
            "box": rng.choice([None, "", "A", "22", "0001"]),
            "extra_address_info": rng.choice(["", None]),
            "date_striking_off": self._date(2020, 2025) if rng.random() < 0.05 else None,
        }

    def _contacts(self, number: str, entity_contact: str) -> list[dict]:
        rng = self.rng
        rows = []
        for kind, value in (
            ("TEL", f"0{rng.randint(2, 9)}/{rng.randint(100, 999)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}"),
            ("EMAIL", f"info{rng.randint(1, 99)}@example.be"),
            ("WEB", "www.example.be"),
            ("FAX", f"0{rng.randint(2, 9)}/{rng.randint(100, 999)}"),
        ):
            if rng.random() < 0.3:
                rows.append(
                    {"entity_number": number, "entity_contact": entity_contact, "contact_type": kind, "value": value}
                )
        return rows

    def _activities(self, number: str) -> list[dict]:
        rng = self.rng
        rows, seen = [], set()
        for index in range(rng.randint(0, 6)):
            row = {
                "entity_number": number,
                "activity_group": rng.choice(["001", "003", "006"]),
                "nace_version": rng.choice(["2008", "2025"]),
                "nace_code": rng.choice(NACE),
                "classification": "MAIN" if index == 0 else rng.choice(["SECO", "ANCI"]),
            }
            row["id"] = "_".join(row[k] for k in ("entity_number", "activity_group", "nace_version", "nace_code"))
            if row["id"] not in seen:
                seen.add(row["id"])
                rows.append(row)
        return rows

    def _enterprise_row(self, number: str, natural: bool) -> dict:
        rng = self.rng
        return {
            "entity_number": number,
            "status": "AC",
            "juridical_situation": rng.choice(["000"] * 9 + ["012"]),
            "type_of_enterprise": "1" if natural else "2",
            "juridical_form": None if natural else rng.choice(LEGAL_FORMS),
            "juridical_form_cac": None if natural or rng.random() < 0.8 else "610",
            "start_date": self._date(),
        }

    def new_enterprise(self) -> str:
        reg = self.register
        number = enterprise_number(reg.next_enterprise)
        reg.next_enterprise += self.rng.randint(1, 5000)
        natural = self.rng.random() < 0.4
        unit = Unit(self._enterprise_row(number, natural))
        unit.children["denomination"] = self._denominations(number, natural) if self.rng.random() > 0.03 else []
        unit.children["address"] = [self._address(number, "REGO")] if not natural else []
        unit.children["contact"] = self._contacts(number, "ENT")
        unit.children["activity"] = self._activities(number)
        reg.enterprises[number] = unit
        for _ in range(self.rng.choice([0, 0, 1, 1, 2])):
            self.new_establishment(number)
        if not natural and self.rng.random() < 0.05:
            branch_id = unit_number(reg.next_branch)
            reg.next_branch += self.rng.randint(1, 500)
            reg.branches[branch_id] = {"id": branch_id, "start_date": self._date(2000), "enterprise_number": number}
        return number

    def new_establishment(self, enterprise: str) -> str:
        reg = self.register
        number = unit_number(reg.next_establishment)
        reg.next_establishment += self.rng.randint(1, 5000)
        unit = Unit({"establishment_number": number, "start_date": self._date(), "enterprise_number": enterprise})
        unit.children["address"] = [self._address(number, "BAET")]
        unit.children["contact"] = self._contacts(number, "EST")
        unit.children["activity"] = self._activities(number)
        if self.rng.random() < 0.3:
            unit.children["denomination"] = [
                {
                    "entity_number": number,
                    "language": "2",
                    "type_of_denomination": "003",
                    "denomination": f"{self.rng.choice(COMPANY_WORDS)} filiaal",
                }
            ]
        reg.establishments[number] = unit
        return number

    # -- extracts --------------------------------------------------------------------------------
    def rows(self, table: str) -> list[dict]:
        reg = self.register
        if table == "enterprise":
            return [u.row for u in reg.enterprises.values()]
        if table == "establishment":
            return [u.row for u in reg.establishments.values()]
        if table == "branch":
            return list(reg.branches.values())
        return [r for units in (reg.enterprises, reg.establishments) for u in units.values() for r in u.children[table]]

    def full(self, enterprises: int) -> dict[str, list[dict]]:
        for _ in range(enterprises):
            self.new_enterprise()
        return {e.table: copy.deepcopy(self.rows(e.table)) for e in ENTITIES}

    def update(self, changes: int) -> tuple[dict[str, list[str]], dict[str, list[dict]]]:
        """Apply about `changes` random changes to the register; return (delete keys, insert rows)."""
        rng, reg = self.rng, self.register
        deletes: dict[str, set[str]] = {e.table: set() for e in ENTITIES}
        touched: dict[str, set[str]] = {e.table: set() for e in ENTITIES}  # keys whose rows are re-inserted

        def retouch(table: str, key: str) -> None:
            deletes[table].add(key)
            touched[table].add(key)

        for _ in range(changes):
            kind = rng.choice(
                [
                    "new",
                    "cease",
                    "enterprise",
                    "denomination",
                    "denomination",
                    "address",
                    "contact",
                    "activity",
                    "activity",
                    "establishment",
                    "close_establishment",
                    "branch",
                    "noop",
                ]
            )
            numbers = list(reg.enterprises)
            number = rng.choice(numbers) if numbers else None
            if kind == "new" or number is None:
                new = self.new_enterprise()
                touched["enterprise"].add(new)
                for table in CHILD_TABLES:
                    touched[table].add(new)
                for est, unit in reg.establishments.items():
                    if unit.row["enterprise_number"] == new:
                        touched["establishment"].add(est)
                        for table in CHILD_TABLES:
                            touched[table].add(est)
                for branch_id, branch in reg.branches.items():
                    if branch["enterprise_number"] == new:
                        touched["branch"].add(branch_id)
            elif kind == "cease":
                unit = reg.enterprises.pop(number)
                deletes["enterprise"].add(number)
                for table in CHILD_TABLES:
                    if unit.children[table]:
                        deletes[table].add(number)
                for est in [e for e, u in reg.establishments.items() if u.row["enterprise_number"] == number]:
                    est_unit = reg.establishments.pop(est)
                    deletes["establishment"].add(est)
                    for table in CHILD_TABLES:
                        if est_unit.children[table]:
                            deletes[table].add(est)
                for branch_id in [b for b, row in reg.branches.items() if row["enterprise_number"] == number]:
                    del reg.branches[branch_id]
                    deletes["branch"].add(branch_id)
            elif kind == "enterprise":
                row = reg.enterprises[number].row
                row["juridical_situation"] = rng.choice(["000", "012"])
                row["juridical_form_cac"] = rng.choice([None, "610"]) if row["type_of_enterprise"] == "2" else None
                retouch("enterprise", number)
            elif kind in CHILD_TABLES:
                unit = reg.enterprises[number]
                natural = unit.row["type_of_enterprise"] == "1"
                if kind == "denomination":
                    # Sometimes the names are only dropped: the primary name falls back to the number.
                    unit.children[kind] = [] if rng.random() < 0.1 else self._denominations(number, natural)
                elif kind == "address":
                    unit.children[kind] = [self._address(number, "REGO")]
                elif kind == "contact":
                    unit.children[kind] = self._contacts(number, "ENT")
                else:
                    unit.children[kind] = self._activities(number)
                retouch(kind, number)
            elif kind == "establishment":
                est = self.new_establishment(number)
                touched["establishment"].add(est)
                for table in CHILD_TABLES:
                    touched[table].add(est)
            elif kind == "close_establishment":
                ests = [e for e, u in reg.establishments.items() if u.row["enterprise_number"] == number]
                if ests:
                    est_unit = reg.establishments.pop(ests[0])
                    deletes["establishment"].add(ests[0])
                    for table in CHILD_TABLES:
                        if est_unit.children[table]:
                            deletes[table].add(ests[0])
            elif kind == "branch":
                if reg.branches and rng.random() < 0.5:
                    branch_id = rng.choice(list(reg.branches))
                    del reg.branches[branch_id]
                    deletes["branch"].add(branch_id)
                else:
                    branch_id = unit_number(reg.next_branch)
                    reg.next_branch += rng.randint(1, 500)
                    reg.branches[branch_id] = {
                        "id": branch_id,
                        "start_date": self._date(2000),
                        "enterprise_number": number,
                    }
                    touched["branch"].add(branch_id)
            else:  # a delete key that matches nothing: a no-op, as real updates have
                deletes["contact"].add(enterprise_number(1))
        inserts = {}
        for entity in ENTITIES:
            keys = touched[entity.table]
            inserts[entity.table] = [copy.deepcopy(r) for r in self.rows(entity.table) if r[entity.key] in keys]
        return {t: sorted(k) for t, k in deletes.items()}, inserts


# -- writing the real bytes -----------------------------------------------------------------------
def _field(value, column_type: str) -> str:
    if value is None:
        return ""
    if column_type == "DATE":
        return value.strftime("%d-%m-%Y")  # dates are not quoted
    return '"' + str(value).replace('"', '""') + '"'


def csv_text(header: list[str], lines: list[list[str]]) -> str:
    return "\n".join([",".join(f'"{h}"' for h in header)] + [",".join(line) for line in lines]) + "\n"


def entity_csv(table: str, rows: list[dict]) -> str:
    entity = ENTITY_BY_TABLE[table]
    columns = entity.csv_columns
    return csv_text([c.csv for c in columns], [[_field(r[c.name], c.type) for c in columns] for r in rows])


def delete_csv(table: str, keys: list[str]) -> str:
    entity = ENTITY_BY_TABLE[table]
    return csv_text([entity.key_csv], [[_field(k, "VARCHAR")] for k in keys])


def code_csv() -> str:
    return csv_text([c.csv for c in CODE.columns], [[_field(v, "VARCHAR") for v in row] for row in CODES])


def meta_csv(number: int, extract_type: str, snapshot: date, timestamp: datetime) -> str:
    rows = [
        ("SnapshotDate", snapshot.strftime("%d-%m-%Y")),
        ("ExtractTimestamp", timestamp.strftime("%d-%m-%Y %H:%M:%S")),
        ("ExtractType", extract_type),
        ("ExtractNumber", str(number)),
        ("Version", "1.0.0"),
    ]
    return csv_text(["Variable", "Value"], [[f'"{k}"', f'"{v}"'] for k, v in rows])


def write_zip(path: Path, members: dict[str, str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text.encode("utf-8"))
    partial.replace(path)
    return path


def extract_name(number: int, published: date, extract_type: str) -> str:
    return f"KboOpenData_{number:04d}_{published:%Y_%m_%d}_{extract_type.capitalize()}.zip"


def write_samples(
    out: str | Path,
    *,
    first_number: int = 140,
    updates: int = 3,
    enterprises: int = 200,
    changes: int = 40,
    seed: int = 147,
    published: date = date(2025, 10, 5),
    spikes: dict[int, int] | None = None,
) -> list[Path]:
    """Write Full `first_number` and `updates` consecutive Updates into `out`; return their paths.
    `spikes` maps an update's index (1 for the first) to its number of changes, in place of `changes`."""
    out = Path(out)
    generator = SampleGenerator(seed)
    paths = []
    for index in range(updates + 1):
        number = first_number + index
        day = published + timedelta(days=index)
        extract_type = "full" if index == 0 else "update"
        members = {
            "meta.csv": meta_csv(number, extract_type, day - timedelta(days=1), datetime.combine(day, time(7, 40, 18))),
            "code.csv": code_csv(),
        }
        if extract_type == "full":
            for table, rows in generator.full(enterprises).items():
                members[f"{table}.csv"] = entity_csv(table, rows)
        else:
            deletes, inserts = generator.update((spikes or {}).get(index, changes))
            for entity in ENTITIES:
                members[entity.delete_member] = delete_csv(entity.table, deletes[entity.table])
                members[entity.insert_member] = entity_csv(entity.table, inserts[entity.table])
        paths.append(write_zip(out / extract_name(number, day, extract_type), members))
    return paths
