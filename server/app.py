"""The exploration server for one phaselog home: `create_app` builds the FastAPI app, `serve` runs it with uvicorn.
Pages and read routes come from server/overview.py; this file holds the chat, journal writes, the review answer
and the guards in front of them (token, limits, rate). The page can talk to the model and write to the journal,
so a bind beyond loopback needs a token, and every request then carries it."""
import ipaddress
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware

from phaselog.core.config import PhaseConfig
from phaselog.core.errors import PhaselogError
from phaselog.core.journal import MAX_ENTRY_CHARS, new_entry
from phaselog.core.reviews import DECISIONS, pending_review
from phaselog.core.runs import check_run_id, run_record
from phaselog.core.store import Store
from phaselog.server.chat import ChatModel, conversation_entry
from phaselog.server.inbox import Inbox
from phaselog.server.limits import BodyLimit
from phaselog.server.overview import router as overview_router

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Limits:
    max_prompt_chars: int = 2000
    max_history_chars: int = 8000
    max_new_tokens: int = 256
    max_entry_chars: int = MAX_ENTRY_CHARS
    chats_per_minute: int = 20  # per client address
    max_body_bytes: int = 16 * MAX_ENTRY_CHARS  # a full-length entry stays under it even JSON-escaped


class Turn(BaseModel):
    role: Literal["user", "model"]
    text: str


class ChatRequest(BaseModel):
    prompt: str
    history: list[Turn] = []
    temperature: float = Field(0.8, ge=0, le=2, description="0 is greedy")
    top_k: int | None = Field(50, ge=1)
    max_new_tokens: int = Field(64, ge=1)


class JournalRequest(BaseModel):
    text: str
    step: int | None = None
    tags: list[str] = []


class ConversationRequest(BaseModel):
    messages: list[Turn]
    step: int
    tags: list[str] = []


class ReviewAnswer(BaseModel):
    decision: Literal[DECISIONS]
    note: str = ""


def newest_run(store: Store) -> str | None:
    _, rows = store.query("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")
    return rows[0][0] if rows else None


def given_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query_params.get("token") or request.cookies.get("phaselog_token")


