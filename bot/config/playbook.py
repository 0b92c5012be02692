"""The retention playbook's sections: the parts of config.yaml the console may also change (docs/playbook.md). Each
is kept with its versions in the settings store (bot/storage/sections.py) and put in force on every instance through
Settings.put_in_force."""

from __future__ import annotations

from bot.config.activation import ActivationSettings
from bot.config.crosssell import CrosssellSettings
from bot.config.incidents import IncidentSettings
from bot.config.resurvey import ResurveySettings
from bot.config.rewards import RewardSettings
from bot.config.section import Section
from bot.config.winback import WinbackSettings

# In the order the console shows them; the key is the section's name in config.yaml and on Settings.
PLAYBOOK_SECTIONS: dict[str, type[Section]] = {
    "winback": WinbackSettings,
    "activation": ActivationSettings,
    "crosssell": CrosssellSettings,
    "resurvey": ResurveySettings,
    "rewards": RewardSettings,
    "incidents": IncidentSettings,
}
