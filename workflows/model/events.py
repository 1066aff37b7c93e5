"""The trigger events of the specification, in its order."""

from typing import Literal, get_args

TriggerEvent = Literal[
    "manual",
    "order.created",
    "order.updated",
    "order.closed",
    "campaign.public.started",
    "campaign.private.started",
    "account.created",
    "account.updated",
    "account.tier.upgraded",
    "account.tier.downgraded",
    "account.tier.extended",
    "account.classification.became_vip",
    "account.classification.became_new",
    "account.classification.became_active",
    "account.classification.became_inactive",
    "account.classification.became_slipping_away",
    "account.classification.became_churned",
]

TRIGGER_EVENTS: tuple[str, ...] = get_args(TriggerEvent)
MANUAL = "manual"
