"""Email over SMTP: the channel (channel.py), its pipelined sending run (run.py), the server's replies
(replies.py) and the IMAP inbox its replies arrive in (inbox.py).

Nothing is imported here: each user imports the piece it needs.
"""
