"""Saved experiments, export/import, CSV data and recordings: WebSocket messages + HTTP routes.

docs/protocol.md §9 is the contract. :func:`install` wires everything into an app (called by
``app.main.create_app``): the :class:`Services` object (``app.state.services``: rooms, stores,
the SQLite storage opened lazily on first use), the HTTP router and the extra message types.

Large payloads never travel inside WebSocket JSON (the inbound cap is 64 KiB): uploads are HTTP
POSTs answered with a short-lived token that a WebSocket message then uses, and downloads are
prepared by a WebSocket message that answers with a short-lived download URL.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from app import PROTOCOL_VERSION, __version__
from app import protocol as P
from app.export_files import describe_file_error, load_trainer
from app.file_worker import FileWorker, FileWorkerDied
from app.frames import dumps
from app.protocol import ProtocolError
from app.recording import History, Recording
from app.recording import encode as encode_recording
from app.rooms import THROTTLED, JoinThrottled, RoomRegistry, ext_of
from app.security import logfmt
from app.session import Session
from app.storage import Forbidden, NotFound, Storage

JSON_TYPE = "application/json"
NPZ_TYPE = "application/octet-stream"
CSV_TYPE = "text/csv; charset=utf-8"
REC_TYPE = "application/vnd.propscope.recording"
PREVIEW_ROWS = 5
log = logging.getLogger("propscope.experiments")


# --- short-lived tokens ------------------------------------------------------------------------


@dataclass
class Item:
    data: bytes
    media_type: str
    filename: str
    expires: float
    meta: dict


class TokenStore:
    """token → bytes, for `ttl` seconds, at most `max_bytes` in total (oldest evicted first)."""

    def __init__(self, ttl: float, max_bytes: int) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.items: OrderedDict[str, Item] = OrderedDict()
        self.bytes = 0
        self.lock = threading.Lock()

    def put(self, data: bytes, media_type: str = NPZ_TYPE, filename: str = "", **meta) -> str:
        token = secrets.token_urlsafe(18)
        with self.lock:
            self._expire()
            self.items[token] = Item(data, media_type, filename, time.monotonic() + self.ttl,
                                     meta)
            self.bytes += len(data)
            while self.bytes > self.max_bytes and len(self.items) > 1:
                _, old = self.items.popitem(last=False)
                self.bytes -= len(old.data)
        return token

    def get(self, token: str | None) -> Item | None:
        if not token:
            return None
        with self.lock:
            self._expire()
            return self.items.get(token)

    def _expire(self) -> None:
        now = time.monotonic()
        for token in [t for t, item in self.items.items() if item.expires < now]:
            self.bytes -= len(self.items.pop(token).data)


class Services:
    def __init__(self, app, settings) -> None:
        self.app = app
        self.settings = settings
        self.rooms = RoomRegistry(settings)
        ttl = settings.download_ttl
        self.downloads = TokenStore(ttl, 512 * 1024 * 1024)
        self.uploads = TokenStore(ttl, 256 * 1024 * 1024)
        self.files = FileWorker()  # uploads are checked in a process of their own
        self._storage: Storage | None = None
        self._lock = threading.Lock()

    @property
    def registry(self):
        return self.app.state.registry

    def storage(self) -> Storage:
        with self._lock:
            if self._storage is None:
                self._storage = Storage(self.settings.db_path)
            return self._storage

    def close(self) -> None:
        self.files.close()
        if self._storage is not None:
            self._storage.close()
            self._storage = None


def install(app, settings) -> Services:
    services = Services(app, settings)
    app.state.services = services
    app.include_router(router)
    return services


# --- helpers shared by the messages -------------------------------------------------------------


def spec_error(err) -> ProtocolError:
    from engine.spec import SpecError

    if isinstance(err, SpecError):
        return ProtocolError("invalid_spec", f"the spec was rejected: {err}",
                             {"problems": [list(p) for p in err.problems]})
    return ProtocolError("invalid_spec", f"the spec was rejected: {err}")


async def flush_metrics(session: Session) -> None:
    """Send the steps not yet in a `metrics` message, so the history is complete."""
    if len(session.run.metrics):
        session.send(await session.worker(session.run.metrics_message, False))


def _filename(stem: str, ext: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)[:60] or "propscope"
    return f"{safe}.{ext}"


def _download_fields(services: Services, token: str, item_bytes: int, filename: str) -> dict:
    return {"token": token, "url": f"/api/downloads/{token}", "filename": filename,
            "bytes": item_bytes, "expires_in": services.downloads.ttl}


# --- WebSocket messages (docs/protocol.md §9.2–9.5) --------------------------------------------


class Save(P._Message):
    type: Literal["save"]
    name: Annotated[str, Field(max_length=200)] = ""
    publish: bool = False  # list it publicly (GET /api/experiments); else only by its link


async def save(session: Session, msg: Save) -> None:
    from engine import persistence

    ext = ext_of(session)
    await flush_metrics(session)
    run = session.run_of(msg)
    trainer = run.trainer

    def pack():
        return (persistence.to_npz(trainer), trainer.spec.to_dict(), trainer.step_count,
                trainer.dataset.info.name)

    state, spec, step, dataset = await session.worker(pack)
    # the metrics history is the first run's; a run beside it is saved with its state alone
    history = (ext.history if run is session.run else History(len(trainer.network.layers)))
    history = history.to_dict()
    try:
        exp, token = await asyncio.to_thread(
            ext.services.storage().save, msg.name, spec, state, history, step, dataset,
            "npz", msg.publish,
        )
    except Exception as err:
        raise ProtocolError(
            "storage_error", f"the experiment could not be saved: {err}"
        ) from None
    session.ack(msg, run=run.id, experiment=exp.summary(), owner_token=token,
                share_url=f"{ext.base_url}/e/{exp.id}")


class Open(P._Message):
    type: Literal["open"]
    experiment: Annotated[str, Field(min_length=1, max_length=64)]


async def open_experiment(session: Session, msg: Open) -> None:
    ext = ext_of(session)
    try:
        exp = await asyncio.to_thread(ext.services.storage().get, msg.experiment,
                                      with_state=True)
    except NotFound:
        raise ProtocolError(
            "not_found", f"there is no experiment {msg.experiment!r}"
        ) from None

    def make():
        return load_trainer_or_refuse(exp.state, f"experiment {exp.id!r}")

    await session.install_trainer(make, "open")
    ext.history = _history(exp.history, session)
    session.ack(msg, experiment=exp.summary(), step=session.trainer.step_count)


class Export(P._Message):
    type: Literal["export"]
    format: Literal["json", "npz", "csv", "numpy", "pytorch", "gif", "mp4"] = "json"


async def export(session: Session, msg: Export) -> None:
    from app import run_exports
    from engine import persistence

    ext = ext_of(session)
    run = session.run_of(msg)
    trainer = run.trainer
    step = run.step
    stem = f"propscope-{trainer.dataset.info.name}-step{step}"
    if run.kind != "backprop" and msg.format not in ("json", "npz"):
        raise ProtocolError("bad_state", f"run {run.id} is a genetic algorithm: its best "
                            "network exports as json or npz (scripts, animations and the "
                            "history show backpropagation)")
    if msg.format == "csv" and run is not session.run:
        raise ProtocolError("bad_state", "the metrics history is kept for the first run; "
                            f"promote {run.id} first (promote_run)")
    if msg.format in run_exports.SCRIPTS:
        try:
            data = await session.worker(run_exports.script, trainer, msg.format)
        except ValueError as err:
            raise ProtocolError("bad_state", str(err)) from None
        media = run_exports.PYTHON_TYPE
        filename = _filename(f"{stem}-{run_exports.SCRIPTS[msg.format]}", "py")
    elif msg.format in run_exports.ANIMATIONS:
        state = await session.worker(run_exports.frozen_state, trainer)
        try:
            data = await asyncio.to_thread(run_exports.next_step_animation, state,
                                           msg.format)
        except ValueError as err:
            raise ProtocolError("bad_state", f"this network cannot be animated: {err}"
                                ) from None
        media = run_exports.ANIMATIONS[msg.format]
        filename = _filename(f"{stem}-next-step", msg.format)
    elif msg.format == "csv":
        await flush_metrics(session)
        data = ext.history.to_csv().encode()
        media, filename = CSV_TYPE, _filename(stem + "-history", "csv")
    elif msg.format == "json":
        data = (await session.worker(persistence.to_json, trainer)).encode()
        media, filename = JSON_TYPE, _filename(stem, "json")
    else:
        data = await session.worker(persistence.to_npz, trainer)
        media, filename = NPZ_TYPE, _filename(stem, "npz")
    token = ext.services.downloads.put(data, media, filename)
    session.ack(msg, run=run.id, format=msg.format, step=step,
                **_download_fields(ext.services, token, len(data), filename))


class OpenImport(P._Message):
    type: Literal["open_import"]
    token: Annotated[str, Field(min_length=1, max_length=64)]


async def open_import(session: Session, msg: OpenImport) -> None:
    ext = ext_of(session)
    item = ext.services.uploads.get(msg.token)
    if item is None or item.meta.get("kind") != "import":
        raise ProtocolError("not_found", "unknown or expired import token; upload again")

    def make():
        return load_trainer_or_refuse(item.data, "the import")

    await session.install_trainer(make, "import")
    ext.history = History(len(session.trainer.network.layers))
    session.ack(msg, step=session.trainer.step_count, format=item.meta["format"])


class ConfigureCsv(P._Message):
    type: Literal["configure_csv"]
    spec: dict = Field(default_factory=dict)
    dataset_token: Annotated[str, Field(min_length=1, max_length=64)]
    target: Annotated[str, Field(min_length=1, max_length=200)]
    features: list[Annotated[str, Field(max_length=200)]] | None = None
    task: Literal["classification", "regression"] | None = None


async def configure_csv(session: Session, msg: ConfigureCsv) -> None:
    from engine.csv_data import CSVDataError, load_csv
    from engine.spec import LIMITS, Spec, SpecError
    from engine.trainer import Trainer

    ext = ext_of(session)
    item = ext.services.uploads.get(msg.dataset_token)
    if item is None or item.meta.get("kind") != "csv":
        raise ProtocolError("not_found", "unknown or expired dataset token; upload again")
    settings = ext.services.settings
    raw = dict(msg.spec)
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    raw["data"] = {**data, "dataset": "custom"}
    text = item.data.decode("utf-8-sig")
    info = {}

    def make():
        try:
            spec = Spec.from_dict(raw)
            dataset = load_csv(
                text, target=msg.target, features=msg.features, task=msg.task,
                train_ratio=spec.data.train_ratio, seed=spec.data.seed,
                max_rows=min(int(LIMITS["max_samples"]),
                             settings.max_upload_rows),
                max_columns=settings.max_upload_columns,
                name="custom",
            )
            trainer = Trainer(spec, dataset)
        except CSVDataError as err:
            raise ProtocolError("invalid_csv", err.message, err.to_dict()) from None
        except (SpecError, ValueError) as err:
            raise spec_error(err) from None
        info.update(task=dataset.info.task, inputs=list(dataset.input_names),
                    target=dataset.target_name, class_names=list(dataset.class_names),
                    n_train=len(dataset.x_train), n_test=len(dataset.x_test))
        return trainer

    await session.install_trainer(make, "configure")
    ext.history = History(len(session.trainer.network.layers))
    session.ack(msg, step=0, dataset=info)


class RecordStart(P._Message):
    type: Literal["record_start"]


async def record_start(session: Session, msg: RecordStart) -> None:
    ext = ext_of(session)
    settings = ext.services.settings
    ext.recording = Recording(settings.max_recording_bytes)
    # The recording starts with the whole state, so that it replays on its own.
    await session.send_full_state("record")
    session.ack(msg, recording=True, max_bytes=ext.recording.max_bytes)


class RecordStop(P._Message):
    type: Literal["record_stop"]


async def record_stop(session: Session, msg: RecordStop) -> None:
    ext = ext_of(session)
    recording, ext.recording = ext.recording, None
    if recording is None:
        raise ProtocolError("bad_state", "no recording is running (record_start)")
    data = encode_recording(recording, {"protocol": PROTOCOL_VERSION,
                                        "app_version": __version__})
    filename = _filename(f"propscope-recording-{int(recording.started)}", "psrec")
    token = ext.services.downloads.put(data, REC_TYPE, filename)
    session.ack(msg, recording=False, messages=len(recording.items),
                duration=recording.duration, truncated=recording.truncated,
                **_download_fields(ext.services, token, len(data), filename))




def load_trainer_or_refuse(data: bytes, what: str):
    """load_trainer for a message handler: a bad file answers ``invalid_file`` (the session
    keeps what it had)."""
    try:
        return load_trainer(data)
    except ValueError as err:
        sentence, details = describe_file_error(err)
        raise ProtocolError("invalid_file", f"{what} cannot be opened: {sentence}",
                            details or None) from None


def _history(raw, session: Session) -> History:
    """A stored history, or an empty one if it is not readable (logged, never fatal)."""
    try:
        return History.from_dict(raw)
    except (TypeError, ValueError, KeyError, AttributeError):
        log.warning(logfmt("history_unreadable", session=session.id))
        return History(len(session.trainer.network.layers))


# --- HTTP ------------------------------------------------------------------------------------

router = APIRouter()


def error(status: int, code: str, text: str, **details) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": text, **details}},
                        status_code=status)


class TooLarge(Exception):
    pass


class TooSlow(Exception):
    pass


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request body, at most `max_bytes`, within the body_timeout (a body sent one byte a
    minute would otherwise hold its connection and buffer forever)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge
    chunks, size = [], 0
    timeout = float(getattr(request.app.state.settings, "body_timeout", 30.0))
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge
                chunks.append(chunk)
    except TimeoutError:
        raise TooSlow from None
    return b"".join(chunks)


def _too_slow(request: Request) -> JSONResponse:
    timeout = float(getattr(request.app.state.settings, "body_timeout", 30.0))
    log.info(logfmt("http_body_timeout", path=request.url.path))
    return error(408, "too_slow", f"the file did not arrive within {timeout:g} s")


def _services(request: Request) -> Services:
    return request.app.state.services


@router.get("/api/experiments")
async def list_experiments(
    request: Request,
    limit: int = Query(50, ge=1, le=200),
    offset: int = Query(0, ge=0, le=2**31 - 1),  # SQLite takes 64-bit integers only
    mine: Annotated[str, Query(max_length=2400)] = "",
):
    """Published experiments and the caller's own (``mine``: comma-separated ids it saved)."""
    ids = tuple(dict.fromkeys(i for i in mine.split(",") if 0 < len(i) <= 64))[:200]
    items, total = await asyncio.to_thread(_services(request).storage().list, limit, offset,
                                           ids)
    return {"experiments": [e.summary() for e in items], "total": total, "limit": limit,
            "offset": offset}


