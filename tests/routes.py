"""Walks every URL pattern of the project, for the route-policy tests."""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Route:
    pattern: str
    namespace: str
    name: str | None
    callback: Callable[..., object]
    converters: tuple[str, ...]

    @property
    def qualified_name(self) -> str | None:
        if self.name is None:
            return None
        return f"{self.namespace}:{self.name}" if self.namespace else self.name


def iter_routes(
    patterns: Sequence[URLPattern | URLResolver] | None = None, prefix: str = "", namespace: str = ""
) -> Iterator[Route]:
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from iter_routes(entry.url_patterns, prefix + str(entry.pattern), ns)
        else:
            yield Route(
                pattern=prefix + str(entry.pattern),
                namespace=namespace,
                name=entry.name,
                callback=entry.callback,
                converters=tuple(entry.pattern.regex.groupindex),
            )
