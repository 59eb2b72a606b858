"""The HTTP API: one module a resource, and the request flow they share.

- ``embed``: ``POST /v1/embed``; ``openai``: ``POST /v1/embeddings``, ``GET /v1/models``;
  ``tokenize``: ``POST /v1/tokenize``; ``status``: ``/health``, ``/ready``, ``/info``,
  ``/metrics``; ``task``: ``POST /v1/classify`` or ``POST /v1/tag``, included by the app only
  when it serves a task model.  (``docs`` and ``playground``, installed by the app, serve
  pages, not API.)
- ``flow``: admission, preparation, the scheduler, timeouts and disconnects, for every
  embedding route; ``inputs``: request inputs → sentences within the limits; ``encoding``:
  vectors as JSON floats or base64; ``schemas``: the request and response bodies.
"""

from fastapi import APIRouter

from service.api import embed, openai, status, task, tokenize

__all__ = ["paths", "router"]

_RESOURCES = (embed, openai, tokenize, status)

router = APIRouter()
for _resource in _RESOURCES:
    router.include_router(_resource.router)


def paths(task_kind: str | None = None) -> list[str]:
    """Every path the API answers, with the route of a task of ``task_kind`` when one is
    served (an including router keeps its routers whole, so they are listed from each
    resource's own)."""
    routers = [r.router for r in _RESOURCES]
    task_router = task.router_for(task_kind)
    if task_router is not None:
        routers.append(task_router)
    return [getattr(route, "path", "") for r in routers for route in r.routes]
