"""The explorer's web app: a FastAPI application over precomputed :class:`~rnnlens.explore.engine.ExploreModel`s.

Endpoints (JSON; described by ``/openapi.json``; no ``/docs`` or ``/redoc`` pages, whose JavaScript would come
from a CDN):

* ``GET /api/models`` -> ``{"models": [describe() ...], "limits": {...}, "definitions": {...}}``
* ``POST /api/read`` ``{"model": NAME, "text": TEXT}`` -> tokens, unknown flags, per-token readout and
  class probabilities, the PC trajectory, measured / settled / predicted pushes, notes (cuts, control
  characters, unknown words)
* ``GET /api/word?model=NAME&word=WORD`` -> the word's push along the line (logits) and valence
* ``GET /api/words?model=NAME&n=15`` -> the most positive, negative and neutral words
* ``GET /api/scene?model=NAME`` -> visited-state cloud, the traced line, its fixed points, and under its
  name the part of every analysis section that has one and ran (e.g. ``modifiers``)

The page (``/``) and its script and style are package data in ``static/``; ``/static/plotly.min.js`` is
the copy inside the installed plotly package, so nothing is fetched from the network. Every request passes
:class:`~rnnlens.explore.guard.Guard` first: Host check, body limit (413 before parsing), UTF-8 check,
Content-Security-Policy and nosniff headers on every response.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field, field_validator

from rnnlens.errors import ArgumentError
from rnnlens.explore.engine import DEFINITIONS, MAX_CHARS, MAX_TOKENS, SETTLE_STEPS
from rnnlens.explore.guard import MAX_BODY_BYTES, Guard

_STATIC = {"app.js": "text/javascript", "app.css": "text/css"}


class ReadRequest(BaseModel):
    model: str = Field(description="model name, as GET /api/models lists them")
    text: str = Field(
        description=f"the review; control characters are removed, the first {MAX_CHARS:,} characters "
        f"and {MAX_TOKENS:,} tokens are read (longer texts are cut, with a note); "
        f"the whole request at most {MAX_BODY_BYTES:,} bytes (413)"
    )

    @field_validator("model", "text")
    @classmethod
    def _no_lone_surrogate(cls, value: str) -> str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(
                f"has a lone surrogate (U+{ord(value[e.start]):04X} at character {e.start:,}), which is "
                "no character: a JSON \\uD800-\\uDFFF escape must be half of a pair"
            ) from None
        return value


def plotly_js_path() -> Path:
    """The plotly.min.js bundled inside the installed plotly package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js not found at {path}: reinstall plotly (pip install 'rnnlens[explore]')")
    return path


def _static_text(name: str) -> str:
    return resources.files("rnnlens.explore").joinpath("static").joinpath(name).read_text(encoding="utf-8")


def create_app(models, *, allowed_hosts: list[str] | None = None) -> FastAPI:
    """A FastAPI app serving ``models`` (a list of ExploreModel, names unique). ``allowed_hosts``: the Host
    header values answered (:func:`rnnlens.explore.guard.allowed_hosts` gives the CLI's), others get 400;
    None answers any (a test client, a server behind a proxy that checks them)."""
    models = list(models)
    by_name = {m.name: m for m in models}
    if len(by_name) != len(models):
        raise ArgumentError("model names must be unique")
    plotly_js = plotly_js_path()
    page = _static_text("index.html")
    static = {name: _static_text(name) for name in _STATIC}
    app = FastAPI(
        title="rnnlens explore",
        version="1",
        docs_url=None,
        redoc_url=None,
        description="Watch a sentiment RNN read a text: its state in the plane of the top two PCs, "
        "its readout token by token, and each word's push along the line attractor.",
    )
    app.add_middleware(Guard, hosts=allowed_hosts, max_body=MAX_BODY_BYTES)
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    _add_page(app, page, static, plotly_js)
    _add_api(app, models, by_name)
    return app


async def _invalid_request(request, exc: RequestValidationError) -> JSONResponse:
    """422 naming each problem (where, what) without echoing the input back: it may be megabytes, or hold a
    lone surrogate that no JSON encoder writes as UTF-8."""
    return JSONResponse(
        {"detail": [{"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()]},
        status_code=422,
    )


def _add_page(app: FastAPI, page: str, static: dict, plotly_js: Path) -> None:
    """Serve the page, its script and style and plotly.min.js on ``app`` (the security headers are
    :class:`~rnnlens.explore.guard.Guard`'s)."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index():
        return HTMLResponse(page)

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly():
        return FileResponse(plotly_js, media_type="text/javascript")

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str):
        if name not in static:
            raise HTTPException(404, detail=f"no static file {name!r}")
        return Response(static[name], media_type=_STATIC[name])


def _add_api(app: FastAPI, models: list, by_name: dict) -> None:
    """Serve the JSON endpoints over ``models`` (``by_name``: the same models by name) on ``app``."""

    def get_model(name: str):
        m = by_name.get(name)
        if m is None:
            raise HTTPException(404, detail=f"model={name!r} is not served here; choose one of {sorted(by_name)}")
        return m

    @app.get("/api/models")
    def list_models():
        """The models served, their architecture, size, classes and how their slow manifold was obtained."""
        return {
            "models": [m.describe() for m in models],
            "limits": {
                "max_tokens": MAX_TOKENS,
                "max_chars": MAX_CHARS,
                "max_body_bytes": MAX_BODY_BYTES,
                "settle_steps": SETTLE_STEPS,
            },
            "definitions": DEFINITIONS,
        }

    @app.post("/api/read")
    def read(req: ReadRequest):
        """Run the network over the text: per token the readout, class probabilities, PC trajectory and
        pushes (measured, settled, linearized prediction); see ``definitions`` in /api/models."""
        m = get_model(req.model)
        # plain JSON types already: JSONResponse skips FastAPI's per-element encoder (most of a request's
        # time on a 300-token review)
        return JSONResponse(m.read(req.text))

    @app.get("/api/word")
    def word(
        model: str = Query(description="model name"),
        word: str = Query(max_length=200, description="a word (tokenized; the first token is looked up)"),
    ):
        """A word's push along the line (logits) and valence, averaged over the slow-manifold nodes, and its
        push at each node."""
        return get_model(model).word(word)

    @app.get("/api/words")
    def words(
        model: str = Query(description="model name"), n: int = Query(15, ge=1, le=200, description="words per list")
    ):
        """The most positive, most negative and most neutral words among the most frequent ones."""
        return get_model(model).words(n)

    @app.get("/api/scene")
    def scene(model: str = Query(description="model name")):
        """What the trajectory is drawn over: visited states, the traced line and its fixed points (PC plane),
        plus, under its name, the part of every analysis section that has one and ran."""
        return JSONResponse(get_model(model).scene())
