"""The app's state record remembers each version's configurations in the order they were used.

``update-config`` keeps a version's last ``--keep`` configurations: "last" must be the order of use, which the
cluster's timestamps cannot give (``creationTimestamp`` counts whole seconds; a restored configuration is an old
ConfigMap).
"""

from __future__ import annotations

import json

from progressive.step.version.state import EARLIER_LIMIT, AppRecord, VersionRecord

COMMIT = "a" * 40


def _record(configmap: str = "cm-0") -> AppRecord:
    return AppRecord((VersionRecord(COMMIT, "img", configmap.removeprefix("cm-"), configmap, 2, 100),))


def _configmaps(record: AppRecord) -> tuple[str, ...]:
    found = record.find(COMMIT)
    assert found is not None
    return found.configmaps


def test_each_new_configuration_goes_first_and_the_one_it_replaces_second() -> None:
    record = _record()
    for n in (1, 2, 3):
        record = record.with_config(COMMIT, str(n), f"cm-{n}")
    assert _configmaps(record) == ("cm-3", "cm-2", "cm-1", "cm-0")


def test_a_restored_configuration_moves_to_the_front_once() -> None:
    record = _record()
    for n in (1, 2):
        record = record.with_config(COMMIT, str(n), f"cm-{n}")
    restored = record.with_config(COMMIT, "0", "cm-0")
    assert _configmaps(restored) == ("cm-0", "cm-2", "cm-1")
    assert restored.with_config(COMMIT, "0", "cm-0") == restored  # already there: nothing changes


def test_at_most_the_limit_of_earlier_configurations_is_remembered() -> None:
    record = _record()
    for n in range(1, EARLIER_LIMIT + 5):
        record = record.with_config(COMMIT, str(n), f"cm-{n}")
    configmaps = _configmaps(record)
    assert len(configmaps) == EARLIER_LIMIT + 1
    assert configmaps[:3] == (f"cm-{EARLIER_LIMIT + 4}", f"cm-{EARLIER_LIMIT + 3}", f"cm-{EARLIER_LIMIT + 2}")


def test_the_history_survives_the_json_and_a_record_without_it_still_reads() -> None:
    record = _record().with_config(COMMIT, "1", "cm-1")
    stored = json.loads(record.to_json())
    assert stored["versions"][0]["earlierConfigMaps"] == ["cm-0"]
    assert AppRecord.from_json(record.to_json()) == record
    del stored["versions"][0]["earlierConfigMaps"]  # as written before the record remembered them
    assert _configmaps(AppRecord.from_json(json.dumps(stored))) == ("cm-1",)
    assert "earlierConfigMaps" not in json.loads(_record().to_json())["versions"][0]
