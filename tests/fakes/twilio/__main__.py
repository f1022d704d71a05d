"""`python -m tests.fakes.twilio`: the fake in a process of its own (see server.main)."""

from tests.fakes.twilio.server import main

main()
