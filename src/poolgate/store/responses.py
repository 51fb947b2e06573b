"""Stored Responses API objects (`store: true`), with the conversation each one continues.

A response made with `previous_response_id` stores only the input items its request added and points
at the response it continues (`chained`); its conversation is read back by walking that chain in one
recursive query. Storing each turn's whole history instead made a long conversation cost storage
quadratic in its length (every turn a copy of all the turns before it).

A deleted response that later ones continue stays as a hidden link (`deleted`) until none needs it;
the retention sweep likewise keeps old responses that newer kept ones continue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, text

# A chain longer than this is cut off at its start (the walk must end even on a corrupt table).
MAX_CHAIN = 100_000


class BrokenChain(LookupError):
    """An earlier response of the conversation is no longer stored."""


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


_CHAIN = text(
    """
    WITH RECURSIVE chain(id, created_at, previous_response_id, chained, deleted, history_json, response_json,
                         depth) AS (
        SELECT id, created_at, previous_response_id, chained, deleted, history_json, response_json, 0
        FROM responses WHERE id = :id
        UNION ALL
        SELECT r.id, r.created_at, r.previous_response_id, r.chained, r.deleted, r.history_json, r.response_json,
               c.depth + 1
        FROM responses r JOIN chain c ON r.id = c.previous_response_id
        WHERE c.chained = 1 AND c.depth < :limit
    )
    SELECT id, created_at, previous_response_id, chained, deleted, history_json, response_json
    FROM chain ORDER BY depth
    """
)

# Old responses go unless a kept one continues them, directly or through others. (The CTE sits in the
# subquery: sqlite3 reports no row count for a statement that starts with WITH.)
_SWEEP = text(
    """
    DELETE FROM responses WHERE created_at < :ts AND id NOT IN (
        WITH RECURSIVE needed(id) AS (
            SELECT previous_response_id FROM responses WHERE created_at >= :ts AND chained = 1
            UNION
            SELECT r.previous_response_id FROM responses r JOIN needed n ON r.id = n.id WHERE r.chained = 1
        )
        SELECT id FROM needed
    )
    """
)


class ResponseStore:
    """Synchronous like SqlStore; handlers call it through asyncio.to_thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, response: dict[str, Any], items: list[Any], created_at: float, *, chained: bool = False) -> None:
        """`items`: the whole input history, or with `chained` only what this request added after the
        conversation of its `previous_response_id`."""
        previous = str(response.get("previous_response_id") or "")
        params = {
            "id": response["id"],
            "created_at": created_at,
            "model": str(response.get("model") or ""),
            "status": str(response.get("status") or ""),
            "prev": previous,
            "chained": 1 if chained and previous else 0,
            "history": orjson.dumps(items).decode(),
            "response": orjson.dumps(response).decode(),
        }
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM responses WHERE id = :id"), {"id": params["id"]})
            conn.execute(
                text(
                    "INSERT INTO responses (id, created_at, model, status, previous_response_id, chained, "
                    "history_json, response_json) "
                    "VALUES (:id, :created_at, :model, :status, :prev, :chained, :history, :response)"
                ),
                params,
            )

    def get(self, response_id: str, *, history: bool = True) -> StoredResponse | None:
        """The response and its whole input history; None if unknown or deleted. BrokenChain if an
        earlier response it continues is missing. Without `history` only the response is read (its
        history comes back empty), however long the conversation."""
        with self.engine.connect() as conn:
            rows = conn.execute(_CHAIN, {"id": response_id, "limit": MAX_CHAIN if history else 0}).fetchall()
        if rows and not history:
            row = rows[0]
            return None if row[4] else StoredResponse(row[0], float(row[1]), orjson.loads(row[6]), [])
        if not rows or rows[0][4]:
            return None
        last = rows[-1]
        if last[3] and last[2]:
            raise BrokenChain(
                f"The conversation of response '{response_id}' continues '{last[2]}', which is no longer stored."
            )
        items: list[Any] = []
        for row in reversed(rows[1:]):  # oldest first: each earlier turn's input, then its answer
            items.extend(orjson.loads(row[5]))
            items.extend(orjson.loads(row[6]).get("output") or [])
        items.extend(orjson.loads(rows[0][5]))
        return StoredResponse(rows[0][0], float(rows[0][1]), orjson.loads(rows[0][6]), items)

    def delete(self, response_id: str) -> bool:
        """Delete a response; one that later responses continue is only hidden, for their sake."""
        with self.engine.begin() as conn:
            row = conn.execute(
                text("SELECT deleted, previous_response_id, chained FROM responses WHERE id = :id"),
                {"id": response_id},
            ).fetchone()
            if row is None or row[0]:
                return False
            if _continued(conn, response_id):
                conn.execute(text("UPDATE responses SET deleted = 1 WHERE id = :id"), {"id": response_id})
                return True
            conn.execute(text("DELETE FROM responses WHERE id = :id"), {"id": response_id})
            # Hidden links kept only for this one go with it.
            parent = str(row[1]) if row[2] else ""
            while parent:
                link = conn.execute(
                    text("SELECT deleted, previous_response_id, chained FROM responses WHERE id = :id"),
                    {"id": parent},
                ).fetchone()
                if link is None or not link[0] or _continued(conn, parent):
                    break
                conn.execute(text("DELETE FROM responses WHERE id = :id"), {"id": parent})
                parent = str(link[1]) if link[2] else ""
        return True

    def delete_before(self, ts: float) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(_SWEEP, {"ts": ts})
        return int(result.rowcount or 0)


def _continued(conn: Connection, response_id: str) -> bool:
    found = conn.execute(
        text("SELECT 1 FROM responses WHERE previous_response_id = :id AND chained = 1 LIMIT 1"),
        {"id": response_id},
    ).fetchone()
    return found is not None
