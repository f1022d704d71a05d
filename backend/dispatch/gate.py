"""A dispatcher's campaign gate: which campaigns' messages may be claimed and started next.

Errors in a row and pause requests act on the very next message of a campaign, however many workers there are:
- a campaign with an error not yet recorded while others of it are in flight waits for them (`erring`), so its
  errors in a row are counted before more of it starts;
- a campaign whose last answer was an error sends one message at a time until one goes through (`error_run`),
  so that a run of errors pauses it at its limit;
- a campaign paused or cancelled in this process while a claim was under way (`stopped_meanwhile`) starts none
  of the messages that claim brought.
Pacing adds its own: a pace that pauses after each message (`hooks.sequential`), and campaigns with a pace or
daily cap of their own (`hooks.paced_campaigns`).

The gate has no lock of its own: the dispatcher calls it under its lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from backend.dispatch.claims import ClaimedMessage
from backend.dispatch.hooks import DispatchHooks


def first_of_each(claimed: list[ClaimedMessage], campaigns: set[int]) -> list[ClaimedMessage]:
    """`claimed` with only the first message of each campaign in `campaigns`."""
    seen: set[int] = set()
    keep = []
    for message in claimed:
        campaign_id = message.campaign_id
        if campaign_id is not None and campaign_id in campaigns:
            if campaign_id in seen:
                continue
            seen.add(campaign_id)
        keep.append(message)
    return keep


class CampaignGate:
    """Which campaigns wait (see the module docstring). Every method is called under the dispatcher's lock."""

    def __init__(self) -> None:
        #: campaigns with an error whose messages still in flight are to be recorded before more of it starts.
        self.erring: set[int] = set()
        #: campaigns whose last answer was an error: one message of each at a time until one is sent.
        self.error_run: set[int] = set()
        #: campaigns stopped (paused, cancelled) since the coordinator began its current batch.
        self.stopped_meanwhile: set[int] = set()

    def held(self) -> set[int]:
        """Campaigns none of whose freshly claimed messages may start."""
        return self.erring | self.stopped_meanwhile

    def stopped(self, campaign_id: int) -> None:
        self.stopped_meanwhile.add(campaign_id)
        self.error_run.discard(campaign_id)  # resumed, it starts afresh

    def batch_begins(self) -> None:
        self.stopped_meanwhile.clear()

    def answered(self, campaign_id: int | None, sent: bool) -> None:
        """A message of `campaign_id` got its answer (`sent` or not)."""
        if campaign_id is None:
            return
        if sent:
            self.error_run.discard(campaign_id)
        else:
            self.erring.add(campaign_id)
            self.error_run.add(campaign_id)

    def waiting(self, in_flight_or_done: Iterable[int | None]) -> tuple[set[int], set[int]]:
        """(campaigns erring, campaigns one message at a time) for the next claim. `in_flight_or_done`: the
        campaigns of the messages in flight or answered but not recorded yet."""
        # A campaign with an error not yet recorded while others of it are in flight waits for them: its
        # errors in a row are counted before more of it starts.
        self.erring &= set(in_flight_or_done)
        return set(self.erring), set(self.error_run)


def exclusions(
    hooks: DispatchHooks,
    account_id: int,
    channel: str,
    waiting: tuple[set[int], set[int]],
    unrecorded: Iterable[int | None],
) -> tuple[set[int], bool]:
    """What the next claim leaves out: (campaigns excluded, whether the channel's pace holds every campaign
    back until its outstanding message is recorded). `waiting` is `CampaignGate.waiting`'s answer;
    `unrecorded` the campaigns of the messages queued, in flight or answered but not recorded yet. Called
    outside the dispatcher's lock (the hooks may read the store)."""
    erring, one_at_a_time = waiting
    exclude = set(hooks.excluded_campaigns(account_id, channel)) | erring
    outstanding = Counter(cid for cid in unrecorded if cid is not None)
    exclude |= one_at_a_time & set(outstanding)
    hold_campaigns = False
    if outstanding:
        # A pace that pauses after each message waits for that message's result before the next claim.
        if hooks.sequential(account_id, channel):
            hold_campaigns = True
        exclude |= hooks.paced_campaigns(dict(outstanding))
    return exclude, hold_campaigns