class ChatRate:
    """At most `per_minute` chats per client address in any 60 s."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.sent: dict[str, deque] = {}
        self.lock = threading.Lock()

    def check(self, client: str) -> None:
        now = time.monotonic()
        with self.lock:
            sent = self.sent.setdefault(client, deque())
            while sent and now - sent[0] > 60:
                sent.popleft()
            if len(sent) >= self.per_minute:
                wait = 60 - (now - sent[0])
                raise HTTPException(429, f"more than {self.per_minute} chat messages a minute from {client}: wait "
                                    f"{wait:.0f} s", headers={"Retry-After": str(int(wait) + 1)})
            sent.append(now)


def create_app(home: Path, run_id: str | None = None, token: str | None = None, limits: Limits = Limits()) -> FastAPI:
    home = Path(home)
    store = Store(home)
    app = FastAPI(title="phaselog explore")
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    app.state.home = home
    default_run = run_id or (newest_run(store) if store.exists() else None)
    inbox, rate = Inbox(home), ChatRate(limits.chats_per_minute)
    chats: dict[str, ChatModel] = {}
    chats_lock = threading.Lock()

    @app.middleware("http")
    async def guard(request: Request, call_next):
        length = request.headers.get("content-length", "0")
        if length.isdigit() and int(length) > limits.max_body_bytes:
            return JSONResponse({"detail": f"request body of {int(length):,} bytes is over the limit of "
                                 f"{limits.max_body_bytes:,}: send less"}, 413)
        if token is not None:
            given = given_token(request)
            if given is None or not secrets.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "this server needs its token: open the URL `phaselog explore` printed "
                                     "(it ends in ?token=...), or send the header Authorization: Bearer TOKEN"}, 401)
        response = await call_next(request)
        if token is not None and request.query_params.get("token"):
            # the page's own fetches then carry the token without putting it in every URL
            response.set_cookie("phaselog_token", token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, err: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in err.errors())
        return JSONResponse({"detail": f"invalid request ({problems}): fix these fields and send it again"}, 422)

    @app.exception_handler(PhaselogError)
    async def phaselog_error(request: Request, err: PhaselogError):
        return JSONResponse({"detail": str(err)}, 422)

    def known_run(run: str) -> dict:
        try:
            check_run_id(run)
            return run_record(store, run)
        except PhaselogError as err:
            raise HTTPException(404, str(err)) from None

    def chat_model(run: str) -> ChatModel:
        record = known_run(run)
        with chats_lock:
            if run not in chats:
                config = PhaseConfig.model_validate_json(record["config_json"])
                chats[run] = ChatModel(home / run, config.model)
            return chats[run]

    def check_text(what: str, text: str, limit: int) -> None:
        if len(text) > limit:
            raise HTTPException(413, f"{what} has {len(text):,} characters; the limit is {limit:,}: shorten it")

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/config")
    def server_config():
        return {"run_id": default_run, "limits": asdict(limits)}

    @app.get("/api/runs/{run}/checkpoint")
    def checkpoint(run: str):
        return chat_model(run).checkpoint()

    @app.post("/api/runs/{run}/chat")
    def chat(run: str, body: ChatRequest, request: Request):
        model = chat_model(run)
        check_text("the prompt", body.prompt, limits.max_prompt_chars)
        check_text("the chat history", "".join(t.text for t in body.history), limits.max_history_chars)
        if not body.prompt.strip():
            raise HTTPException(422, "the prompt is empty: write something to the model")
        if body.max_new_tokens > limits.max_new_tokens:
            raise HTTPException(422, f"max_new_tokens {body.max_new_tokens} is over this server's limit of "
                                f"{limits.max_new_tokens}: ask for fewer")
        rate.check(request.client.host if request.client else "unknown")
        try:
            return model.reply([t.model_dump() for t in body.history], body.prompt, body.temperature, body.top_k,
                               body.max_new_tokens)
        except PhaselogError as err:
            raise HTTPException(409, str(err)) from None

    def write_entry(run: str, text: str, step: int | None, tags: list[str]) -> JSONResponse:
        known_run(run)
        check_text("the journal entry", text, limits.max_entry_chars)
        entry = new_entry(store, run, text, step, tags, "human")
        queued = inbox.submit(entry)
        return JSONResponse({"entry": {**entry, "created_at": entry["created_at"].isoformat()}, "queued": queued},
                            201)

    @app.post("/api/runs/{run}/journal", status_code=201)
    def add_journal_entry(run: str, body: JournalRequest):
        return write_entry(run, body.text, body.step, body.tags)

    @app.post("/api/runs/{run}/conversations", status_code=201)
    def save_conversation(run: str, body: ConversationRequest):
        if not body.messages:
            raise HTTPException(422, "the conversation has no messages: chat first, then save it")
        tags = ["conversation"] + [t for t in body.tags if t != "conversation"]
        return write_entry(run, conversation_entry([m.model_dump() for m in body.messages], body.step), body.step,
                           tags)

    @app.post("/api/runs/{run}/review")
    def answer_review(run: str, body: ReviewAnswer):
        record = known_run(run)
        try:
            review = pending_review(store, run)
        except PhaselogError as err:
            raise HTTPException(409, str(err)) from None
        if record["status"] == "awaiting_review":
            return start_review_process(home, run, body.decision, body.note)
        return resume_in_prefect(run, review, body.decision, body.note)

    app.include_router(overview_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def start_review_process(home: Path, run: str, decision: str, note: str) -> dict:
    """A stopped run: `phaselog review` records the answer and, unless the decision is stop, becomes the flow
    process that continues the run. Detached, so it outlives this request and this server."""
    log = home / run / "review.log"
    command = [sys.executable, "-m", "phaselog.cli", "review", run, "--decision", decision, "--note", note,
               "--home", str(home)]
    with open(log, "ab") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
    then = "stops the run" if decision == "stop" else "continues the run in that process"
    return {"answered_via": "cli", "pid": child.pid, "log": str(log),
            "message": f"run {run} was stopped awaiting review: started `phaselog review {run} --decision {decision}` "
                       f"(pid {child.pid}), which records the answer and {then}; its output goes to {log}"}


def resume_in_prefect(run: str, review: dict, decision: str, note: str) -> dict:
    """A run paused in Prefect: resume it with the same run_input as the Prefect UI's form (ReviewInput)."""
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_URL

    url, flow_run_id = PREFECT_API_URL.value(), review["flow_run_id"]
    if not url or not flow_run_id:
        raise HTTPException(409, f"run {run}'s review at step {review['step']} waits in a Prefect flow run, but this "
                            "server has no Prefect API (PREFECT_API_URL is unset): answer it in the Prefect UI, or "
                            "restart `phaselog explore` with PREFECT_API_URL set")
    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(uuid.UUID(flow_run_id)).state
    except (httpx.HTTPError, ObjectNotFound) as err:
        raise HTTPException(409, f"the Prefect API at {url} could not show flow run {flow_run_id} ({err}): check that "
                            "the Prefect server is up, or answer in the Prefect UI") from None
    if not state.is_paused():
        raise HTTPException(409, f"flow run {flow_run_id} of run {run} is {state.name}, not paused: nothing to resume")
    resume_flow_run(uuid.UUID(flow_run_id), run_input={"decision": decision, "note": note})
    return {"answered_via": "prefect", "message": f"resumed flow run {flow_run_id} in Prefect with {decision}; the "
                                                  "flow records the answer and the note in the journal"}


LOOPBACK_NAMES = ("localhost", "127.0.0.1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public address


def serve(home: Path, run_id: str | None, host: str, port: int, token: str | None, limits: Limits = Limits()) -> None:
    if not is_loopback(host) and not token:
        raise PhaselogError(f"--host {host} is reachable from other machines, and the page can talk to the model and "
                            "write to the journal: set --token (then every request needs it) or bind 127.0.0.1")
    import torch
    import uvicorn

    # a busy server must not take the cores from a training process on the same machine: one thread, and a lower
    # priority, so a contended core goes to training (its threads wait on each other; one starved thread stalls all)
    torch.set_num_threads(1)
    os.nice(10)
    store = Store(home)
    if run_id is None:
        run_id = newest_run(store)
        if run_id is None:
            raise PhaselogError(f"no runs in {store}: start one with `phaselog run CONFIG`")
    run_record(store, run_id)
    app = create_app(home, run_id, token, limits)
    if token is None:
        # bound to loopback with no token (the check above): a page on another site could still reach it through
        # a DNS name rebound to 127.0.0.1, whose requests carry that name in Host; serve only loopback names
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(LOOPBACK_NAMES))
    query = f"?run={run_id}" + (f"&token={token}" if token else "")
    print(f"phaselog explore: run {run_id} at http://{host}:{port}/{query}  (Ctrl-C stops)", flush=True)
    # proxy_headers off: uvicorn would otherwise take the client address from X-Forwarded-For of any request from
    # 127.0.0.1, and one client could reset its chat rate limit with a made-up header
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)
