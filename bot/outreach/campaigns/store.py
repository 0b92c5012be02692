"""The campaign store: every saved version of every campaign, in the database, shared by all instances.

The head of a campaign (its newest version) is what every instance plans and delivers; a retired head means the
campaign is gone. config.yaml's `campaigns:` are imported at start (and by every `engagebot` command) by the
fast-forward rule of bot/storage/versioned.py, the same as the playbook's sections and flow files (docs/admin.md).
"""

from __future__ import annotations

from bot.config import Campaign
from bot.outreach.models import CampaignConfigMark, CampaignVersion
from bot.ports import Clock
from bot.storage import versioned
from bot.storage.database import Database
from bot.storage.versioned import (
    CONFIG_AUTHOR,
    FROM_CONFIG,
    FROM_CONSOLE,
    RETIRED,
    AlsoInTransaction,
    ConfigSync,
    SavedVersion,
    VersionedStore,
    fingerprint,
    saved_when,
    to_source,
)
from bot.storage.versioned import StaleVersion as StaleCampaign

SavedCampaign = SavedVersion

__all__ = [
    "CONFIG_AUTHOR",
    "FROM_CONFIG",
    "FROM_CONSOLE",
    "RETIRED",
    "AlsoInTransaction",
    "CampaignStore",
    "ConfigSync",
    "SavedCampaign",
    "StaleCampaign",
    "fingerprint",
    "from_source",
    "to_source",
]


def from_source(source: str) -> Campaign:
    return versioned.from_source(Campaign, source)


class CampaignStore(VersionedStore[Campaign]):
    what = "campaign"

    def __init__(self, db: Database, clock: Clock):
        super().__init__(db, clock, CampaignVersion, CampaignConfigMark)

    def model_of(self, name: str) -> type[Campaign]:
        return Campaign

    def conflict_message(self, name: str, head: SavedVersion) -> str:
        return (
            f'campaign "{name}": config.yaml was edited, and the campaign was also changed in the console since '
            f"config.yaml was last imported ({saved_when(head)}). config.yaml's edit is not imported; the console's "
            "version stays in force. Copy the console's version into config.yaml (the campaign's page shows it as "
            "YAML), or run `engagebot campaigns import --force` to overwrite the console's change"
        )
