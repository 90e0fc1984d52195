"""Specs: every key is documented in docs/spec.md, and the report's settings are honoured."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import hiermeta as hm
from hiermeta.cli import main
from hiermeta.pipeline.spec import _SCHEMA

DOC = (Path(__file__).parents[2] / "docs" / "spec.md").read_text()


@pytest.mark.parametrize("section", sorted(_SCHEMA))
def test_every_spec_key_is_documented(section: str) -> None:
    heading = "## Top level" if not section else f"## `[{section}]`"
    assert heading in DOC, heading
    part = DOC.split(heading)[1].split("\n## ")[0]
    documented = set(re.findall(r"`([a-z_0-9]+)`", part))
    assert sorted(_SCHEMA[section] - documented) == []


@pytest.mark.slow  # writes a full report
def test_report_ci_level_is_used_everywhere(tmp_path: Path) -> None:
    spec = tmp_path / "bcg.toml"
    spec.write_text('[data]\ndataset = "bcg"\n[report]\nci_level = 0.9\n')
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out), "--json"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    exact = summary["bayesian"]["exact"]
    api = hm.bayesian(hm.load_effects("bcg")).pooled(0.9)
    assert exact["ci_level"] == 0.9 and exact["ci_low"] == api.low
    assert all(f["ci_level"] == 0.9 for f in summary["frequentist"].values())
    assert "90% credible interval" in summary["statements"][0]


def test_a_bad_report_level_is_a_spec_error(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('[data]\ndataset = "bcg"\n[report]\nci_level = 95\n')
    with pytest.raises(
        hm.SpecError,
        match=r"bad.toml: \[report\] ci_level must lie in \(0, 1\); got 95. Did you mean 0.95",
    ):
        hm.load_spec(spec)
