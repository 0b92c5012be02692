"""engagebot core: customers, conversations, tickets, surveys and outreach; no platform code."""
