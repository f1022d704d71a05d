"""Audience: who a request means. The filter tree (filters), its SQL (filter_sql), selections and counts
(selection). Below contacts and campaigns, which both use it."""
