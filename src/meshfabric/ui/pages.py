"""The UI's own pages: sign-in, the mesh overview, a domain, search and alerts (issue 14).

Every page takes the principal from :func:`~meshfabric.ui.web.current_user` and passes it as
``user=`` to the same services the API calls, so what a page shows is what the access layer lets
that principal see. Charts are SVG drawn here (:mod:`meshfabric.ui.charts`), with the numbers
drawn in ``data-*`` attributes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from meshfabric.api.deps import mesh_of
from meshfabric.ui.web import (
    auth_enabled,
    current_user,
    end_session,
    form_of,
    redirect,
    render,
    safe_next,
    start_session,
)

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None, ended: str | None = None) -> Response:
    if not auth_enabled(request):
        return redirect(request, safe_next(next))
    message = "your session ended; sign in again" if ended else ""
    return render(request, "login.html", {"next": safe_next(next), "message": message})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    fields = await form_of(request)
    target = safe_next(fields.get("next"))
    if not auth_enabled(request):
        return redirect(request, target)
    from meshfabric.auth import AuthenticationFailed

    credential = fields.get("credential", "").strip()
    if not credential:
        return render(request, "login.html", {"next": target, "message": "enter an API key or a token"},
                      status_code=400)
    if len(credential) > 8192 or any(c.isspace() for c in credential):
        return render(request, "login.html", {"next": target, "message": "that is not an API key or a token"},
                      status_code=401)
    service = request.app.state.auth
    try:
        from starlette.concurrency import run_in_threadpool

        name: str = await run_in_threadpool(service.authenticate, f"Bearer {credential}")
    except AuthenticationFailed as exc:
        return render(request, "login.html", {"next": target, "message": exc.message}, status_code=401)
    start_session(request, name, credential)
    return redirect(request, target)


@router.get("/logout", response_class=HTMLResponse)
def logout_form(request: Request) -> Response:
    return render(request, "logout.html", {"signed_out": False})


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request) -> Response:
    end_session(request)
    return redirect(request, "/login" if auth_enabled(request) else "/")


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, user: str | None = Depends(current_user)) -> Response:
    mesh = mesh_of(request)
    domains: list[Any] = list(mesh.domains(user=user))
    return render(request, "overview.html", {"domains": domains})
