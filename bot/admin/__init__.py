"""The admin console's core: accounts, sessions and the audit log; the console's views of flows (texts, graph,
versions) and the preview that runs a draft against a scratch database. No web framework here: handlers/admin/ is
the adapter."""