async def _get(request: Request, exp_id: str, with_state: bool = False):
    try:
        return await asyncio.to_thread(_services(request).storage().get, exp_id,
                                       with_state=with_state)
    except NotFound:
        return None


def _not_found(exp_id: str) -> JSONResponse:
    return error(404, "not_found", f"there is no experiment {exp_id[:64]!r}")


@router.get("/api/experiments/{exp_id}")
async def get_experiment(request: Request, exp_id: str):
    exp = await _get(request, exp_id)
    if exp is None:
        return _not_found(exp_id)
    return {**exp.summary(), "spec": exp.spec, "history": exp.history}


@router.get("/api/experiments/{exp_id}/export")
async def export_experiment(request: Request, exp_id: str, format: str = "json"):
    if format not in ("json", "npz", "csv"):
        return error(400, "invalid_value", "format must be json, npz or csv")
    exp = await _get(request, exp_id, with_state=format != "csv")
    if exp is None:
        return _not_found(exp_id)
    stem = f"propscope-{exp.name}"
    if format == "csv":
        body, media = History.from_dict(exp.history).to_csv().encode(), CSV_TYPE
        filename = _filename(stem + "-history", "csv")
    elif format == "npz":
        body, media, filename = exp.state, NPZ_TYPE, _filename(stem, "npz")
    else:
        from engine import persistence

        def to_json():
            return persistence.to_json(load_trainer(exp.state)).encode()

        try:
            body = await asyncio.to_thread(to_json)
        except ValueError as err:
            sentence, details = describe_file_error(err)
            return error(400, "invalid_file", f"the stored experiment is not readable: "
                         f"{sentence}", **details)
        media, filename = JSON_TYPE, _filename(stem, "json")
    return _attachment(body, media, filename)


