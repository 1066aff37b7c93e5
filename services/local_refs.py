"""The `localRef`s of a recommendation tree: the names a journey's machineConfig uses for
the templates, segments and campaigns the same tree creates, before they have ids."""

from dataclasses import dataclass, field

TEMPLATE = "communication_template"
SEGMENT = "targeting_segment"
CAMPAIGN = "campaign"
# What each category's entity is called in a message.
NOUNS = {TEMPLATE: "template", SEGMENT: "segment", CAMPAIGN: "campaign"}


@dataclass
class LocalRefs:
    named: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Refs whose node could not be applied: (category, the node's path).
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, ref: str, category: str, entity_id: int) -> None:
        self.named[ref] = (category, entity_id)

    def fail(self, ref: str, category: str, path: str) -> None:
        self.failed[ref] = (category, path)

    def resolve(self, ref: str, category: str) -> int | None:
        found = self.named.get(ref)
        return found[1] if found is not None and found[0] == category else None

    def why_not(self, ref: str, category: str) -> str:
        """Why `resolve` found nothing."""
        found = self.named.get(ref)
        if found is None and ref in self.failed:
            owner, path = self.failed[ref]
            return (
                f"the {owner} recommendation with localRef {ref!r} "
                f"({path or 'the accepted recommendation'}) could not be applied"
            )
        if found is None:
            return (
                f"no {category} recommendation of this tree has localRef {ref!r} "
                f"(the {NOUNS[category]} it should create)"
            )
        return f"localRef {ref!r} names a {found[0]} recommendation, not a {category} one"
