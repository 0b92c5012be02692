"""The whole settings: one field per section, the secrets (from the environment only) and where the file was."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr

from bot.config.activation import ActivationSettings
from bot.config.business import BusinessSettings
from bot.config.campaigns import Campaign
from bot.config.conversations import ConversationSettings, FlowSettings, IntentSettings, Texts
from bot.config.crosssell import CrosssellSettings
from bot.config.incidents import IncidentSettings
from bot.config.outreach import OutreachSettings
from bot.config.platforms import SlackSettings, TelegramSettings
from bot.config.playbook import PLAYBOOK_SECTIONS
from bot.config.reports import ReportsSettings
from bot.config.resurvey import ResurveySettings
from bot.config.rewards import RewardSettings
from bot.config.section import KEY_PATTERN, Section
from bot.config.server import DatabaseSettings, ServerSettings
from bot.config.starter import starter_flows_dir
from bot.config.tickets import RoutingSettings, StaffMember, TicketSettings
from bot.config.tiers import TierSettings
from bot.config.webchat import WebchatSettings
from bot.config.winback import WinbackSettings


class Secrets(BaseModel):
    """Secrets come from the environment only; SecretStr keeps them out of logs and reprs."""

    model_config = ConfigDict(frozen=True)
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    api_key: SecretStr | None = None
    metrics_token: SecretStr | None = None


class Settings(Section):
    business: BusinessSettings = BusinessSettings()
    flows: FlowSettings = FlowSettings()
    conversation: ConversationSettings = ConversationSettings()
    intents: IntentSettings = IntentSettings()
    tickets: TicketSettings = TicketSettings()
    staff: tuple[StaffMember, ...] = ()
    routing: RoutingSettings = RoutingSettings()
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    webchat: WebchatSettings = WebchatSettings()
    outreach: OutreachSettings = OutreachSettings()
    tiers: TierSettings = TierSettings()
    campaigns: dict[Annotated[str, Field(pattern=KEY_PATTERN, max_length=100)], Campaign] = {}
    texts: Texts = Texts()
    telegram: TelegramSettings = TelegramSettings()
    slack: SlackSettings = SlackSettings()
    reports: ReportsSettings = ReportsSettings()
    incidents: IncidentSettings = IncidentSettings()
    rewards: RewardSettings = RewardSettings()
    winback: WinbackSettings = WinbackSettings()
    activation: ActivationSettings = ActivationSettings()
    crosssell: CrosssellSettings = CrosssellSettings()
    resurvey: ResurveySettings = ResurveySettings()
    # Filled from the environment, never from the file.
    secrets: Secrets = Field(Secrets(), exclude=True)
    # Where relative paths (flows.dir) are resolved: the config file's folder, or the cwd.
    base_dir: Path = Field(Path("."), exclude=True)
    source: str = Field("(embedded defaults)", exclude=True)
    _config_campaigns: dict[str, Campaign] | None = PrivateAttr(None)
    _config_sections: dict[str, Section] | None = PrivateAttr(None)

    def config_campaigns(self) -> dict[str, Campaign]:
        """The campaigns config.yaml holds. `campaigns` itself is the campaigns in force: the core fills it from the
        campaign store, in place, whenever a campaign is saved on any instance, so every holder of these settings
        sees the change (bot/outreach/campaigns/store.py)."""
        if self._config_campaigns is None:
            self._config_campaigns = dict(self.campaigns)
        return self._config_campaigns

    def config_sections(self) -> dict[str, Section]:
        """The playbook's sections as config.yaml holds them (the ones in force may be newer: put_in_force)."""
        if self._config_sections is None:
            self._config_sections = {name: getattr(self, name) for name in PLAYBOOK_SECTIONS}
        return self._config_sections

    def put_in_force(self, name: str, section: Section) -> None:
        """Replace the playbook section `name` (winback, rewards...) with a version saved in the settings store.

        The settings are frozen for everything else; this is the one change allowed after loading, made in place in
        one step of the event loop, so every holder of these settings (the jobs, the engine, the console) reads the
        new section from its next look, and no reader ever sees half of it. Whoever reads a section should read it
        from the settings when it needs it, not keep it."""
        expected = PLAYBOOK_SECTIONS.get(name)
        if expected is None or not isinstance(section, expected):
            raise ValueError(f"{name!r} is not a playbook section, or {type(section).__name__} is not its settings")
        self.config_sections()  # what config.yaml held, kept before the first change
        object.__setattr__(self, name, section)

    @property
    def configured_flows_dir(self) -> Path:
        path = Path(self.flows.dir)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def flows_dir(self) -> Path:
        """The flows folder; without a ./flows (a new folder), the starter flows shipped in the package."""
        return starter_flows_dir() if self.uses_starter_flows else self.configured_flows_dir

    @property
    def uses_starter_flows(self) -> bool:
        # Only for the default name: a folder named on purpose (flows.dir: my_flows) that is missing is an error.
        return self.flows.dir == FlowSettings().dir and not self.configured_flows_dir.is_dir()

    @property
    def public_url(self) -> str:
        return self.server.public_url.rstrip("/") or f"http://{self.server.host}:{self.server.port}"
