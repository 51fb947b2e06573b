"""Gateway: pick an account, call upstream, and retry on another until the first real output arrives."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from poolgate.errors import ErrorKind, GatewayError
from poolgate.hub.events import Usage, chunk_has_content
from poolgate.hub.tokens import estimate
from poolgate.hub.types import JSON
from poolgate.pool.classify import MISSING, OVER_INPUT_LIMIT, PARKED, Classifier, Decision, Scope
from poolgate.pool.clock import Clock
from poolgate.pool.scheduler import Scheduler
from poolgate.store.models import Account
from poolgate.timers import Sweeper
from poolgate.upstream.base import Embedder, Refreshable, Transport, UpstreamCall, UpstreamFailure

T = TypeVar("T")

EMBEDDINGS_NEED_A_KEY = (
    "Embeddings need a Gemini API key account, and every usable account here is a Google OAuth one "
    "(Cloud Code offers no embeddings). Add a key with `poolgate accounts add-key YOUR_GEMINI_KEY`."
)
log = logging.getLogger("poolgate.gateway")


# Calls other than generation are scheduled under the model's name with one of these appended, so the
# per-model cooldowns of one method (a 404 "not supported for this method", its own quota) stay its own.
EMBEDDINGS_SCOPE = " (embeddings)"
COUNT_TOKENS_SCOPE = " (countTokens)"


@dataclass(slots=True)
class RequestContext:
    """Everything one request learns on its way through, for headers, logs and metrics."""

    request_id: str
    route: str
    protocol: str
    method: str = "POST"
    started: float = field(default_factory=time.perf_counter)
    started_wall: float = field(default_factory=time.time)
    client_model: str = ""
    mapped_model: str = ""
    session_key: str = ""
    stream: bool = False
    account: Account | None = None
    attempts: int = 0
    upstream_seconds: float = 0.0
    status: int = 0
    error: str = ""
    failed_attempts: list[str] = field(default_factory=list)
    usage: Usage | None = None
    client_ip: str = ""
    user_agent: str = ""
    request_body: bytes | None = None
    response_body: bytes | None = None
    # Set (to a list) by a caller that will run these once the answer has been sent: bookkeeping that
    # need not delay the client, such as telling the scheduler about a success (Redis round trips).
    after_send: list[Callable[[], Awaitable[None]]] | None = None

    def overhead_ms(self) -> float:
        return max(0.0, (time.perf_counter() - self.started - self.upstream_seconds) * 1000.0)


@dataclass(slots=True)
class OpenStream:
    """A stream that has produced real output: its held chunks, then the rest."""

    account: Account
    held: list[JSON]
    rest: AsyncIterator[JSON]
    ctx: RequestContext
    # Called when the upstream fails after the first byte, so the scheduler still learns from it.
    on_failure: Callable[[UpstreamFailure], Awaitable[None]] | None = None

    async def chunks(self) -> AsyncIterator[JSON]:
        for chunk in self.held:
            yield chunk
        self.held = []
        try:
            async for chunk in self.rest:
                yield chunk
        finally:
            aclose = getattr(self.rest, "aclose", None)
            if aclose is not None:
                await aclose()

    async def failed(self, failure: UpstreamFailure) -> None:
        if self.on_failure is not None:
            await self.on_failure(failure)

    async def aclose(self) -> None:
        aclose = getattr(self.rest, "aclose", None)
        if aclose is not None:
            await aclose()


class Gateway:
    def __init__(
        self,
        scheduler: Scheduler,
        transports: dict[str, Transport],
        classifier: Classifier,
        clock: Clock,
        max_attempts: int,
        attempt_timeout: float = 300.0,
        timers: Sweeper | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.transports = transports
        self.classifier = classifier
        self.clock = clock
        self.max_attempts = max_attempts
        self.attempt_timeout = attempt_timeout
        # Shared with the server's disconnect watchers: the request path's coarse timers.
        self.timers = timers or Sweeper()
        # Told the class of every upstream failure (for metrics); must be cheap and never raise.
        self.on_failure: Callable[[str], None] | None = None

    async def generate(self, call: UpstreamCall, ctx: RequestContext) -> JSON:
        async def attempt(account: Account) -> JSON:
            result = await self.transports[account.kind].generate(account, call)
            if not has_content(result) and not result.get("candidates"):
                raise UpstreamFailure(empty=True)
            return result

        return await self._run(call, ctx, attempt, defer_success=True)

    async def open_stream(self, call: UpstreamCall, ctx: RequestContext) -> OpenStream:
        async def attempt(account: Account) -> OpenStream:
            agen = self.transports[account.kind].stream(account, call)
            held: list[JSON] = []
            try:
                async for chunk in agen:
                    held.append(chunk)
                    if has_content(chunk):
                        return OpenStream(account, held, agen, ctx, self._mid_stream_reporter(account, call))
            except BaseException:
                await agen.aclose()
                raise
            await agen.aclose()
            raise UpstreamFailure(empty=True)

        return await self._run(call, ctx, attempt)

    async def count_tokens(self, call: UpstreamCall, ctx: RequestContext) -> JSON:
        """countTokens on a usable account; `call.body` is the countTokens request body."""

        async def attempt(account: Account) -> JSON:
            return await self.transports[account.kind].count_tokens(account, call.model, call.body)

        # Its own name for scheduling, like embeddings: countTokens has its own limits at Google, and its
        # failures must not cool (or mark missing) the model for generation.
        return await self._run(dataclasses.replace(call, model=call.model + COUNT_TOKENS_SCOPE), ctx, attempt)

    async def embed(self, call: UpstreamCall, ctx: RequestContext) -> JSON:
        """`batchEmbedContents` (`call.body`) on an account whose transport embeds: API keys only."""
        able = {kind for kind, transport in self.transports.items() if isinstance(transport, Embedder)}
        unable = {a.id for a in self.scheduler.accounts if a.kind not in able}
        usable = [a for a in self.scheduler.accounts if a.usable]
        if usable and all(a.id in unable for a in usable):
            raise GatewayError(ErrorKind.NO_ACCOUNT, EMBEDDINGS_NEED_A_KEY)

        async def attempt(account: Account) -> JSON:
            transport = self.transports[account.kind]
            assert isinstance(transport, Embedder)
            return await transport.embed(account, call.model, call.body)

        # Scheduled under a name of its own: Google's 404 for a model that does not embed must not mark
        # it missing for chat (nor a chat call's 404 for an embedding model mark it missing here).
        scheduled = dataclasses.replace(call, model=call.model + EMBEDDINGS_SCOPE)
        return await self._run(scheduled, ctx, attempt, exclude=unable)

    def _mid_stream_reporter(
        self, account: Account, call: UpstreamCall
    ) -> Callable[[UpstreamFailure], Awaitable[None]]:
        async def report(failure: UpstreamFailure) -> None:
            await self.scheduler.record_failure(account, call.model, failure, call.session_key)

        return report

    async def _call(self, call: UpstreamCall, account: Account, attempt: Callable[[Account], Awaitable[T]]) -> T:
        """One upstream attempt, bounded by the attempt timeout and the request's deadline.

        On a 401 from a transport that can renew its token, the token is renewed once and the
        attempt made again (with what is left of the deadline).
        """
        renewed = False
        while True:
            limit = self.attempt_timeout
            if call.deadline:
                limit = min(limit, call.deadline - self.clock.now())
            if limit <= 0:
                raise UpstreamFailure(timeout=True, text="request deadline reached")
            try:
                with self.timers.timeout(limit):
                    return await attempt(account)
            except TimeoutError:
                raise UpstreamFailure(timeout=True, text=f"no answer within {limit:.0f}s") from None
            except UpstreamFailure as failure:
                transport = self.transports[account.kind]
                if renewed or not (
                    self.scheduler.classifier.rule_for(failure).refresh and isinstance(transport, Refreshable)
                ):
                    raise
            log.info("request %s: 401 from %s, refreshing its token once", call.request_id, account.display_name)
            await transport.force_refresh(account)
            renewed = True

    async def _run(
        self,
        call: UpstreamCall,
        ctx: RequestContext,
        attempt: Callable[[Account], Awaitable[T]],
        exclude: set[str] | None = None,
        defer_success: bool = False,
    ) -> T:
        """`defer_success`: the answer is whole when this returns (no stream can still fail), so the
        success may be reported after it is sent, through `ctx.after_send`."""
        # Failures that cool or park an account take it out of this request and are bounded by the pool;
        # max_attempts bounds the rest (5xx, empty streams, per-request throttling), which retry in place.
        avoid: set[str] = set()
        retries_left = self.max_attempts
        # Counted at the first failure from the pool's size (+1: one cache_first wait); an answer at
        # the first attempt, the usual case, never needs it.
        calls_left: int | None = None
        waited = False  # a conversation waits for its account once per request; then it moves on
        last: tuple[Decision, UpstreamFailure] | None = None
        ready_at: dict[str, float] = {}  # when an account that failed at request scope may be tried again
        request_tokens: int | None = None  # the request's estimated input, counted at its first 429
        while retries_left > 0 and (calls_left is None or calls_left > 0):
            pick = await self.scheduler.pick(call.model, call.session_key, exclude, avoid, call.deadline, not waited)
            if pick is None:
                break
            account = pick.account
            waited = waited or pick.wait > 0
            wait = max(pick.wait, ready_at.get(account.id, 0.0) - self.clock.now())
            if wait > 0:
                if call.deadline and self.clock.now() + wait >= call.deadline:
                    break  # waiting would outlast the request; answer now instead
                await self.clock.sleep(wait)
            ctx.account = account
            ctx.attempts += 1
            if calls_left is not None:
                calls_left -= 1
            started = self.clock.now()
            t0 = time.perf_counter()
            try:
                result = await self._call(call, account, attempt)
            except UpstreamFailure as failure:
                ctx.upstream_seconds += time.perf_counter() - t0
                if calls_left is None:
                    calls_left = self.max_attempts + self.scheduler.usable_count()  # this attempt counted
                if failure.status == 429 and request_tokens is None:
                    request_tokens = estimate(call.body)  # type: ignore[arg-type]
                decision = await self.scheduler.record_failure(
                    account, call.model, failure, call.session_key, request_tokens or 0
                )
                if self.on_failure is not None:
                    self.on_failure(decision.kind)
                last = (decision, failure)
                ctx.failed_attempts.append(f"{account.display_name}: {decision.kind}: {failure}"[:300])
                log.info(
                    "request %s: attempt %d on %s failed: %s (%s)",
                    call.request_id,
                    ctx.attempts,
                    account.display_name,
                    decision.kind,
                    failure,
                )
                if decision.client_error or not decision.retry:
                    raise client_error(failure) from None
                if decision.kind == OVER_INPUT_LIMIT:
                    # No minute lets this request through on that account: each other account once, never it.
                    exclude = {*(exclude or ()), account.id}
                elif decision.scope is Scope.REQUEST and not decision.account_state:
                    avoid.add(account.id)
                    ready_at[account.id] = self.clock.now() + decision.backoff
                    retries_left -= 1
                elif decision.bounded:
                    retries_left -= 1  # a network error or timeout: the account cools, and the budget is spent
                # Otherwise the account now cools or is parked, so the scheduler will not offer it again
                # unless it frees up (or, in cache_first, the conversation waits for it within the deadline).
                continue
            ctx.upstream_seconds += time.perf_counter() - t0
            if defer_success and ctx.after_send is not None:
                ctx.after_send.append(
                    functools.partial(self.scheduler.report_success, account, call.model, started, pick.cooled)
                )
            else:
                await self.scheduler.report_success(account, call.model, started, pick.cooled)
            return result
        if last is None:
            raise await self.scheduler.unavailable(call.model, exclude) or GatewayError(
                ErrorKind.NO_ACCOUNT, "No attempt could be made before the request's deadline."
            )
        if last[0].kind == OVER_INPUT_LIMIT:
            raise self._exhausted(last)
        # Out of attempts: if the pool is now all cooling (or parked), that is the more useful answer.
        final = await self.scheduler.unavailable(call.model, exclude)
        if final is not None:
            raise final
        raise self._exhausted(last)

    def _exhausted(self, last: tuple[Decision, UpstreamFailure]) -> GatewayError:
        decision, failure = last
        detail = f"Last upstream error: {failure}"
        if decision.kind == OVER_INPUT_LIMIT:
            # Anthropic's wording: Claude Code compacts the conversation when it reads it.
            return GatewayError(ErrorKind.INVALID_REQUEST, decision.reason, code="request_too_large")
        if decision.status == 429 or decision.kind in ("rate_limit", "request_throttled", "quota_exhausted"):
            return GatewayError(
                ErrorKind.ALL_COOLING,
                f"Every account this request tried is rate limited. {detail}",
                retry_after=max(1.0, decision.cooldown or decision.backoff),
            )
        if decision.blocks_as == MISSING:
            return GatewayError(ErrorKind.NOT_FOUND, failure.message or "Model not found upstream.")
        if decision.kind == "capacity":
            return GatewayError(ErrorKind.NO_ACCOUNT, f"The model is overloaded upstream. {detail}")
        if decision.account_state or decision.blocks_as == PARKED:
            return GatewayError(ErrorKind.NO_ACCOUNT, f"No account could serve this request. {detail}")
        if decision.kind in ("timeout", "upstream_timeout"):
            return GatewayError(ErrorKind.TIMEOUT, f"Upstream timed out on every attempt. {detail}")
        return GatewayError(ErrorKind.UPSTREAM_ERROR, f"Upstream failed on every attempt. {detail}")


def has_content(chunk: JSON) -> bool:
    """`chunk_has_content`, where an answer of the wrong shape is an upstream failure for the retry loop."""
    try:
        return chunk_has_content(chunk)
    except (AttributeError, TypeError) as exc:
        raise UpstreamFailure(status=502, text=f"malformed answer ({exc})") from None


def client_error(failure: UpstreamFailure) -> GatewayError:
    """An upstream 4xx that is the client's fault keeps its status and Google's message."""
    status = failure.status if 400 <= failure.status < 500 else 400
    kind = {403: ErrorKind.FORBIDDEN, 404: ErrorKind.NOT_FOUND, 413: ErrorKind.TOO_LARGE}.get(
        status, ErrorKind.INVALID_REQUEST
    )
    return GatewayError(kind, failure.message or "Upstream rejected the request.", status=status)
