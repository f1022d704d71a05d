"""Contacts: import (CSV/XLSX), normalisation, merging, opt-outs."""

# The search index follows every ORM write of a contact (mapper events registered on import).
from backend.contacts import search_index as search_index  # noqa: E402
