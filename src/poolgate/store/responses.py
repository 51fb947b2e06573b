"""Stored Responses API objects (`store: true`), with the conversation each one continues."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, text


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    created_at: float
    response: dict[str, Any]
    history: list[Any]

    def conversation(self) -> list[Any]:
        """The items a follow-up with previous_response_id continues: the input history plus the output."""
        output = self.response.get("output") or []
        return [*self.history, *output]


class ResponseStore:
    """Synchronous like SqlStore; handlers call it through asyncio.to_thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, response: dict[str, Any], history: list[Any], created_at: float) -> None:
        params = {
            "id": response["id"],
            "created_at": created_at,
            "model": str(response.get("model") or ""),
            "status": str(response.get("status") or ""),
            "prev": str(response.get("previous_response_id") or ""),
            "history": orjson.dumps(history).decode(),
            "response": orjson.dumps(response).decode(),
        }
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM responses WHERE id = :id"), {"id": params["id"]})
            conn.execute(
                text(
                    "INSERT INTO responses (id, created_at, model, status, previous_response_id, history_json, "
                    "response_json) VALUES (:id, :created_at, :model, :status, :prev, :history, :response)"
                ),
                params,
            )

    def get(self, response_id: str) -> StoredResponse | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT id, created_at, history_json, response_json FROM responses WHERE id = :id"),
                {"id": response_id},
            ).fetchone()
        if row is None:
            return None
        return StoredResponse(row[0], float(row[1]), orjson.loads(row[3]), orjson.loads(row[2]))

    def delete(self, response_id: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(text("DELETE FROM responses WHERE id = :id"), {"id": response_id})
        return bool(result.rowcount)

    def delete_before(self, ts: float) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(text("DELETE FROM responses WHERE created_at < :ts"), {"ts": ts})
        return int(result.rowcount or 0)
