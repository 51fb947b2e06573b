"""Gateway: pick an account, call upstream, and retry on another until the first real output arrives."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from poolgate.errors import ErrorKind, GatewayError
from poolgate.hub.events import Usage, chunk_has_content
from poolgate.hub.types import JSON
from poolgate.pool.classify import Classifier, Decision, Scope
from poolgate.pool.clock import Clock
from poolgate.pool.scheduler import Scheduler
from poolgate.store.models import Account
from poolgate.upstream.base import Transport, UpstreamCall, UpstreamFailure

T = TypeVar("T")

_RATE_KINDS = frozenset({"rate_limit", "request_429", "quota_exhausted", "capacity"})


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
    usage: Usage | None = None
    client_ip: str = ""
    user_agent: str = ""
    request_body: bytes | None = None
    response_body: bytes | None = None

    def overhead_ms(self) -> float:
        return max(0.0, (time.perf_counter() - self.started - self.upstream_seconds) * 1000.0)


@dataclass(slots=True)
class OpenStream:
    """A stream that has produced real output: its held chunks, then the rest."""

    account: Account
    held: list[JSON]
    rest: AsyncIterator[JSON]
    ctx: RequestContext

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
    ) -> None:
        self.scheduler = scheduler
        self.transports = transports
        self.classifier = classifier
        self.clock = clock
        self.max_attempts = max_attempts
        # Told the class of every upstream failure (for metrics); must be cheap and never raise.
        self.on_failure: Callable[[str], None] | None = None

    def transport_for(self, account: Account) -> Transport:
        return self.transports[account.kind]

    async def generate(self, call: UpstreamCall, ctx: RequestContext) -> JSON:
        async def attempt(account: Account) -> JSON:
            result = await self.transport_for(account).generate(account, call)
            if not chunk_has_content(result) and not result.get("candidates"):
                raise UpstreamFailure(empty=True)
            return result

        return await self._run(call, ctx, attempt)

    async def open_stream(self, call: UpstreamCall, ctx: RequestContext) -> OpenStream:
        async def attempt(account: Account) -> OpenStream:
            agen = self.transport_for(account).stream(account, call)
            held: list[JSON] = []
            try:
                async for chunk in agen:
                    held.append(chunk)
                    if chunk_has_content(chunk):
                        return OpenStream(account, held, agen, ctx)
            except BaseException:
                await agen.aclose()
                raise
            await agen.aclose()
            raise UpstreamFailure(empty=True)

        return await self._run(call, ctx, attempt)

    async def count_tokens(self, call: UpstreamCall, ctx: RequestContext) -> JSON:
        """countTokens on a usable account; `call.body` is the countTokens request body."""

        async def attempt(account: Account) -> JSON:
            return await self.transport_for(account).count_tokens(account, call.model, call.body)

        return await self._run(call, ctx, attempt)

    async def _run(self, call: UpstreamCall, ctx: RequestContext, attempt: Callable[[Account], Awaitable[T]]) -> T:
        tried: set[str] = set()
        avoid: set[str] = set()
        last: tuple[Decision, UpstreamFailure] | None = None
        for _ in range(self.max_attempts):
            try:
                pick = await self.scheduler.pick(call.model, call.session_key, tried, avoid, call.deadline)
            except GatewayError as err:
                if last is None or err.kind is ErrorKind.ALL_COOLING:
                    raise
                raise self._exhausted(last) from err
            account = pick.account
            if pick.wait > 0:
                await self.clock.sleep(pick.wait)
            ctx.account = account
            ctx.attempts += 1
            t0 = time.perf_counter()
            try:
                result = await attempt(account)
            except UpstreamFailure as failure:
                ctx.upstream_seconds += time.perf_counter() - t0
                previous = await self.scheduler.failure_count(account, call.model)
                decision = self.classifier.classify(failure, previous)
                if self.on_failure is not None:
                    self.on_failure(decision.kind)
                await self.scheduler.report_failure(account, call.model, decision, call.session_key)
                last = (decision, failure)
                if decision.client_error or not decision.retry:
                    raise client_error(failure) from None
                if decision.scope is Scope.REQUEST and not decision.account_state:
                    avoid.add(account.id)
                else:
                    tried.add(account.id)
                if decision.backoff > 0:
                    remaining = call.deadline - self.clock.now() if call.deadline else decision.backoff
                    if remaining > decision.backoff:
                        await self.clock.sleep(decision.backoff)
                continue
            ctx.upstream_seconds += time.perf_counter() - t0
            await self.scheduler.report_success(account, call.model)
            return result
        if last is None:
            raise GatewayError(ErrorKind.NO_ACCOUNT, "No attempt could be made.")
        # Attempts ran out: if the pool is now all cooling, that is the more useful answer.
        try:
            await self.scheduler.pick(call.model, "", set(), set(), 0.0)
        except GatewayError as err:
            if err.kind is ErrorKind.ALL_COOLING:
                raise err from None
        raise self._exhausted(last)

    def _exhausted(self, last: tuple[Decision, UpstreamFailure]) -> GatewayError:
        decision, failure = last
        detail = f"Last upstream error: {failure}"
        if decision.kind in _RATE_KINDS:
            return GatewayError(
                ErrorKind.ALL_COOLING,
                f"All usable accounts are rate limited. {detail}",
                retry_after=max(1.0, decision.cooldown),
            )
        if decision.kind == "model_not_found":
            return GatewayError(ErrorKind.NOT_FOUND, failure.message or "Model not found upstream.")
        if decision.account_state or decision.kind in ("forbidden", "validation_required", "unauthenticated"):
            return GatewayError(ErrorKind.NO_ACCOUNT, f"No account could serve this request. {detail}")
        if decision.kind in ("timeout",):
            return GatewayError(ErrorKind.TIMEOUT, f"Upstream timed out on every attempt. {detail}")
        return GatewayError(ErrorKind.UPSTREAM_ERROR, f"Upstream failed on every attempt. {detail}")


def client_error(failure: UpstreamFailure) -> GatewayError:
    """An upstream 4xx that is the client's fault keeps its status and Google's message."""
    status = failure.status if 400 <= failure.status < 500 else 400
    kind = {404: ErrorKind.NOT_FOUND, 413: ErrorKind.TOO_LARGE}.get(status, ErrorKind.INVALID_REQUEST)
    return GatewayError(kind, failure.message or "Upstream rejected the request.", status=status)