def _attachment(body: bytes, media: str, filename: str) -> Response:
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


async def _owner_body(request: Request) -> tuple[str | None, dict]:
    body = {}
    if request.headers.get("content-length") not in (None, "0"):
        try:
            body = await request.json()
        except Exception:
            body = None
    if not isinstance(body, dict):
        body = {}
    token = request.headers.get("x-owner-token") or body.get("owner_token")
    return token, body


@router.patch("/api/experiments/{exp_id}")
async def rename_experiment(request: Request, exp_id: str):
    token, body = await _owner_body(request)
    name = body.get("name")
    published = body.get("published")
    if name is None and isinstance(published, bool):
        change = _services(request).storage().set_published
        args: tuple = (exp_id, published, token)
    elif isinstance(name, str) and name.strip() and published is None:
        change, args = _services(request).storage().rename, (exp_id, name, token)
    else:
        return error(400, "invalid_value", "send a JSON body with a non-empty \"name\" or "
                     "a boolean \"published\"")
    try:
        exp = await asyncio.to_thread(change, *args)
    except NotFound:
        return _not_found(exp_id)
    except Forbidden:
        return error(403, "forbidden", "only the owner token of this experiment may rename it")
    return exp.summary()


@router.delete("/api/experiments/{exp_id}")
async def delete_experiment(request: Request, exp_id: str):
    token, _ = await _owner_body(request)
    try:
        await asyncio.to_thread(_services(request).storage().delete, exp_id, token)
    except NotFound:
        return _not_found(exp_id)
    except Forbidden:
        return error(403, "forbidden", "only the owner token of this experiment may delete it")
    return {"deleted": exp_id}


