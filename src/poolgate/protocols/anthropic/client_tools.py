"""Anthropic-defined client tools (the text editor, bash, memory) as ordinary function declarations.

A request names these by type only (`{"type": "text_editor_20250728", "name":
"str_replace_based_edit_tool"}`); Anthropic supplies the schema and the client runs the tool. Gemini
needs the schema spelled out, so it is written here from Anthropic's documentation of each input.
Calls come back as plain `tool_use` blocks, which is what the client expects of these tools too.
"""

from __future__ import annotations

from typing import Any, Final

from poolgate.hub.types import JSON

_PATH: Final = {"type": "string", "description": "Absolute path of the file or directory."}


def _view_range(description: str) -> JSON:
    return {"type": "array", "items": {"type": "integer"}, "description": description}


_EDITOR_PROPERTIES: Final[dict[str, Any]] = {
    "path": _PATH,
    "file_text": {"type": "string", "description": "create: the whole content of the new file."},
    "old_str": {
        "type": "string",
        "description": "str_replace: text that occurs exactly once in the file, whitespace included.",
    },
    "new_str": {"type": "string", "description": "str_replace: the replacement; insert: the text to insert."},
    "insert_line": {"type": "integer", "description": "insert: the line after which to insert (0: at the top)."},
    "view_range": _view_range("view: first and last line to show, counted from 1; -1 as the last means to the end."),
}

_EDITOR_ABOUT: Final = (
    "View, create and edit text files. view shows a file with line numbers, or lists a directory; create "
    "writes a new file; str_replace replaces one exact, unique occurrence of old_str with new_str; insert "
    "adds new_str after line insert_line."
)


def _editor(commands: tuple[str, ...]) -> JSON:
    about = _EDITOR_ABOUT + (" undo_edit reverts the last edit of the file." if "undo_edit" in commands else "")
    return {
        "description": about,
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string", "enum": list(commands)}, **_EDITOR_PROPERTIES},
            "required": ["command", "path"],
        },
    }


_BASH: Final[JSON] = {
    "description": (
        "Run a command in a persistent bash shell and get its output. State (the working directory, "
        "variables) carries over between calls; restart starts a fresh shell."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "The bash command to run."},
            "restart": {"type": "boolean", "description": "Restart the shell instead of running a command."},
        },
    },
}

_MEMORY: Final[JSON] = {
    "description": (
        "Keep notes across conversations in files under /memories: view a file or directory, create a "
        "file, str_replace a unique text in it, insert insert_text after line insert_line, delete a file "
        "or directory, rename old_path to new_path. Look at /memories before starting a task."
    ),
    "parameters": {
        "type": "object",
        "properties": {
            "command": {
                "type": "string",
                "enum": ["view", "create", "str_replace", "insert", "delete", "rename"],
            },
            "path": {"type": "string", "description": "A path under /memories."},
            "file_text": {"type": "string", "description": "create: the content of the new file."},
            "old_str": {"type": "string", "description": "str_replace: text that occurs exactly once."},
            "new_str": {"type": "string", "description": "str_replace: the replacement."},
            "insert_line": {"type": "integer", "description": "insert: the line after which to insert."},
            "insert_text": {"type": "string", "description": "insert: the text to insert."},
            "old_path": {"type": "string", "description": "rename: the current path."},
            "new_path": {"type": "string", "description": "rename: the new path."},
            "view_range": _view_range("view: first and last line to show."),
        },
        "required": ["command"],
    },
}

_BASE_COMMANDS: Final = ("view", "create", "str_replace", "insert")

# Tool type prefix → its declaration without the name. Older editor versions also had undo_edit.
_KNOWN: Final[dict[str, JSON]] = {
    "text_editor_20241022": _editor((*_BASE_COMMANDS, "undo_edit")),
    "text_editor_20250124": _editor((*_BASE_COMMANDS, "undo_edit")),
    "text_editor_20250429": _editor(_BASE_COMMANDS),
    "text_editor_20250728": _editor(_BASE_COMMANDS),
    "bash_20241022": _BASH,
    "bash_20250124": _BASH,
    "memory_20250818": _MEMORY,
}


def known(kind: object) -> bool:
    """Whether `kind` is an Anthropic-defined client tool type declared here."""
    return isinstance(kind, str) and kind in _KNOWN


def declaration(kind: object, name: str) -> JSON | None:
    """The function declaration for an Anthropic-defined client tool; None for any other type."""
    return {"name": name, **_KNOWN[kind]} if isinstance(kind, str) and kind in _KNOWN else None
