"""Outgoing webhooks (DESIGN section 17): signed per Standard Webhooks, delivered from the event log."""
