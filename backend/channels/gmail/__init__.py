"""The Gmail API channel (channel.py), its OAuth flow (oauth.py) and token handling.

Nothing is imported here: the Google client libraries load only when Gmail is used.
"""
