"""Data migrations of the identity app."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from caducee.identity.models import SearchToken

pytestmark = pytest.mark.django_db

sort_keys = importlib.import_module("caducee.identity.migrations.0003_search_token_sort_keys")


def test_fill_sort_keys_copies_each_identity_key_onto_its_tokens(make_patient, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name, first in (("Dupont", "Anne"), ("Le Gall", "Jean-Pierre"), ("Martin", "Léa")):
        make_patient(birth_name=name, first_given_name=first)
    count = SearchToken.objects.count()
    SearchToken.objects.update(birth_name="", first_given_name="", birth_date="")  # as after AddField
    monkeypatch.setattr(sort_keys, "BATCH_SIZE", 2)  # several batches, one straddling identities
    sort_keys.fill_sort_keys(apps, None)
    tokens = list(SearchToken.objects.select_related("identity"))
    assert len(tokens) == count
    assert {t.birth_name for t in tokens} == {"DUPONT", "LE GALL", "MARTIN"}
    for t in tokens:
        assert (t.birth_name, t.first_given_name, t.birth_date) == (
            t.identity.birth_name,
            t.identity.first_given_name,
            t.identity.birth_date,
        )
