"""The specification's example journeys, verbatim (shared by tests)."""

WELCOME_CREATE = {
    "name": "Welcome new members",
    "trigger_event": "account.created",
    "description": "Send a welcome email when someone joins the loyalty programme.",
}
WELCOME_CONFIG = {
    "initial": "send_welcome",
    "states": {
        "send_welcome": {
            "meta": {"type": "send_email", "templateId": 5},
            "on": {"DONE": "done"},
        },
        "done": {"type": "final"},
    },
}

WAIT_THEN_SMS_CONFIG = {
    "initial": "wait",
    "states": {
        "wait": {
            "meta": {"type": "wait_for_duration", "days": 3},
            "on": {"ELAPSED": "send_sms"},
        },
        "send_sms": {
            "meta": {"type": "send_sms", "templateId": 12},
            "on": {"DONE": "done"},
        },
        "done": {"type": "final"},
    },
}

VIP_BRANCH_CONFIG = {
    "initial": "check_vip",
    "states": {
        "check_vip": {
            "meta": {
                "type": "condition",
                "attribute": "account.classification",
                "operator": "eq",
                "value": "vip",
            },
            "on": {"TRUE": "send_vip_email", "FALSE": "send_standard_email"},
        },
        "send_vip_email": {
            "meta": {"type": "send_email", "templateId": 20},
            "on": {"DONE": "done"},
        },
        "send_standard_email": {
            "meta": {"type": "send_email", "templateId": 21},
            "on": {"DONE": "done"},
        },
        "done": {"type": "final"},
    },
}

WINBACK_CREATE = {
    "name": "Win-back: slipping away",
    "trigger_event": "account.classification.became_slipping_away",
}
WINBACK_CONFIG = {
    "initial": "wait_2_days",
    "states": {
        "wait_2_days": {
            "meta": {"type": "wait_for_duration", "days": 2},
            "on": {"ELAPSED": "send_email"},
        },
        "send_email": {
            "meta": {"type": "send_email", "templateId": 30},
            "on": {"DONE": "wait_3_days"},
        },
        "wait_3_days": {
            "meta": {"type": "wait_for_duration", "days": 3},
            "on": {"ELAPSED": "send_sms"},
        },
        "send_sms": {
            "meta": {"type": "send_sms", "templateId": 31},
            "on": {"DONE": "done"},
        },
        "done": {"type": "final"},
    },
}

PROMO_CREATE = {"name": "One-off promo blast", "trigger_event": "manual"}
PROMO_CONFIG = {
    "initial": "send_push",
    "states": {
        "send_push": {
            "meta": {"type": "send_push_notification", "templateId": 9},
            "on": {"DONE": "done"},
        },
        "done": {"type": "final"},
    },
}
