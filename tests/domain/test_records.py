from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from vidconsult.domain.records import ChatMessage, new_attachment
from vidconsult.domain.roles import Role
from vidconsult.errors import InvalidInput, TooLarge

NOW = datetime(2026, 3, 9, 10, tzinfo=ZoneInfo("Asia/Shanghai"))


def attach(filename: str, ctype: str, size: int = 1000, **kw: object) -> object:
    return new_attachment(
        attachment_id="a1",
        case_id="c1",
        filename=filename,
        content_type=ctype,
        size_bytes=size,
        uploaded_by="doc",
        uploaded_at=NOW,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("filename", "ctype"),
    [
        ("ecg.pdf", "application/pdf"),
        ("xray.JPG", "image/jpeg; charset=binary"),
        ("scan.png", "IMAGE/PNG"),
        ("CT0001", "application/dicom"),
        ("ct.dcm", "application/dicom"),
    ],
)
def test_accepted_attachments(filename: str, ctype: str) -> None:
    a = attach(filename, ctype)
    assert a.content_type == ctype.split(";")[0].strip().lower()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("filename", "ctype", "code"),
    [
        ("a.docx", "application/msword", "unsupported_content_type"),
        ("a.html", "text/html", "unsupported_content_type"),
        ("a.exe", "application/pdf", "extension_mismatch"),
        ("../etc/passwd.pdf", "application/pdf", "invalid_input"),
    ],
)
def test_refused_attachments(filename: str, ctype: str, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        attach(filename, ctype)
    assert err.value.code == code


def test_size_limit_is_a_parameter() -> None:
    assert attach("a.pdf", "application/pdf", size=10, max_bytes=10)
    with pytest.raises(TooLarge):
        attach("a.pdf", "application/pdf", size=11, max_bytes=10)
    with pytest.raises(InvalidInput):
        attach("a.pdf", "application/pdf", size=0)


def test_chat_message() -> None:
    msg = ChatMessage("room-1", "doc", Role.DOCTOR, "  BP 90/60\n\tHR 110\n  ", NOW)
    assert msg.text == "BP 90/60\n\tHR 110"
    with pytest.raises(InvalidInput):
        ChatMessage("room-1", "doc", Role.DOCTOR, "   ", NOW)
    with pytest.raises(InvalidInput):
        ChatMessage("room-1", "doc", Role.DOCTOR, "bell\x07", NOW)
    with pytest.raises(TooLarge):
        ChatMessage("room-1", "doc", Role.DOCTOR, "x" * 4001, NOW)
