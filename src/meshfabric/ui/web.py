"""The web UI's framework: templates, the signed-in principal, sessions and CSRF (issue 14).

Contract for page modules (``ui/pages.py``, ``ui/product.py``)
---------------------------------------------------------------
A page module exposes ``router = APIRouter()`` with full paths (e.g. ``/products/{domain}/{name}``);
:func:`mount_ui` includes it with :func:`csrf_guard` as a router dependency, so **every POST,
PUT, PATCH or DELETE of a page module is refused 403 without a valid CSRF token, before the
handler runs**. A page handler looks like::

    @router.get("/products/{domain}/{name}", response_class=HTMLResponse)
    def product_page(request: Request, domain: str, name: str,
                     user: str | None = Depends(current_user)) -> Response:
        mesh = mesh_of(request)                     # the app's Mesh (meshfabric.ui.web.mesh_of)
        found = mesh.product(f"{domain}.{name}", user=user)   # always pass user=
        return render(request, "product.html", {"product": found})

- :func:`current_user` is the signed-in principal's name, or ``None`` when the server runs
  without authentication (the workspace's local principal). Without a valid session it
  redirects (303) to ``/login?next=<this page>``. Pass it on as ``user=`` to every service
  call, so the access layer decides what the page may show; never filter in the page.
- :func:`render` renders ``templates/<template_name>`` (Jinja2, autoescaped) into an
  HTMLResponse. Every template sees ``request``, ``user`` (the name, or ``None``),
  ``auth_enabled``, ``csrf_token`` (the form token of this session), ``static(path)`` (the URL
  of ``ui/static/<path>``) and ``url(path, **query)`` (a same-site URL with a quoted query).
  Undefined names are errors (``StrictUndefined``): test a dict's optional key with
  ``x.get('key')``, not ``x.key``. Filters: ``percent``, ``number``, ``when``, ``attr``
  (:mod:`meshfabric.ui.fmt`; ``attr`` writes a number exactly for a ``data-*`` attribute).
- Templates extend ``base.html`` and fill the blocks ``title``, ``content`` and ``scripts``
  (``scripts`` is inside ``<body>``, after the content; add ``<script src="{{ static('…') }}">``
  there). The Content-Security-Policy allows scripts from ``/static`` only — no inline script
  or ``onclick=``; hand data to a script in ``data-*`` attributes or a
  ``<script type="application/json">`` block. Every asset is served by meshfabric under
  ``/static``; a page must not reference anything off the machine.
- Forms: ``<form method="post">{{ csrf_field() }} …</form>`` (or a hidden input named
  ``csrf_token`` with ``{{ csrf_token }}``); read fields with ``await form_of(request)`` (a
  ``dict[str, str]``: the body is ``application/x-www-form-urlencoded``), never ``Form(...)``.
  After a POST answer with ``redirect(url)`` (303) so a reload does not resubmit.
- Errors: raise meshfabric's own errors (``NotFound``, ``AccessDenied``…) as the services do;
  under a UI path they become an HTML page with the error's message and status (a 500 reveals
  nothing); an unknown path or method there is a page for a browser (``Accept: text/html``)
  and a problem document for an API client. :func:`is_ui_path` says which paths are the UI's
  (all but ``/api/``, ``/metrics`` and ``/openapi.json``).
- Layering (tests/unit/test_architecture.py): ``api.app`` imports ``ui``, so nothing in ``ui``
  may import ``meshfabric.api`` (a package cycle) — use :func:`mesh_of` from here — and
  ``meshfabric.mesh`` only under ``if TYPE_CHECKING:`` (for the ``Mesh`` annotation).
- Charts: :mod:`meshfabric.ui.charts` draws SVG on the server (line, bars, gauge); put the
  numbers drawn into ``data-*`` attributes so tests can compare them with the REST API.

Sessions
--------
Signing in (``/login``) checks an API key or a JWT with the app's auth service — the one the
API's :func:`~meshfabric.api.deps.authenticate` uses — and starts a server-side session: the
cookie ``mf_session`` holds only an opaque random id (HttpOnly, SameSite=Strict, Secure under
https, expiring with the session); the server keeps the principal, the credential (to re-check
it on every request, so a revoked key or an expired token ends the session) and the CSRF token.
Sessions live in the server's memory: a restart signs everyone out. A visitor who has not signed
in gets a short anonymous session that holds only the CSRF token of the login form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

if TYPE_CHECKING:
    import jinja2

    from meshfabric.mesh import Mesh

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

COOKIE = "mf_session"
CSRF_FIELD = "csrf_token"
#: a signed-in session lasts this long, however busy (sign in again after)
SESSION_SECONDS = 12 * 3600
#: an anonymous session (only the login form's CSRF token) lasts this long
ANONYMOUS_SECONDS = 3600
#: at most this many sessions are kept; past it the oldest anonymous ones go first
MAX_SESSIONS = 10_000
#: a form body is small: a larger one is refused before it is parsed
MAX_FORM_BYTES = 64 * 1024

API_PREFIXES = ("/api/", "/metrics", "/openapi.json")


def is_ui_path(path: str) -> bool:
    """Whether ``path`` is a page of the UI (its errors are HTML, not problem documents).

    >>> is_ui_path("/domains/sales"), is_ui_path("/api/v1/domains"), is_ui_path("/metrics")
    (True, False, False)
    """
    return not (path == "/api" or any(path.startswith(p) for p in API_PREFIXES))


# -- sessions ------------------------------------------------------------------------------------

@dataclass
class Session:
    """One browser's session. ``principal`` is None for an anonymous (not yet signed-in) one."""

    csrf: str
    expires: float
    principal: str | None = None
    credential: str | None = field(default=None, repr=False)
    created: float = field(default_factory=time.time)


