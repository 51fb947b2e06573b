"""multipart/form-data bodies (file uploads) read into text fields and files, with the stdlib's MIME parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP

from poolgate.errors import invalid


@dataclass(slots=True)
class FormFile:
    name: str
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[FormFile] = field(default_factory=list)

    def files_named(self, *names: str) -> list[FormFile]:
        return [f for f in self.files if f.name in names]


def parse_form(content_type: str, body: bytes) -> Form:
    """Raises a 400 naming the problem when the body is not a form with a boundary."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise invalid("This endpoint takes multipart/form-data (a file upload) with a boundary in Content-Type.")
    # The MIME parser reads a whole message, so the body gets the header that names its boundary.
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise invalid("The multipart body could not be read: check its boundary.")
    form = Form()
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            form.fields[name] = data.decode("utf-8", "replace")
        else:
            form.files.append(FormFile(name, filename, part.get_content_type(), data))
    if not form.fields and not form.files:
        raise invalid("The multipart body holds no fields: check its boundary.")
    return form
