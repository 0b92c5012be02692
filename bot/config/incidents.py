"""The incidents section: what a notice about a known problem says, and how long a notice may wait."""

from __future__ import annotations

from bot.config.section import Section


class IncidentSettings(Section):
    # Sandboxed templates; they see `incident` (ref, title, what_happened, what_we_do, next_update, severity, status,
    # message: the update's or resolution's text) and `customer`.
    opened_text: str = (
        "⚠️ {{ incident.title }}\n{{ incident.what_happened }}\nWhat we are doing: {{ incident.what_we_do }}"
        "{% if incident.next_update %}\nNext update: {{ incident.next_update }}{% endif %}"
    )
    update_text: str = (
        "Update on {{ incident.title }}: {{ incident.message }}"
        "{% if incident.next_update %}\nNext update: {{ incident.next_update }}{% endif %}"
    )
    resolved_text: str = "✅ Resolved: {{ incident.title }}. {{ incident.message }}"
    # What an affected customer who complains hears first, before the complaint flow goes on.
    complaint_text: str = (
        "We know about this: {{ incident.title }} ({{ incident.status }}). {{ incident.what_we_do }}"
        "{% if incident.next_update %} Next update: {{ incident.next_update }}.{% endif %}"
        " Your message is linked to it."
    )