def _digest(sid: str) -> str:
    # the store is keyed by a hash of the cookie's id, so a dump of memory holds no usable cookie
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    """Sessions by the hash of their cookie id, bounded in number; thread-safe (sync handlers
    run in a thread pool)."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.max_sessions = max_sessions

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, sid: str | None) -> Session | None:
        if not sid or len(sid) > 200:
            return None
        key = _digest(sid)
        with self._lock:
            found = self._sessions.get(key)
            if found is not None and found.expires <= time.time():
                del self._sessions[key]
                return None
            return found

    def create(self, *, principal: str | None = None, credential: str | None = None) -> tuple[str, Session]:
        now = time.time()
        sid = secrets.token_urlsafe(32)
        ttl = SESSION_SECONDS if principal is not None else ANONYMOUS_SECONDS
        session = Session(csrf=secrets.token_urlsafe(32), expires=now + ttl, principal=principal,
                          credential=credential)
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                self._evict(now)
            self._sessions[_digest(sid)] = session
        return sid, session

    def drop(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._sessions.pop(_digest(sid), None)

    def _evict(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[key]
        if len(self._sessions) < self.max_sessions:
            return
        anonymous = sorted((s.created, k) for k, s in self._sessions.items() if s.principal is None)
        for _, key in anonymous[: max(1, len(anonymous) // 2)]:
            del self._sessions[key]
        if len(self._sessions) >= self.max_sessions:  # all signed in: the oldest goes
            oldest = min(self._sessions.items(), key=lambda item: item[1].created)[0]
            del self._sessions[oldest]


def mesh_of(request: Request) -> Mesh:
    """The app's Mesh (the one its API serves)."""
    return request.app.state.mesh  # type: ignore[no-any-return]


def sessions_of(request: Request) -> SessionStore:
    return request.app.state.ui_sessions  # type: ignore[no-any-return]


def auth_enabled(request: Request) -> bool:
    return getattr(request.app.state, "auth", None) is not None


