"""What a smoke run created, so that it prints and deletes exactly those (newest first)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


class Tolerated(Exception):
    """A deletion left unfinished for a reason that is not the smoke's failure (S3 delivering a
    server access log late into an emptied bucket): reported with what to do, not counted as failed."""


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str
    delete: Callable[[], None] = field(compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass
class Ledger:
    """Record each resource as soon as it exists; ``teardown`` deletes them in reverse order.

    A deletion that fails is reported and the teardown goes on: one stuck resource must not
    leave the others behind.
    """

    say: Callable[[str], None] = print
    created: list[Resource] = field(default_factory=list)
    deleted: list[Resource] = field(default_factory=list)
    failed: list[tuple[Resource, str]] = field(default_factory=list)
    kept: list[tuple[Resource, str]] = field(default_factory=list)

    def add(self, kind: str, name: str, delete: Callable[[], None]) -> Resource:
        resource = Resource(kind, name, delete)
        self.created.append(resource)
        self.say(f"created  {resource}")
        return resource

    def teardown(self) -> None:
        for resource in reversed(self.created):
            if resource in self.deleted:
                continue
            try:
                resource.delete()
            except Tolerated as note:
                self.kept.append((resource, str(note)))
                self.say(f"kept     {resource}: {note}")
            except Exception as error:  # report it, delete the rest
                self.failed.append((resource, f"{type(error).__name__}: {error}"))
                self.say(f"NOT deleted {resource}: {type(error).__name__}: {error}")
            else:
                self.deleted.append(resource)
                self.say(f"deleted  {resource}")

    @property
    def left_behind(self) -> list[Resource]:
        return [resource for resource in self.created if resource not in self.deleted]
