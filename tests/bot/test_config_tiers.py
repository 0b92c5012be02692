"""Tier rules in config.yaml: a condition that does not parse, a tier given twice, or a campaign naming a
tier no rule produces is refused at load with the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings
from bot.yamlsource import SourceError

RULES = """\
tiers:
  default: standard
  rules:
    - tier: core
      top_percent: 20
    - tier: new
      when: customer.tenure_days < 30
"""
CAMPAIGN = """\
campaigns:
  tips:
    audience:
      tiers: [core, standard]
    schedule:
      core: "0 10 1 * *"
      "*": "0 10 1 1,4,7,10 *"
    message: Hello
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        load_settings(path, env={})
    return [str(p).removeprefix(f"{path}:") for p in caught.value.problems]


def test_rules_with_valid_conditions_and_campaigns_naming_their_tiers_load(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(RULES + CAMPAIGN, encoding="utf-8")

    settings = load_settings(path, env={})

    assert [rule.tier for rule in settings.tiers.rules] == ["core", "new"]
    assert settings.campaigns["tips"].audience.tiers == ("core", "standard")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(RULES.replace("customer.tenure_days < 30", "customer.tenure_days <"),
                     ['7: tier rule "new": condition error: unexpected \'end of template\''], id="condition syntax"),
        pytest.param(RULES.replace("customer.tenure_days < 30", "customer.tenure_days << 30"),
                     ['7: tier rule "new": condition error: unexpected \'<\''], id="doubled operator"),
        pytest.param(RULES + "    - tier: core\n      when: customer.days_inactive > 90\n",
                     ['8: tier "core" already has a rule (line 4); give each tier one rule'], id="tier twice"),
    ],
)  # fmt: skip
def test_a_bad_tier_rule_names_its_line(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert problems(tmp_path, text) == expected


@pytest.mark.parametrize(
    ("campaign", "expected"),
    [
        pytest.param(CAMPAIGN.replace("[core, standard]", "[core, standrd]"),
                     '11: unknown tier "standrd" (did you mean "standard"?); tiers.default and tiers.rules give: '
                     "core, new, standard", id="audience tier misspelled"),
        pytest.param(CAMPAIGN.replace('      core: "0 10 1 * *"', '      cor: "0 10 1 * *"'),
                     '13: unknown tier "cor" (did you mean "core"?)', id="schedule tier misspelled"),
        pytest.param(CAMPAIGN.replace("[core, standard]", "vip"), '11: unknown tier "vip";',
                     id="a tier nothing produces, written as one name"),
    ],
)  # fmt: skip
def test_a_campaign_naming_a_tier_no_rule_produces_is_refused(tmp_path: Path, campaign: str, expected: str) -> None:
    found = problems(tmp_path, RULES + campaign)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_without_tier_rules_campaigns_can_only_name_the_default_tier(tmp_path: Path) -> None:
    found = problems(tmp_path, CAMPAIGN)
    assert found == ['4: unknown tier "core"; tiers.default and tiers.rules give: standard',
                     '6: unknown tier "core"; tiers.default and tiers.rules give: standard']  # fmt: skip


def test_every_tier_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = RULES.replace("< 30", "< ") + "    - tier: new\n      top_percent: 5\n" + CAMPAIGN.replace("core,", "gold,")
    assert [p.split(":")[0] for p in problems(tmp_path, text)] == ["7", "8", "13"]
