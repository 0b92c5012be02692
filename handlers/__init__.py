"""engagebot outer ring: adapters to chat platforms, the web server and the CLI."""