@router.get("/api/downloads/{token}")
async def download(request: Request, token: str):
    item = _services(request).downloads.get(token)
    if item is None:
        return error(404, "not_found", "unknown or expired download; ask for it again")
    return _attachment(item.data, item.media_type, item.filename)


def _upload_guard(request: Request) -> JSONResponse | None:
    if request.headers.get("content-type", "").startswith("multipart/"):
        return error(415, "unsupported_media_type",
                     "send the file itself as the request body, not a multipart form")
    return None


@router.post("/api/csv/preview")
async def csv_preview(request: Request):
    from engine.csv_data import CSVDataError, preview_csv

    settings = request.app.state.settings
    if (refused := _upload_guard(request)) is not None:
        return refused
    max_bytes = settings.max_upload_bytes
    try:
        data = await read_body(request, max_bytes)
    except TooLarge:
        return error(413, "too_large", f"the file is larger than {max_bytes} bytes",
                     row=None, column=None, reason=f"larger than {max_bytes} bytes")
    except TooSlow:
        return _too_slow(request)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        return error(400, "invalid_csv", f"line {line}: the file is not UTF-8 text",
                     row=line, column=None, reason="the file is not UTF-8 text")
    max_rows = settings.max_upload_rows
    max_columns = settings.max_upload_columns
    try:
        preview = await asyncio.to_thread(preview_csv, text, PREVIEW_ROWS,
                                          max_columns=max_columns)
        if preview["n_rows"] > max_rows:
            raise CSVDataError(f"the file has {preview['n_rows']} data rows; at most {max_rows}"
                               " are allowed")
    except CSVDataError as err:
        return error(400, "invalid_csv", err.message, **err.to_dict())
    token = _services(request).uploads.put(data, "text/csv", "upload.csv", kind="csv")
    return {"dataset_token": token, "expires_in": _services(request).uploads.ttl,
            "bytes": len(data), **preview}


