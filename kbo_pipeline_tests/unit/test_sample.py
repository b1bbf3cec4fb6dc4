"""`kbo sample` writes extracts in the exact real format."""

import re
import zipfile

from kbo_pipeline.core.extract import read_extract
from kbo_pipeline.dev.sample import check_digits

NUMBER = re.compile(r'"(\d{4}\.\d{3}\.\d{3}|\d\.\d{3}\.\d{3}\.\d{3})"')


def test_samples_validate_and_use_the_real_bytes(samples):
    full, update = samples[0], samples[1]
    assert read_extract(full).extract_type == "full" and read_extract(update).number == 141
    with zipfile.ZipFile(full) as zf:
        enterprise = zf.read("enterprise.csv").decode("utf-8")
        address = zf.read("address.csv").decode("utf-8")
        meta = zf.read("meta.csv").decode("utf-8")
    assert enterprise.startswith('"EnterpriseNumber","Status","JuridicalSituation"')
    assert "\r" not in enterprise and not enterprise.startswith("\ufeff")
    # Dates are not quoted; a missing value is empty; codes keep their leading zeros.
    assert re.search(r'"\d{4}\.\d{3}\.\d{3}","AC","0\d\d","1",,,\d\d-\d\d-\d{4}\n', enterprise)
    assert ',"",' in address or ',"",\n' in address
    assert '"ExtractType","full"' in meta and '"ExtractNumber","140"' in meta
    numbers = NUMBER.findall(enterprise + address)
    assert numbers
    for number in numbers:
        digits = number.replace(".", "")
        assert int(digits[-2:]) == check_digits(int(digits[:-2])), number


def test_samples_carry_names_with_commas_quotes_and_accents(samples):
    with zipfile.ZipFile(samples[0]) as zf:
        names = zf.read("denomination.csv").decode("utf-8")
    assert re.search(r'"[^"]+, [^"]+"', names)  # "Surname, First name"
    assert '""' in names  # an embedded quote, doubled
    assert any(ch in names for ch in "éèëüçø")
