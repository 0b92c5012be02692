"""The delivery policy for proactive messages (consent, quiet hours, frequency caps), and clearing claimed
rows through it."""
