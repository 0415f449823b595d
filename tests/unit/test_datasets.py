"""The per-dataset spec is consistent with itself and with the Spark side."""

from __future__ import annotations

import pytest

from music_streaming import datasets


@pytest.mark.parametrize("spec", datasets.SPECS.values(), ids=lambda s: s.name)
def test_a_spec_requires_what_it_cannot_do_without_and_reads_its_key(spec):
    assert set(spec.non_empty) <= set(spec.required)
    assert set(spec.non_empty) <= set(spec.read)
    assert set(spec.timestamps) <= set(spec.required)
    if spec.key:
        assert spec.key in spec.non_empty and spec.key in spec.read


def test_every_reference_dataset_has_typed_rows_and_an_empty_schema_in_spark():
    from music_streaming import kpis

    assert set(kpis.REFERENCE) == set(datasets.REFERENCE_DATASETS) == {"songs", "users"}
    for name, reference in kpis.REFERENCE.items():
        assert reference.empty_schema.split(" ", 1)[0] == datasets.SPECS[name].key
