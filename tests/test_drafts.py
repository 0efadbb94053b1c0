"""drafts: the approved text keeps the owner's words and askfirst's Message-ID."""

from __future__ import annotations

from askfirst.drafts import as_approved, reply_criteria

EDITED = (
    b"From: Pat <pat@example.org>\r\nTo: sam@example.net\r\nBcc: someone@example.org,\r\n"
    b" other@example.org\r\nMessage-ID: <new@client>\r\nIn-Reply-To: <invite@net>\r\n"
    b"Subject: Re: hi\r\n\r\nMy own words.\r\n"
)


def test_the_owners_text_goes_out_under_askfirsts_message_id() -> None:
    out = as_approved(EDITED, "<ask-1@example.org>")
    head, _, body = out.partition(b"\r\n\r\n")
    assert body == b"My own words.\r\n"
    assert b"Message-ID: <ask-1@example.org>" in head
    assert b"<new@client>" not in head
    assert b"Bcc" not in head and b"other@example.org" not in head
    assert b"In-Reply-To: <invite@net>" in head and b"Subject: Re: hi" in head


def test_an_edited_copy_is_found_by_its_reply_headers() -> None:
    assert reply_criteria(EDITED, "sam@example.net") == [
        "HEADER",
        "In-Reply-To",
        "<invite@net>",
        "TO",
        "sam@example.net",
    ]
    assert reply_criteria(b"Subject: x\r\n\r\n", "sam@example.net") is None