@router.post("/api/import")
async def import_upload(request: Request):
    settings = request.app.state.settings
    if (refused := _upload_guard(request)) is not None:
        return refused
    max_bytes = settings.max_import_bytes
    try:
        data = await read_body(request, max_bytes)
    except TooLarge:
        return error(413, "too_large", f"the file is larger than {max_bytes} bytes")
    except TooSlow:
        return _too_slow(request)
    try:
        checked = await _services(request).files.check_import(data)
    except FileWorkerDied:
        return error(400, "invalid_import", "this is not a usable Propscope export: reading it "
                     "took more than the server can give one file")
    if "problem" in checked:  # not JSON/npz, wrong format, a field out of its limits…
        return error(400, "invalid_import", f"this is not a usable Propscope export: "
                     f"{checked['problem']}"[:500], **checked["details"])
    fmt = "npz" if data[:2] == b"PK" else "json"
    # stored as .npz whatever was uploaded: opening it later parses no JSON on the server
    token = _services(request).uploads.put(checked["npz"], NPZ_TYPE, "import", kind="import",
                                           format=fmt)
    return {"import_token": token, "expires_in": _services(request).uploads.ttl,
            "format": fmt, "step": checked["step"], "spec": checked["spec"],
            "dataset": checked["dataset"]}


