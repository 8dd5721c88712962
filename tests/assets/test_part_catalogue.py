"""The part catalogue: nominal figures per model number, checked where they are written."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from assets.models import Kind, PartModel
from assets.services import part_model_create

pytestmark = pytest.mark.django_db


def test_a_part_is_created_with_its_nominal_figures_and_history():
    part = part_model_create(
        model_number="LFP-100", kind=Kind.CASE, nominal_ah=Decimal(100), nominal_volts=Decimal("51.2")
    )

    assert (part.nominal_ah, part.nominal_volts, str(part)) == (
        Decimal(100),
        Decimal("51.2"),
        "LFP-100 (Case)",
    )
    assert part.history.count() == 1


def test_a_duplicate_model_number_or_a_capacity_of_zero_is_refused_naming_the_field():
    part_model_create(model_number="LFP-100", kind=Kind.CASE, nominal_ah=Decimal(100))
    with pytest.raises(ValidationError) as duplicate:
        part_model_create(model_number="LFP-100", kind=Kind.CASE)
    assert "model_number" in duplicate.value.message_dict
    with pytest.raises(ValidationError) as zero:
        part_model_create(model_number="LFP-0", kind=Kind.CASE, nominal_ah=Decimal(0))
    assert "The nominal capacity (Ah) must be more than 0." in str(zero.value)


def test_the_database_refuses_a_negative_voltage_whoever_writes_it():
    with pytest.raises(IntegrityError):
        PartModel.objects.create(model_number="X", kind=Kind.CASE, nominal_volts=Decimal(-1))
