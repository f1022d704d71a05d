"""Two-way conversations: threads per contact, inbound messages, reply routing."""
