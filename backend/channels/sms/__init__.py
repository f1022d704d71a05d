"""SMS through Twilio's REST API: the channel (channel.py), its error codes (errors.py) and the encoding and
billed parts of a text (length.py).

Nothing is imported here, so a module that needs one piece (length.py for the compose preview) loads only that.
"""