def session_of(request: Request) -> Session:
    """This request's session, starting an anonymous one (its cookie is set by :func:`render`
    and :func:`redirect`) when the browser has none."""
    cached = getattr(request.state, "ui_session", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    store = sessions_of(request)
    session = store.get(request.cookies.get(COOKIE))
    if session is None:
        sid, session = store.create()
        request.state.ui_new_sid = sid
    request.state.ui_session = session
    return session


def start_session(request: Request, principal: str, credential: str) -> None:
    """Sign in: drop the browser's old session and start a new one (a new id, so an id planted
    before sign-in is worth nothing after it)."""
    store = sessions_of(request)
    store.drop(request.cookies.get(COOKIE))
    sid, session = store.create(principal=principal, credential=credential)
    request.state.ui_session = session
    request.state.ui_new_sid = sid


def end_session(request: Request) -> None:
    sessions_of(request).drop(request.cookies.get(COOKIE))
    request.state.ui_session = None
    request.state.ui_end = True


def _set_cookie(request: Request, response: Response) -> Response:
    if getattr(request.state, "ui_end", False) and getattr(request.state, "ui_new_sid", None) is None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return response
    sid = getattr(request.state, "ui_new_sid", None)
    if sid is not None:
        session: Session = request.state.ui_session
        response.set_cookie(COOKIE, sid, max_age=max(1, int(session.expires - time.time())), path="/",
                            httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


# -- a small cache --------------------------------------------------------------------------------

MISSING = object()


class TimedCache:
    """Values that expire, bounded in number (the oldest go first); thread-safe. A page keys what
    it caches by the principal it computed it for, so no one is served another's view."""

    def __init__(self, max_items: int = 5000) -> None:
        self._items: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self.max_items = max_items

    def get(self, key: Any) -> Any:
        """The value, or :data:`MISSING` when there is none or it expired."""
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] <= time.monotonic():
                self._items.pop(key, None)
                return MISSING
            return found[1]

    def put(self, key: Any, value: Any, seconds: float) -> None:
        with self._lock:
            if len(self._items) >= self.max_items:
                for old in sorted(self._items, key=lambda k: self._items[k][0])[: max(1, self.max_items // 10)]:
                    del self._items[old]
            self._items[key] = (time.monotonic() + seconds, value)


# -- the principal -------------------------------------------------------------------------------

class LoginRequired(Exception):
    """No signed-in session: the page answers with a redirect to the login form."""

    def __init__(self, next_url: str, message: str = "") -> None:
        super().__init__(next_url)
        self.next_url, self.message = next_url, message


def current_user(request: Request) -> str | None:
    """The signed-in principal's name; ``None`` when the server runs without authentication
    (the local principal). The session's credential is checked again on every request, so a
    revoked API key or an expired token signs the browser out."""
    service = getattr(request.app.state, "auth", None)
    if service is None:
        return None
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    session = session_of(request)
    if session.principal is None or session.credential is None:
        raise LoginRequired(here)
    from meshfabric.auth import AuthenticationFailed

    try:
        name: str = service.authenticate(f"Bearer {session.credential}")
    except AuthenticationFailed as exc:
        end_session(request)
        raise LoginRequired(here, f"your session ended: {exc.message}") from None
    if name != session.principal:  # cannot happen for a key; belt and braces for a token
        end_session(request)
        raise LoginRequired(here)
    request.state.principal = name
    return name


def safe_next(value: str | None) -> str:
    """A same-site path to return to after signing in; anything else (another host, a scheme,
    ``//host``, a backslash trick) is ``/``.

    >>> safe_next("/domains/sales?x=1"), safe_next("//evil.example/"), safe_next("https://x/"), safe_next(None)
    ('/domains/sales?x=1', '/', '/', '/')
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 32 for c in value) or value.startswith(("/login", "/logout")):
        return "/"
    return value


# -- CSRF ----------------------------------------------------------------------------------------

def csrf_token(request: Request) -> str:
    """The CSRF token of this browser's session, for a form's hidden ``csrf_token`` field."""
    return session_of(request).csrf


async def form_of(request: Request) -> dict[str, str]:
    """The fields of a posted form (``application/x-www-form-urlencoded``; the last value of a
    repeated field wins). Read once and cached for the request."""
    cached = getattr(request.state, "ui_form", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    body = await request.body()
    fields: dict[str, str] = {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded" and len(body) <= MAX_FORM_BYTES:
        try:
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200))
        except (UnicodeDecodeError, ValueError):
            fields = {}
    request.state.ui_form = fields
    return fields


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token: 403, nothing done."""


async def check_csrf(request: Request) -> None:
    """Refuse (403, :class:`CsrfRefused`) a form whose ``csrf_token`` is missing or is not this
    session's. Compared in constant time."""
    given = (await form_of(request)).get(CSRF_FIELD, "")
    store = sessions_of(request)
    session = store.get(request.cookies.get(COOKIE))
    if session is None or not given or not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise CsrfRefused()


async def csrf_guard(request: Request) -> None:
    """A router dependency: every method but GET, HEAD and OPTIONS needs :func:`check_csrf`."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await check_csrf(request)


# -- rendering -----------------------------------------------------------------------------------

_ENV: jinja2.Environment | None = None
_ENV_LOCK = threading.Lock()


def environment() -> jinja2.Environment:
    """The Jinja2 environment over ``ui/templates`` (autoescaped, built once)."""
    global _ENV
    with _ENV_LOCK:
        if _ENV is None:
            import jinja2

            env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                                     autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
            from meshfabric.ui import fmt

            env.filters.update(fmt.FILTERS)
            _ENV = env
    return _ENV


def static_url(path: str) -> str:
    return "/static/" + quote(path.lstrip("/"))


def url(path: str, **query: Any) -> str:
    """A same-site URL: ``path`` with the query parameters that are not None, quoted.

    >>> url("/search", q="orders & co", page=None)
    '/search?q=orders+%26+co'
    """
    given = {k: v for k, v in query.items() if v is not None}
    return path + ("?" + urlencode(given) if given else "")


def render(request: Request, template_name: str, context: dict[str, Any] | None = None,
           status_code: int = 200) -> HTMLResponse:
    """``templates/<template_name>`` rendered with ``context`` and the globals every page sees."""
    from markupsafe import Markup

    token = csrf_token(request)
    values: dict[str, Any] = {
        "request": request,
        "user": getattr(request.state, "principal", None),
        "auth_enabled": auth_enabled(request),
        "csrf_token": token,
        "csrf_field": lambda: Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token),
        "static": static_url,
        "url": url,
        "path": request.url.path,
    }
    values.update(context or {})
    html = environment().get_template(template_name).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=_SECURITY_HEADERS)
    return _set_cookie(request, response)  # type: ignore[return-value]


def redirect(request: Request, to: str, status_code: int = 303) -> Response:
    """A redirect (303 after a POST) that carries a new or ended session's cookie."""
    return _set_cookie(request, RedirectResponse(to, status_code=status_code))


#: pages load nothing from elsewhere and may not be framed
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """An HTML error page that says what went wrong in words (a 500 says nothing of the server)."""
    try:
        return render(request, "error.html", {"status": status, "title": title, "message": message},
                      status_code=status)
    except Exception:  # a broken template must not turn an error into a traceback
        from html import escape

        return HTMLResponse(f"<!doctype html><title>{status}</title><h1>{escape(title)}</h1>"
                            f"<p>{escape(message)}</p>", status_code=status)


# -- mounting ------------------------------------------------------------------------------------

def mount_ui(app: FastAPI) -> None:
    """Serve the UI over ``app``: pages at ``/``, assets at ``/static``, local ``/docs`` and
    ``/redoc``, and HTML error pages under the UI's paths (the API's stay problem documents)."""
    from fastapi.staticfiles import StaticFiles

    from meshfabric.ui import pages, product

    app.state.ui_sessions = SessionStore()
    app.state.ui_cache = TimedCache()
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="ui-static")
    guarded = [Depends(csrf_guard)]
    app.include_router(pages.router, dependencies=guarded, include_in_schema=False)
    app.include_router(product.router, dependencies=guarded, include_in_schema=False)
    _install_docs(app)
    _install_html_errors(app)


def _install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` over the app's OpenAPI document, with the vendored
    assets of ``static/vendor`` (no CDN, no web fonts, no validator badge calling out)."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=title,
            swagger_js_url=static_url("vendor/swagger-ui/swagger-ui-bundle.js"),
            swagger_css_url=static_url("vendor/swagger-ui/swagger-ui.css"),
            swagger_favicon_url=static_url("favicon.svg"),
            swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": False})

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=title,
                              redoc_js_url=static_url("vendor/redoc/redoc.standalone.js"),
                              redoc_favicon_url=static_url("favicon.svg"), with_google_fonts=False)


def wants_html(request: Request) -> bool:
    """Whether the client asked for HTML (a browser's ``Accept`` names ``text/html``)."""
    return "text/html" in request.headers.get("accept", "").lower()


def _install_html_errors(app: FastAPI) -> None:
    """Wrap the app's problem+json handlers: under a UI path an error is an HTML page."""
    from http import HTTPStatus

    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from meshfabric.errors import MeshfabricError

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        target = url("/login", next=safe_next(exc.next_url) if exc.next_url != "/" else None,
                     ended="1" if exc.message else None)
        return redirect(request, target)

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return error_page(request, 403, "form refused",
                          "this form was sent without the page's security token (it may have expired, or "
                          "come from another site); nothing was changed — reload the page and try again")

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)

    def wrap(kind: type, describe: Any, *, browsers_only: bool = False) -> None:
        api_handler = app.exception_handlers.get(kind)

        async def handler(request: Request, exc: Exception) -> Response:
            html = is_ui_path(request.url.path) and (not browsers_only or wants_html(request))
            if html or api_handler is None:
                status, title, message = describe(request, exc)
                return error_page(request, status, title, message)
            return await api_handler(request, exc)  # type: ignore[no-any-return]

        app.add_exception_handler(kind, handler)

    def meshfabric_error(request: Request, exc: MeshfabricError) -> tuple[int, str, str]:
        message = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return exc.http_status, exc.title, message

    def http_error(request: Request, exc: StarletteHTTPException) -> tuple[int, str, str]:
        try:
            title = HTTPStatus(exc.status_code).phrase.lower()
        except ValueError:
            title = "error"
        if exc.status_code == 404:
            return 404, "not found", f"there is no page at {request.url.path}"
        if exc.status_code == 405:
            return 405, title, f"{request.method} is not allowed on {request.url.path}"
        return exc.status_code, title, exc.detail if isinstance(exc.detail, str) else title

    def invalid(request: Request, exc: RequestValidationError) -> tuple[int, str, str]:
        where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}"
                          for e in exc.errors()[:3])
        return 400, "bad request", f"the address does not fit this page: {where}"

    def bug(request: Request, exc: Exception) -> tuple[int, str, str]:
        return 500, "internal error", "the server failed to show this page; it is a bug in meshfabric"

    wrap(MeshfabricError, meshfabric_error)
    # an unknown path or method outside the API is a page for a browser and, as before the UI,
    # a problem document for an API client (one that does not ask for text/html)
    wrap(StarletteHTTPException, http_error, browsers_only=True)
    wrap(RequestValidationError, invalid)
    wrap(Exception, bug)
