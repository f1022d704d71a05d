"""Contacts: import (CSV/XLSX), normalisation, merging, opt-outs."""
