"""Campaigns: templates, creation, lifecycle actions, the scheduler job and the dispatcher hooks (built and
scheduled by backend.services)."""