def _page(request: Request, **extra):
    """templates/index.html with the context of `GET /` plus `extra` (experiment_id)."""
    from app.routes import page_context

    context = {**page_context(request), **extra}
    return request.app.state.templates.TemplateResponse(request, "index.html", context)


@router.get("/e/{exp_id}", include_in_schema=False)
async def experiment_page(request: Request, exp_id: str):
    if await _get(request, exp_id) is None:
        return Response(f"There is no saved experiment {exp_id[:64]!r}.", status_code=404,
                        media_type="text/plain")
    return _page(request, experiment_id=exp_id)


def _lookup_room(request: Request, code: str):
    """The room for a join attempt, or a Response refusing it (unknown code or throttled)."""
    client = request.client.host if request.client else None
    try:
        return _services(request).rooms.lookup(code, client)
    except JoinThrottled:
        return error(429, "too_many_attempts", THROTTLED)


@router.get("/api/rooms/{code}")
async def room_info(request: Request, code: str):
    room = _lookup_room(request, code)
    if isinstance(room, Response):
        return room
    if room is None:
        return error(404, "unknown_room", f"there is no open room {code[:12]!r}")
    info = room.info()
    info.pop("focus", None)
    info.update(following=len(room.followers), published=room.published,
                fanout_s=room.fanout_s,
                skipped=sum(v.raw.skipped for v in room.viewers if v.raw is not None))
    return info


__all__ = ["install", "Services", "TokenStore", "dumps"]
